//go:build integration

package sinkstage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// TestIntegrationSSRFRefused: without allow_private_networks, a rule
// pointing at loopback and one at the cloud metadata address are refused at
// dial time, once (a refusal is final), nothing reaches the loopback
// server, and each record lands on the delivery deadletter with the reason.
func TestIntegrationSSRFRefused(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loop, loopURL := newPartner(t)
	cfg, sc := parseConfig(t, configText(t, brokers, t.TempDir(), fmt.Sprintf(`
retry: {in_process: {max_attempts: 3, max_wait: 100ms}, tiers: [1s]}
partners:
  - id: loop
    rules: [{types: [install], url: "http://%s/pb?id={postback_id}"}]
  - id: metadata
    rules: [{types: [install], url: "http://169.254.169.254/latest/meta-data/?id={postback_id}"}]
`, strings.TrimPrefix(loopURL, "http://"))))
	ensureTopics(t, ctx, cfg, sc)
	const n = 5
	var recs []schemas.Classified
	want := make(map[string]string) // postback_id -> partner
	for i := range n {
		for _, p := range []string{"loop", "metadata"} {
			r := install(fmt.Sprintf("ssrf-%s-%d", p, i), p)
			recs = append(recs, r)
			want[r.PostbackID] = p
		}
	}
	produceClassified(t, ctx, newProducer(t, brokers), cfg.Topics.Classified, recs)
	startStage(t, cfg, sc, stream.ConsumerConfig{}, nil)

	readTopic(t, ctx, brokers, cfg.Topics.DeliveryDeadletter, atLeast(len(want)))
	time.Sleep(time.Second) // anything extra would show now
	dead := decodeDeadLetters(t, readTopic(t, ctx, brokers, cfg.Topics.DeliveryDeadletter, nil))
	if len(dead) != len(want) {
		t.Errorf("%d deadletters, want %d", len(dead), len(want))
	}
	for _, d := range dead {
		p, ok := want[d.Record.PostbackID]
		if !ok || d.Partner != p {
			t.Errorf("deadletter for %s/%s, not a record of the test", d.Partner, d.Record.PostbackID)
			continue
		}
		delete(want, d.Record.PostbackID)
		wantWhy := map[string]string{"loop": "loopback address 127.0.0.1", "metadata": "link-local address 169.254.169.254"}[p]
		if !strings.Contains(d.Reason, "endpoint address not allowed") || !strings.Contains(d.Reason, wantWhy) {
			t.Errorf("%s: deadletter reason %q, want the SSRF refusal (%s)", p, d.Reason, wantWhy)
		}
		if d.Header != d.Reason {
			t.Errorf("%s: reason header %q, body reason %q", p, d.Header, d.Reason)
		}
		if d.Attempt != 1 || d.Tier != 0 {
			t.Errorf("%s: deadlettered after %d tries and %d tiers, want 1 try and no tier (refusals are final)", p, d.Attempt, d.Tier)
		}
	}
	if len(want) > 0 {
		t.Errorf("%d records never deadlettered: %v", len(want), want)
	}
	if h := loop.Stats().Total.Received; h != 0 {
		t.Errorf("the loopback server got %d requests, want none", h)
	}
}

