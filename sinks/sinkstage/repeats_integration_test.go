//go:build integration

package sinkstage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// TestIntegrationSinkSkipsRepeatsByPosition: a classified record the
// device stage wrote again after a crash carries the same source position
// as the first copy, and the sink drops it before it reaches the
// partner's rules, by that position alone: here the repeats even carry
// other postback_ids, which the dedup by id could not catch. Records
// without a position (written by another tool) are delivered as before.
func TestIntegrationSinkSkipsRepeatsByPosition(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fp, fpURL := newPartner(t)
	cfg, sc := parseConfig(t, configText(t, brokers, t.TempDir(), fmt.Sprintf(`
allow_private_networks: true
partners:
  - id: p
    rules: [{types: [install], url: "%s/p/p/pb?id={postback_id}"}]
`, fpURL)))
	ensureTopics(t, ctx, cfg, sc)

	// All on one partition, as one device stage partition's outputs to one
	// classified partition are.
	const n = 20
	var msgs []kafka.Message
	add := func(eventID string, offset int64, stamped bool) {
		r := install(eventID, "p")
		m := stream.AtPartition(kafka.Message{Topic: cfg.Topics.Classified, Key: []byte(r.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &r)}, 0)
		if stamped {
			stage.StampSource(&m, &kafka.Message{Topic: "events.by-device", Partition: 3, Offset: offset}, 0, nil)
		}
		msgs = append(msgs, m)
	}
	for i := range n {
		add(fmt.Sprintf("first-%d", i), int64(i), true)
	}
	for i := range n / 2 {
		add(fmt.Sprintf("repeat-%d", i), int64(n/2+i), true) // positions already applied
	}
	add("foreign", 0, false)
	add("next", n, true)
	p := newProducer(t, brokers)
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	startStage(t, cfg, sc, stream.ConsumerConfig{}, nil)

	waitFor(t, 60*time.Second, "the first records, the foreign one and the next", func() bool { return acceptedCount(fp, "p") >= n+2 })
	time.Sleep(2 * time.Second) // a repeat delivered late would show now
	_, accepted := counts(fp, "p")
	for i := range n / 2 {
		if id := install(fmt.Sprintf("repeat-%d", i), "p").PostbackID; accepted[id] > 0 {
			t.Errorf("repeat %d was delivered", i)
		}
	}
	for _, e := range []string{"foreign", "next", "first-0", fmt.Sprintf("first-%d", n-1)} {
		if accepted[install(e, "p").PostbackID] != 1 {
			t.Errorf("%s delivered %d times, want 1", e, accepted[install(e, "p").PostbackID])
		}
	}
	if len(accepted) != n+2 {
		t.Errorf("%d postbacks delivered, want %d", len(accepted), n+2)
	}
}
