package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// marksKey is the stage package's (unexported there): the store key
// of a partition's source marks, "Stage keys begin with an app id, never
// with NUL".
const marksKey = "\x00postbackd/source-marks"

// TestStageKeyCannotBeTheMarksKey: a device state key is app_id +
// NUL + device_id, so an event with an empty app_id and device_id
// "postbackd/source-marks" has the marks key. normalize refuses an empty
// app_id, but the device stage does not check what it reads from
// events.by-device (any client can write there: records without a source
// header are always kept). Such a record reads the marks as its device
// state (an error that stops the stage, on every restart), or writes its
// state over the marks. One record on an internal topic must not do
// either.
func TestStageKeyCannotBeTheMarksKey(t *testing.T) {
	st := state.NewMemory()
	var b state.Batch
	b.Set([]byte(marksKey), []byte{1, 1, 3, 0, 'u', 'p', 5, 0}) // marks: up/0 at (5, 0)
	if err := st.Apply(&b); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	l := &deviceLogic{classifier: classify.NewDevice(Windows(cfg)), deadLetters: deadLetters{enc: newClassifiedEncoder(false, 1<<20), topic: "dl"},
		classified: "classified", byUser: "by-user"}
	e := schemas.Event{EventID: "e1", AppID: "", Platform: "android", DeviceID: "postbackd/source-marks", Type: "install",
		TS: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	v, err := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Process(context.Background(), stage.Input{Store: st, Topic: "by-device", Messages: []kafka.Message{{Topic: "by-device", Value: v}}})
	if err != nil {
		t.Fatalf("one record on events.by-device stops the device stage: %v", err)
	}
	for _, w := range res.Writes {
		if string(w.Key) == marksKey {
			t.Fatalf("the device stage writes its state over the source marks")
		}
	}
}
