//go:build integration

package sinkstage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

const testPartitions = 4

// configText is a whole configuration file with topics and groups of its
// own (so tests never see each other's records) and the given sink section,
// whose lines are indented under `sink:`.
func configText(t testing.TB, brokers []string, stateDir, sink string) string {
	t.Helper()
	prefix := fmt.Sprintf("t%d.%s.", time.Now().UnixNano(), strings.ToLower(t.Name()))
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  partitions: %d\n  group_prefix: %sg\ntopics:\n  prefix: %s\nclassified_format: json\n",
		strings.Join(brokers, ","), testPartitions, prefix, prefix)
	if stateDir != "" {
		fmt.Fprintf(&b, "state_dir: %s\n", stateDir)
	}
	b.WriteString("sink:\n")
	for _, l := range strings.Split(strings.TrimRight(sink, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// parseConfig parses a configuration file's text, sink section included,
// as `postbackd run` does.
func parseConfig(t testing.TB, text string) (*config.Config, partner.Config) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	sc, problems := partner.ParseConfig(cfg.File, &cfg.Sink, cfg.KnownApp)
	if len(problems) > 0 {
		t.Fatalf("sink config: %v\n%s", problems, text)
	}
	return cfg, sc
}

// ensureTopics creates the pipeline's and the sink's topics.
func ensureTopics(t testing.TB, ctx context.Context, cfg *config.Config, sc partner.Config) {
	t.Helper()
	topics, err := stage.Topics(pipeline.Topology(cfg, &sc))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: cfg.Kafka.Brokers}, topics...); err != nil {
		t.Fatal(err)
	}
}

func newProducer(t testing.TB, brokers []string) *stream.Producer {
	t.Helper()
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers, Compression: testCompression})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// startStage runs the sink stage in-process until the returned stop is
// called (or the test ends). A stage that fails is reported. The stage's
// metrics are registered on reg when it is not nil.
func startStage(t testing.TB, cfg *config.Config, sc partner.Config, consumer stream.ConsumerConfig, reg *prometheus.Registry) (stop func()) {
	t.Helper()
	p := newProducer(t, cfg.Kafka.Brokers)
	env := stage.Env{Config: cfg, Producer: p, Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("sink"), Consumer: consumer}
	if reg != nil {
		env.Metrics = stage.NewMetrics(reg)
	}
	st, err := sinkstage.New(env, sc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := st.Run(ctx); err != nil {
			t.Errorf("sink stage stopped: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// batchStats sums the stage's batch histograms: batches processed, their
// records and their seconds.
func batchStats(t testing.TB, reg *prometheus.Registry) (batches uint64, records, seconds float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			switch mf.GetName() {
			case "postbackd_batch_records":
				records += h.GetSampleSum()
			case "postbackd_batch_duration_seconds":
				batches += h.GetSampleCount()
				seconds += h.GetSampleSum()
			}
		}
	}
	return batches, records, seconds
}

// install is a classified install record attributed to partnerID.
func install(eventID, partnerID string) schemas.Classified {
	return schemas.Classified{
		PostbackID: schemas.PostbackID("app.test", "dev-"+eventID, eventID, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), schemas.TypeInstall),
		Type:       schemas.TypeInstall,
		EventID:    eventID,
		AppID:      "app.test",
		Platform:   "android",
		DeviceID:   "dev-" + eventID,
		EventTS:    time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Attribution: schemas.Attribution{
			Partner: partnerID, Campaign: "spring", ClickID: "click-" + eventID, Touch: schemas.TouchClick,
		},
	}
}

// produceClassified writes records to the classified topic as the device
// classifier does: JSON lines keyed by postback_id.
func produceClassified(t testing.TB, ctx context.Context, p *stream.Producer, topic string, recs []schemas.Classified) {
	t.Helper()
	msgs := make([]kafka.Message, len(recs))
	for i := range recs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(recs[i].PostbackID), Value: schemas.AppendClassifiedJSON(nil, &recs[i])}
	}
	for i := 0; i < len(msgs); i += 2000 {
		if err := p.Produce(ctx, msgs[i:min(i+2000, len(msgs))]...); err != nil {
			t.Fatal(err)
		}
	}
}

