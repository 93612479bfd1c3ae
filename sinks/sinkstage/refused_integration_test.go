//go:build integration

package sinkstage_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// TestIntegrationSinkRefusedRecords: records the broker refuses for good
// (over the topic's max.message.bytes) stop nothing. The delivery log,
// the first retry tier and the delivery deadletter take only small
// records here; a postback whose entries, retry or deadletter are larger
// gets stubs that say so, with the broker's error, and the postbacks
// after it are delivered by the same, still running, stage.
func TestIntegrationSinkRefusedRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Rendered into the URL path and kept in the record; random, so that
	// compression does not shrink it under the limits.
	raw := make([]byte, 6000)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(raw)
	pad := base64.RawURLEncoding.EncodeToString(raw)
	const (
		final = "final" // answers 400 with a long body: a deadletter
		retry = "retry" // answers 503: a retry tier, then the deadletter
	)
	behaviour := make(map[string]string) // postback_id -> final, retry or "" (accepted)
	fp, fpURL := newPartner(t)
	fp.SetFault("adnet", demopartner.Fault{Answer: func(w http.ResponseWriter, r *http.Request, _ int) bool {
		switch behaviour[r.Header.Get("Idempotency-Key")] {
		case final:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(pad[:2000]))
			return true
		case retry:
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}})
	cfg, sc := parseConfig(t, configText(t, brokers, t.TempDir(), fmt.Sprintf(`
allow_private_networks: true
retry: {in_process: {max_attempts: 2, max_wait: 10ms}, tiers: [1s]}
partners:
  - id: adnet
    breaker: {failures: 1000}
    rules: [{types: [install], url: "%s/p/adnet/pb/{param.pad}?id={postback_id}"}]
`, fpURL)))
	// An entry with the long URL is over 1200 bytes, a retry or
	// deadletter with the padded record over 4000; the stubs are under.
	small := map[string]string{
		cfg.Topics.DeliveryLog:              "1200",
		cfg.Topics.DeliveryDeadletter:       "4000",
		sinkstage.RetryTopic(cfg.Topics, 0): "4000",
	}
	specs, err := stage.Topics(pipeline.Topology(cfg, &sc))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		if v, ok := small[s.Name]; ok {
			specs[i].Config = map[string]string{"max.message.bytes": v}
		}
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers}, specs...); err != nil {
		t.Fatal(err)
	}

	var recs []schemas.Classified
	add := func(id, how string, padded bool) schemas.Classified {
		r := install(id, "adnet")
		if padded {
			r.Params = map[string]string{"pad": pad}
		}
		behaviour[r.PostbackID] = how
		recs = append(recs, r)
		return r
	}
	before := add("refused-ok-1", "", false)
	bigFinal := add("refused-final", final, true)
	bigRetry := add("refused-retry", retry, true)
	after := add("refused-ok-2", "", true) // its entry is refused, its delivery fine
	produceClassified(t, ctx, newProducer(t, brokers), cfg.Topics.Classified, recs)

	// The stage runs until the test ends; if it stops, every wait below
	// ends with it.
	env := stage.Env{Config: cfg, Producer: newProducer(t, brokers), Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("sink")}
	st, err := sinkstage.New(env, sc)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		err := st.Run(runCtx)
		if runCtx.Err() == nil {
			t.Errorf("sink stage stopped: %v", err)
			cancel()
		}
		stopped <- err
	}()
	defer func() { stop(); <-stopped }()

	// Both refused postbacks end as stub deadletters.
	dead := readTopic(t, ctx, brokers, cfg.Topics.DeliveryDeadletter, atLeast(2))
	got := make(map[string]deadLetter)
	trimmed := make(map[string]bool)
	for i, d := range decodeDeadLetters(t, dead) {
		got[d.Record.PostbackID] = d
		var v struct {
			Trimmed bool `json:"trimmed"`
		}
		if err := json.Unmarshal(dead[i].Value, &v); err != nil {
			t.Fatal(err)
		}
		trimmed[d.Record.PostbackID] = v.Trimmed
	}
	for _, c := range []struct {
		rec  schemas.Classified
		want string
	}{
		{bigFinal, "status 400"},
		{bigRetry, "retry refused by the broker"},
	} {
		d, ok := got[c.rec.PostbackID]
		if !ok {
			t.Errorf("%s: no deadletter; got %+v", c.rec.EventID, got)
			continue
		}
		if !strings.Contains(d.Reason, c.want) || !strings.Contains(d.Reason, "full deadletter refused by the broker") ||
			!strings.Contains(d.Reason, "Message Size Too Large") {
			t.Errorf("%s: deadletter reason %q, want %q and the broker's refusal", c.rec.EventID, d.Reason, c.want)
		}
		if d.Header != d.Reason {
			t.Errorf("%s: reason header %q, body %q", c.rec.EventID, d.Header, d.Reason)
		}
		if !trimmed[c.rec.PostbackID] || d.Record.EventID != c.rec.EventID || d.Record.DeviceID != c.rec.DeviceID ||
			len(d.Record.Params) != 0 || d.Partner != "adnet" {
			t.Errorf("%s: deadletter %+v (trimmed %v), want a trimmed stub: the record's identity without its params",
				c.rec.EventID, d.Job, trimmed[c.rec.PostbackID])
		}
	}
	// The delivery log has each postback's outcome, as a stub when the
	// whole entry was refused.
	last := make(map[string]partner.DeliveryLogEntry)
	readTopic(t, ctx, brokers, cfg.Topics.DeliveryLog, func(m kafka.Message) bool {
		var e partner.DeliveryLogEntry
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("delivery log %q: %v", m.Value, err)
		}
		if e.Outcome != partner.OutcomeRetrying {
			last[e.PostbackID+"/"+e.Outcome] = e
		}
		return len(last) >= 5
	})
	for key, stub := range map[string]bool{
		before.PostbackID + "/" + partner.OutcomeDelivered:        false,
		after.PostbackID + "/" + partner.OutcomeDelivered:         true,
		bigFinal.PostbackID + "/" + partner.OutcomeDeadLettered:   true,
		bigRetry.PostbackID + "/" + partner.OutcomeRetryScheduled: true,
		bigRetry.PostbackID + "/" + partner.OutcomeDeadLettered:   false, // the retry's refusal, logged by the stage
	} {
		e, ok := last[key]
		switch {
		case !ok:
			t.Errorf("%s: no entry in the delivery log; got %v", key, slices.Collect(maps.Keys(last)))
		case stub && (e.URL != "" || e.Response != "" || !strings.Contains(e.Error, "refused by the broker")):
			t.Errorf("%s: entry %+v, want a stub with the broker's refusal", key, e)
		case !stub && e.Outcome == partner.OutcomeDelivered && (e.URL == "" || e.Error != ""):
			t.Errorf("%s: entry %+v, want the whole entry", key, e)
		case !stub && e.Outcome == partner.OutcomeDeadLettered && !strings.Contains(e.Error, "retry refused by the broker"):
			t.Errorf("%s: entry %+v, want the retry's refusal", key, e)
		}
	}
	// The postbacks around them were delivered, once, by the same stage.
	_, accepted := counts(fp, "adnet")
	for _, r := range []schemas.Classified{before, after} {
		if accepted[r.PostbackID] != 1 {
			t.Errorf("%s accepted %d times, want 1", r.EventID, accepted[r.PostbackID])
		}
	}
}
