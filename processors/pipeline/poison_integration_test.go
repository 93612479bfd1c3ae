//go:build integration

package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// TestIntegrationPoisonRecords: the records of issue 10 that stopped every
// stage for good (a 400 KB event whose name holds invalid UTF-8, which
// normalize used to grow past the broker's limit) reach the deadletter and
// the stream goes on, even on a deadletter topic whose max.message.bytes
// (20,000) is below what the stages may write: the broker refuses the
// full deadletter record, and a stub with the first KiB goes instead. The
// valid records around them are classified and no stage stops. The names
// are random text, so that compression cannot bring the deadletter
// records under the topic's limit.
func TestIntegrationPoisonRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := testConfig(t, brokers)
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: cfg.Topics.Deadletter, NumPartitions: cfg.Kafka.Partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "20000"}},
	}}})
	if err != nil || res.Errors[cfg.Topics.Deadletter] != nil {
		t.Fatalf("create deadletter topic: %v %v", err, res.Errors)
	}
	stages := startStages(t, ctx, cancel, cfg)
	defer stages.stop()

	event := func(id, typ, name string) []byte {
		v := fmt.Sprintf(`{"kind":"event","event_id":%q,"app_id":"app","platform":"android","device_id":"dev-a","type":%q,"ts":"2026-03-01T10:0%d:00Z"`, id, typ, len(id)%10)
		if name != "" {
			v += `,"name":"` + name + `"`
		}
		return []byte(v + "}")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	invalid := func(n int) string { // random letters, then one byte that is not UTF-8
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rng.IntN(62)]
		}
		return string(append(b, 0xff))
	}
	raw := cfg.Topics.RawEvents
	msgs := []kafka.Message{
		{Topic: raw, Key: []byte("dev-a"), Value: event("e1", "install", "")},
		{Topic: raw, Key: []byte("dev-a"), Value: event("e-big", "custom_event", invalid(400<<10))},
		{Topic: raw, Key: []byte("dev-a"), Value: event("e-mid", "custom_event", invalid(60_000))},
		{Topic: raw, Key: []byte("dev-a"), Value: event("e2", "login", "")},
	}
	// The raw topic takes them: its limit is the broker's, 1 MiB.
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers, BatchBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var reasons []string
	readUntil(t, ctx, brokers, cfg.Topics.Deadletter, stages.progress, func(ms []kafka.Message) bool {
		var body struct {
			Reason string `json:"reason"`
			Raw    string `json:"raw"`
		}
		if err := json.Unmarshal(ms[len(ms)-1].Value, &body); err != nil {
			t.Fatalf("deadletter record: %v", err)
		}
		reasons = append(reasons, body.Reason)
		return len(reasons) >= 2
	})
	for _, r := range reasons {
		if !strings.Contains(r, "refused too") {
			t.Errorf("deadletter reason %q: want the stub's", r)
		}
	}
	if !strings.Contains(reasons[0], "max_record_bytes") || !strings.Contains(strings.ToLower(reasons[1]), "utf-8") {
		t.Errorf("reasons %q: want the size, then the invalid text", reasons)
	}
	want := map[string]bool{"e1:install": true, "e2:first_login": true, "e2:login": true, "e2:login_ca": true}
	values := readUntil(t, ctx, brokers, cfg.Topics.Classified, stages.progress, testkit.AtLeast(len(want)))
	for _, m := range values {
		v := m.Value
		var c struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		}
		if err := json.Unmarshal(v, &c); err != nil {
			t.Fatal(err)
		}
		if !want[c.EventID+":"+c.Type] {
			t.Errorf("unexpected classified record %s", v)
		}
		delete(want, c.EventID+":"+c.Type)
	}
	if len(want) > 0 {
		t.Errorf("valid records not classified: %v", want)
	}
}