// newPartner starts a demo partner (processors/devtools/demopartner) on
// loopback for the test and returns it with its base URL; the partner is
// the path segment after /p/, else the first one. Every request it gets
// moves partnerHits, and it keeps them all (Requests) for the times the
// tests check.
func newPartner(t *testing.T) (*demopartner.Server, string) {
	t.Helper()
	dp := demopartner.New(nil)
	dp.SetMaxRequests(1 << 20)
	handler := dp.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		partnerHits.Add(1)
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return dp, srv.URL
}

// counts is how often partner received each Idempotency-Key (hits) and
// accepted it with a 2xx (accepted: only keys accepted at least once).
func counts(dp *demopartner.Server, partner string) (hits, accepted map[string]int) {
	keys := dp.Keys(partner)
	hits, accepted = make(map[string]int, len(keys)), make(map[string]int, len(keys))
	for k, c := range keys {
		hits[k] = c.Received
		if c.Accepted > 0 {
			accepted[k] = c.Accepted
		}
	}
	return hits, accepted
}

// acceptedCount is how many postbacks partner has accepted.
func acceptedCount(dp *demopartner.Server, partner string) int {
	return dp.Stats().Partners[partner].Unique
}

// acceptTimes returns when partner accepted the postbacks of ids (nil:
// every postback), in the order it answered.
func acceptTimes(dp *demopartner.Server, partner string, ids map[string]bool) []time.Time {
	var ts []time.Time
	for _, r := range dp.Requests() {
		if r.Partner == partner && r.Status/100 == 2 && (ids == nil || ids[r.IdempotencyKey]) {
			ts = append(ts, r.AnsweredAt)
		}
	}
	return ts
}

// rate is acceptances per second between the first and the last of ts.
func rate(ts []time.Time) float64 {
	if len(ts) < 2 {
		return 0
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return float64(len(ts)-1) / ts[len(ts)-1].Sub(ts[0]).Seconds()
}

// partnerHits counts every call any demo partner of the test binary got:
// the progress waitFor watches.
var partnerHits atomic.Int64

// waitFor polls cond until it holds. It fails only when no demo partner
// has been called for stall while cond does not hold: a slow machine makes
// it wait longer, a sink that stopped delivering makes it fail.
func waitFor(t *testing.T, stall time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Wait{Stall: stall, Progress: partnerHits.Load}.For(t, what, cond)
}

// readTopic reads every partition of topic from the start until done,
// called with each record read, says the records read are enough (it
// fails when nothing new came for testkit.DefaultStall); with a nil done,
// it reads what the topic holds now.
func readTopic(t *testing.T, ctx context.Context, brokers []string, topic string, done func(kafka.Message) bool) []kafka.Message {
	t.Helper()
	if done == nil {
		return testkit.ReadAll(t, ctx, brokers, topic)
	}
	return testkit.ReadTopic(t, ctx, brokers, topic, func(ms []kafka.Message) bool { return done(ms[len(ms)-1]) })
}

// deadLetter is a record of the delivery deadletter topic.
type deadLetter struct {
	partner.Job
	Reason string `json:"reason"`
	Header string `json:"-"` // the reason header
}

func decodeDeadLetters(t *testing.T, msgs []kafka.Message) []deadLetter {
	t.Helper()
	out := make([]deadLetter, 0, len(msgs))
	for _, m := range msgs {
		var d deadLetter
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatalf("deadletter %q: %v", m.Value, err)
		}
		for _, h := range m.Headers {
			if h.Key == sinkstage.HeaderDeadletterReason {
				d.Header = string(h.Value)
			}
		}
		out = append(out, d)
	}
	return out
}

func decodeLog(t *testing.T, msgs []kafka.Message) []partner.DeliveryLogEntry {
	t.Helper()
	out := make([]partner.DeliveryLogEntry, 0, len(msgs))
	for _, m := range msgs {
		var e partner.DeliveryLogEntry
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("delivery log %q: %v", m.Value, err)
		}
		out = append(out, e)
	}
	return out
}

// atLeast is a readTopic done that counts records until n.
func atLeast(n int) func(kafka.Message) bool {
	seen := 0
	return func(kafka.Message) bool { seen++; return seen >= n }
}

// triesAtLeast is a readTopic done for the delivery log that counts the
// entries of HTTP tries (attempt > 0) until n.
func triesAtLeast(n int) func(kafka.Message) bool {
	seen := 0
	return func(m kafka.Message) bool {
		var e struct {
			Attempt int `json:"attempt"`
		}
		if json.Unmarshal(m.Value, &e) == nil && e.Attempt > 0 {
			seen++
		}
		return seen >= n
	}
}