// TestIntegrationRetryTiersThroughKafka: a postback that fails its
// in-process tries goes to retry tier 1 (a Kafka topic), comes back after
// the tier's delay, fails again to tier 2, and is delivered from there,
// once.
func TestIntegrationRetryTiersThroughKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const inProcess = 3
	// Fails two rounds of in-process tries, then accepts.
	fp, fpURL := newPartner(t)
	fp.SetFault("flaky", demopartner.Fault{Answer: func(w http.ResponseWriter, _ *http.Request, attempt int) bool {
		if attempt > 2*inProcess {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}})
	tiers := []time.Duration{time.Second, 2 * time.Second}
	cfg, sc := parseConfig(t, configText(t, brokers, t.TempDir(), fmt.Sprintf(`
allow_private_networks: true
retry: {in_process: {max_attempts: %d, max_wait: 100ms}, tiers: [%v, %v]}
partners:
  - id: flaky
    breaker: {failures: 1000}
    rules: [{types: [install], url: "%s/p/flaky/pb?id={postback_id}"}]
`, inProcess, tiers[0], tiers[1], fpURL)))
	ensureTopics(t, ctx, cfg, sc)
	const n = 3
	var recs []schemas.Classified
	for i := range n {
		recs = append(recs, install(fmt.Sprintf("tiers-%d", i), "flaky"))
	}
	produceClassified(t, ctx, newProducer(t, brokers), cfg.Topics.Classified, recs)
	startStage(t, cfg, sc, stream.ConsumerConfig{}, nil)

	waitFor(t, 40*time.Second, "deliveries from tier 2", func() bool { return acceptedCount(fp, "flaky") == n })
	time.Sleep(500 * time.Millisecond)
	hits, accepted := counts(fp, "flaky")
	times := make(map[string][]time.Time) // postback_id -> when each try arrived
	for _, r := range fp.Requests() {
		times[r.IdempotencyKey] = append(times[r.IdempotencyKey], r.At)
	}
	for _, ts := range times {
		slices.SortFunc(ts, time.Time.Compare)
	}
	for _, r := range recs {
		id := r.PostbackID
		if hits[id] != 2*inProcess+1 || accepted[id] != 1 {
			t.Errorf("%s: %d requests, %d accepted; want %d and 1", id, hits[id], accepted[id], 2*inProcess+1)
			continue
		}
		ts := times[id]
		// The gaps after each round of in-process tries are the tiers'
		// delays, waited out by the stage reading the tier topic.
		for round, d := range tiers {
			last, next := ts[(round+1)*inProcess-1], ts[(round+1)*inProcess]
			if gap := next.Sub(last); gap < d-50*time.Millisecond {
				t.Errorf("%s: tier %d retry came %v after the failed try, want at least %v", id, round+1, gap, d)
			}
		}
		for i := 1; i < inProcess; i++ {
			if gap := ts[i].Sub(ts[i-1]); gap > 900*time.Millisecond {
				t.Errorf("%s: in-process retry %d came %v after the previous try", id, i, gap)
			}
		}
	}
	// Each tier topic carried each postback once, on the partition its
	// classified record was on.
	for tier := range tiers {
		msgs := readTopic(t, ctx, brokers, sinkstage.RetryTopic(cfg.Topics, tier), atLeast(n))
		seen := make(map[string]int)
		for _, m := range msgs {
			var j partner.Job
			if err := json.Unmarshal(m.Value, &j); err != nil {
				t.Fatalf("tier %d record %q: %v", tier+1, m.Value, err)
			}
			seen[j.Record.PostbackID]++
			if j.Partner != "flaky" || j.Tier != tier+1 || j.Attempt != (tier+1)*inProcess || j.Due.IsZero() {
				t.Errorf("tier %d job: partner %q tier %d attempt %d due %v", tier+1, j.Partner, j.Tier, j.Attempt, j.Due)
			}
			if string(m.Key) != j.Record.PostbackID {
				t.Errorf("tier %d record keyed %q, want the postback_id %s", tier+1, m.Key, j.Record.PostbackID)
			}
		}
		for _, r := range recs {
			if seen[r.PostbackID] != 1 {
				t.Errorf("tier %d topic has postback %s %d times, want 1", tier+1, r.PostbackID, seen[r.PostbackID])
			}
		}
	}
	// The delivery log has every try.
	entries := decodeLog(t, readTopic(t, ctx, brokers, cfg.Topics.DeliveryLog, triesAtLeast(n*(2*inProcess+1))))
	perID := make(map[string][]partner.DeliveryLogEntry)
	for _, e := range entries {
		if e.Attempt > 0 {
			perID[e.PostbackID] = append(perID[e.PostbackID], e)
		}
	}
	for _, r := range recs {
		es := perID[r.PostbackID]
		if len(es) != 2*inProcess+1 {
			t.Errorf("%s: %d tries in the delivery log, want %d", r.PostbackID, len(es), 2*inProcess+1)
			continue
		}
		outcomes := make(map[string]int)
		for _, e := range es {
			outcomes[e.Outcome]++
		}
		if outcomes[partner.OutcomeRetryScheduled] != 2 || outcomes[partner.OutcomeDelivered] != 1 || outcomes[partner.OutcomeRetrying] != 2*(inProcess-1) {
			t.Errorf("%s: outcomes %v", r.PostbackID, outcomes)
		}
	}
}
