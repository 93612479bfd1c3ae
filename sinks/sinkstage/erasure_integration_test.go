//go:build integration

package sinkstage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// TestIntegrationSinkErasures: the sink's side of an erasure. POST
// /v1/erasures (behind the token) checks the request and puts it on
// privacy.requests, pending; once the audit record of a processed request
// is on privacy.audit, GET says done and the same request again answers
// the first one's status. Postbacks of the erased device that arrived
// before the request are skipped_erased and never sent; one that arrived
// after it (the device's next install) is sent, and so are other devices'.
func TestIntegrationSinkErasures(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dp, url := newPartner(t)
	cfg, sc := parseConfig(t, configText(t, brokers, t.TempDir(), fmt.Sprintf(`
allow_private_networks: true
partners:
  - id: p
    rules: [{types: [install], mode: all, url: "%s/pp?id={postback_id}&device={device_id}"}]
`, url)))
	ensureTopics(t, ctx, cfg, sc)
	p := newProducer(t, brokers)
	env := stage.Env{Config: cfg, Producer: p}
	st, err := sinkstage.New(env, sc)
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(st.AdminHandler("t0ken"))
	defer admin.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx) }()
	defer func() { stop(); <-done }()

	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return res.StatusCode, out
	}
	if code, _ := call("POST", "/v1/erasures", "", `{"app_id":"app.test","device_id":"gone"}`); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, out := call("POST", "/v1/erasures", "t0ken", `{"app_id":"app.test","device_id":"gone","user_id":"u"}`); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "user_id") {
		t.Errorf("two ids: %d %v", code, out)
	}
	code, out := call("POST", "/v1/erasures", "t0ken", `{"request_id":"req-1","app_id":"app.test","device_id":"gone"}`)
	if code != http.StatusAccepted || out["status"] != "pending" || out["request_id"] != "req-1" {
		t.Fatalf("erasure request: %d %v", code, out)
	}
	reqs := readTopic(t, ctx, brokers, cfg.Topics.PrivacyRequests, atLeast(1))
	var sent schemas.ErasureRequest
	if err := json.Unmarshal(reqs[0].Value, &sent); err != nil || sent.RequestID != "req-1" || sent.DeviceID != "gone" || string(reqs[0].Key) != "gone" {
		t.Fatalf("privacy.requests got %s (key %s): %v", reqs[0].Value, reqs[0].Key, err)
	}
	if code, out := call("GET", "/v1/erasures/req-1", "t0ken", ""); code != http.StatusOK || out["status"] != "pending" {
		t.Errorf("status before the audit: %d %v", code, out)
	}
	if code, _ := call("GET", "/v1/erasures/nope", "t0ken", ""); code != http.StatusNotFound {
		t.Errorf("unknown request: %d", code)
	}

	// The device stage's audit record, as it writes it: the request
	// arrived at erasedAt.
	erasedAt := time.Now().UTC().Truncate(time.Millisecond)
	audit, _ := json.Marshal(schemas.ErasureAudit{RequestID: "req-1", AppID: "app.test", Kind: schemas.ErasureDevice,
		IDSHA256: schemas.ErasedIDHash("app.test", schemas.ErasureDevice, "gone"), RequestedAt: erasedAt,
		CompletedAt: erasedAt.Add(time.Second), Erased: map[string]int{"device": 1}})
	if err := p.Produce(ctx, kafka.Message{Topic: cfg.Topics.PrivacyAudit, Key: []byte("req-1"), Value: audit}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the audit record read", func() bool {
		_, out := call("GET", "/v1/erasures/req-1", "t0ken", "")
		return out["status"] == "done"
	})
	if code, out := call("POST", "/v1/erasures", "t0ken", `{"request_id":"req-1","app_id":"app.test","device_id":"gone"}`); code != http.StatusOK || out["status"] != "done" ||
		fmt.Sprint(out["erased"]) != "map[device:1]" {
		t.Errorf("the same request again: %d %v, want the first one's status", code, out)
	}

	// Postbacks: the erased device's, arrived before and after the
	// request, and another device's.
	rec := func(event, device string) schemas.Classified {
		r := install(event, "p")
		r.DeviceID = device
		r.PostbackID = event
		return r
	}
	msg := func(r schemas.Classified, arrival time.Time) kafka.Message {
		m := kafka.Message{Topic: cfg.Topics.Classified, Key: []byte(r.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &r)}
		stage.AppendArrivalHeader(&m, arrival)
		return m
	}
	before, after, other := rec("before", "gone"), rec("after", "gone"), rec("other", "stays")
	if err := p.Produce(ctx, msg(before, erasedAt.Add(-time.Minute)), msg(other, erasedAt.Add(-time.Minute)), msg(after, erasedAt.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]string{}
	readTopic(t, ctx, brokers, cfg.Topics.DeliveryLog, func(m kafka.Message) bool {
		var e partnerEntry
		if json.Unmarshal(m.Value, &e) == nil {
			outcomes[e.PostbackID] = e.Outcome
		}
		return len(outcomes) >= 3
	})
	want := map[string]string{"before": schemas.OutcomeSkippedErased, "after": schemas.OutcomeDelivered, "other": schemas.OutcomeDelivered}
	for id, o := range want {
		if outcomes[id] != o {
			t.Errorf("%s: %s, want %s", id, outcomes[id], o)
		}
	}
	if hits, _ := counts(dp, "pp"); hits["before"] != 0 || hits["after"] != 1 || hits["other"] != 1 {
		t.Errorf("partner calls %v: the erased device's earlier postback must not be sent", hits)
	}
}

type partnerEntry struct {
	PostbackID string `json:"postback_id"`
	Outcome    string `json:"outcome"`
}
