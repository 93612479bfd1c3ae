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

// TestIntegrationDeliveryDelay: a partner with `delay` gets no postback
// before its event's arrival (the postbackd-arrival header) + the delay,
// and a partner next to it without one, or with the longest delay, is not
// held up by it: the undelayed partner gets every postback while the one
// delayed by 10 minutes has got none.
func TestIntegrationDeliveryDelay(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dp, url := newPartner(t)
	const delay = 3 * time.Second
	cfg, sc := parseConfig(t, configText(t, brokers, t.TempDir(), fmt.Sprintf(`
allow_private_networks: true
partners:
  - id: now
    rules: [{types: [install], mode: all, url: "%[1]s/p/now/pb?id={postback_id}"}]
  - id: later
    delay: %[2]v
    rules: [{types: [install], mode: all, url: "%[1]s/p/later/pb?id={postback_id}"}]
  - id: much-later
    delay: 10m
    rules: [{types: [install], mode: all, url: "%[1]s/p/much-later/pb?id={postback_id}"}]
`, url, delay)))
	ensureTopics(t, ctx, cfg, sc)
	startStage(t, cfg, sc, stream.ConsumerConfig{}, nil)

	const n = 20
	arrival := map[string]time.Time{}
	var msgs []kafka.Message
	for i := range n {
		r := install(fmt.Sprintf("delay-%d-%d", time.Now().UnixNano(), i), "now")
		m := kafka.Message{Topic: cfg.Topics.Classified, Key: []byte(r.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &r)}
		at := time.Now()
		stage.AppendArrivalHeader(&m, at)
		arrival[r.PostbackID] = time.UnixMilli(at.UnixMilli())
		msgs = append(msgs, m)
	}
	if err := newProducer(t, brokers).Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 30*time.Second, "every postback to the undelayed partner", func() bool { return acceptedCount(dp, "now") == n })
	if got := acceptedCount(dp, "much-later"); got != 0 {
		t.Errorf("the partner delayed by 10 minutes got %d postbacks already", got)
	}
	waitFor(t, 30*time.Second, "every postback to the delayed partner", func() bool { return acceptedCount(dp, "later") == n })
	for _, r := range dp.Requests() {
		if r.Partner != "later" {
			continue
		}
		due := arrival[r.IdempotencyKey].Add(delay)
		if r.At.Before(due) {
			t.Errorf("%s sent at %v, %v before its arrival + delay", r.IdempotencyKey, r.At.Format(time.RFC3339Nano), due.Sub(r.At))
		}
	}
}
