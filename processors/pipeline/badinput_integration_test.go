//go:build integration

package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// TestIntegrationBadInputGoesToDeadletter: garbage bytes, wrong JSON,
// wrong Avro and missing fields on the raw topics all reach the deadletter
// topic with a reason, and every valid record around them is classified.
func TestIntegrationBadInputGoesToDeadletter(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	// No deadline for the run: every wait below gives up only when nothing
	// moved for stallLimit.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := testConfig(t, brokers)
	stages := startStages(t, ctx, cancel, cfg)
	defer stages.stop()

	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	avroInstall, err := schemas.EncodeInput(nil, &schemas.Input{Event: &schemas.Event{
		EventID: "e-avro", AppID: "app", Platform: schemas.PlatformIOS, DeviceID: "dev-b", Type: schemas.EventInstall, TS: ts,
	}})
	if err != nil {
		t.Fatal(err)
	}
	raw := cfg.Topics.RawEvents
	msgs := []kafka.Message{
		{Topic: raw, Key: []byte("dev-a"), Value: []byte(`{"kind":"event","event_id":"e1","app_id":"app","platform":"android","device_id":"dev-a","type":"install","ts":"2026-03-01T10:00:00Z"}`)},
		{Topic: raw, Key: []byte("dev-a"), Value: []byte("\x00\x01\x02garbage bytes")},
		{Topic: raw, Key: []byte("dev-a"), Value: []byte(`{"kind":"event","event_id":`)},
		{Topic: raw, Key: []byte("dev-b"), Value: avroInstall},
		{Topic: raw, Key: []byte("dev-b"), Value: avroInstall[:len(avroInstall)-6]},
		{Topic: raw, Key: []byte("dev-a"), Value: []byte(`{"kind":"event","app_id":"app","platform":"android","device_id":"dev-a","type":"login","ts":"2026-03-01T10:02:00Z"}`)},
		{Topic: raw, Key: []byte("dev-a"), Value: []byte(`{"kind":"event","event_id":"e2","app_id":"app","platform":"android","device_id":"dev-a","type":"login","ts":"2026-03-01T10:03:00Z"}`)},
		{Topic: cfg.Topics.RawClicks, Key: []byte("dev-c"), Value: []byte(`{"kind":"click","click_id":"c1","partner":"adnet","app_id":"app","device_id":"dev-c","ts":"2026-03-01T09:00:00Z"}`)},
	}
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	const wantRejects = 4
	var reasons []string
	readUntil(t, ctx, brokers, cfg.Topics.Deadletter, stages.progress, func(ms []kafka.Message) bool {
		m := ms[len(ms)-1]
		reason := ""
		for _, h := range m.Headers {
			if h.Key == pipeline.HeaderRejectReason {
				reason = string(h.Value)
			}
		}
		var body struct {
			Reason string `json:"reason"`
			Raw    string `json:"raw"`
		}
		if err := json.Unmarshal(m.Value, &body); err != nil || body.Reason == "" || body.Reason != reason || body.Raw == "" {
			t.Errorf("deadletter record must carry the reason in header and value and the raw bytes: %q (%v)", m.Value, err)
		}
		reasons = append(reasons, reason)
		return len(reasons) >= wantRejects
	})
	t.Logf("rejected: %q", reasons)
	if len(reasons) != wantRejects {
		t.Fatalf("%d records on the deadletter topic, want %d", len(reasons), wantRejects)
	}

	wantTypes := map[string]string{"e1:install": "", "e-avro:install": "", "e2:first_login": "", "e2:login": "", "e2:login_ca": ""}
	values := readUntil(t, ctx, brokers, cfg.Topics.Classified, stages.progress, testkit.AtLeast(len(wantTypes)))
	for _, m := range values {
		v := m.Value
		var c struct{ EventID, Type string }
		var line struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		}
		if err := json.Unmarshal(v, &line); err != nil {
			t.Fatal(err)
		}
		c.EventID, c.Type = line.EventID, line.Type
		if _, ok := wantTypes[c.EventID+":"+c.Type]; !ok {
			t.Errorf("unexpected classified record %s", v)
		}
		delete(wantTypes, c.EventID+":"+c.Type)
	}
	if len(wantTypes) > 0 {
		t.Errorf("valid records not classified: %v", wantTypes)
	}
}
