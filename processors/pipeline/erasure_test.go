package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// TestUserErasureCopies: a user's erasure comes to the user stage once per
// events.by-device partition. A partition behind the others forwards the
// user's earlier event after the first copy: the next copy erases what it
// brought back, and the request is audited once. The same request_id sent
// again (another position on privacy.requests) erases nothing more.
func TestUserErasureCopies(t *testing.T) {
	cfg := config.Default()
	dl := deadLetters{enc: encoder(cfg, nil), topic: "dl"}
	l := &userLogic{classifier: classify.NewUser(nil), deadLetters: dl, classified: "classified",
		eraser: &eraser{stage: User, kind: schemas.ErasureUser, audit: "audit", deadLetters: dl}}
	st := state.NewMemory()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	erasure := func(copyID string) kafka.Message {
		v, _ := json.Marshal(schemas.ErasureRequest{RequestID: "q1", AppID: "app", UserID: "U", RequestedAt: at})
		return kafka.Message{Key: []byte("U"), Value: v, Headers: []kafka.Header{
			{Key: schemas.ErasureHeader, Value: []byte(schemas.ErasureUser)}, {Key: schemas.ErasureCopyHeader, Value: []byte(copyID)}}}
	}
	event := func(user string, ts time.Time) kafka.Message {
		v, err := schemas.EncodeUserEvent(nil, &schemas.UserEvent{Event: schemas.Event{EventID: "e-" + user + ts.String(), AppID: "app",
			Platform: "android", DeviceID: "d", UserID: user, Type: "login", TS: ts}})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Key: []byte(user), Value: v}
	}
	run := func(msgs ...kafka.Message) (audits int) {
		t.Helper()
		res, err := l.Process(context.Background(), stage.Input{Store: st, Topic: "events.by-user", Messages: msgs})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Outputs) != len(res.Sources) {
			t.Fatalf("%d outputs, %d sources", len(res.Outputs), len(res.Sources))
		}
		if err := st.Apply(&state.Batch{Writes: res.Writes}); err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Outputs {
			if o.Topic == "audit" {
				audits++
			}
		}
		return audits
	}
	has := func(user string) bool {
		_, err := st.Get([]byte("app\x00" + user))
		return !errors.Is(err, state.ErrNotFound)
	}
	run(event("U", at.Add(-time.Hour)), event("V", at.Add(-time.Hour)))
	if n := run(erasure("requests/0/5")); n != 1 || has("U") || !has("V") {
		t.Fatalf("first copy: %d audits, U there %v, V there %v", n, has("U"), has("V"))
	}
	run(event("U", at.Add(-time.Minute))) // from the partition behind
	if !has("U") {
		t.Fatal("the late event should have brought U back, for the next copy to erase")
	}
	if n := run(erasure("requests/0/5")); n != 0 || has("U") || !has("V") {
		t.Errorf("second copy: %d audits (want none), U there %v (want erased), V there %v", n, has("U"), has("V"))
	}
	// After the request: U is new; the same request_id sent again erases
	// nothing more and writes no audit.
	run(event("U", at.Add(time.Hour)))
	if n := run(erasure("requests/0/9")); n != 0 || !has("U") {
		t.Errorf("request sent again: %d audits, U there %v; want none and U kept", n, has("U"))
	}
}
