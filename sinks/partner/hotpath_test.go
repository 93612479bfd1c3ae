package partner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackd/postbackd/state"
)

// Tests of the per-postback path's cheaper mechanics: each asserts that
// the behaviour is the one the heavier mechanics had.

// TestTotalTimeoutAwaitingAnswer: a partner that never answers is given up
// on after timeouts.total, per try, and each try is recorded as a timeout.
func TestTotalTimeoutAwaitingAnswer(t *testing.T) {
	_, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
		return true
	})
	cfg := testConfig(PartnerConfig{ID: "p", Timeouts: TimeoutsConfig{Total: Duration(200 * time.Millisecond)},
		Breaker: BreakerConfig{Failures: 1000}, Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}})
	cfg.Retry.InProcess.MaxAttempts = 2
	s, pub := newTestSink(t, cfg)
	start := time.Now()
	if _, err := s.Process(context.Background(), state.NewMemory(), jobs(record("e1", "install", "p"))); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("two tries took %v with a 200ms total timeout", d)
	}
	es := pub.entries()
	if len(es) != 2 {
		t.Fatalf("%d log entries, want one per try: %+v", len(es), es)
	}
	for i, e := range es {
		if !strings.Contains(e.Error, "timeouts.total (200ms) exceeded while awaiting the answer") ||
			e.Latency < 150*time.Millisecond || e.Attempt != i+1 {
			t.Errorf("entry %d: attempt %d, latency %v, error %q", i, e.Attempt, e.Latency, e.Error)
		}
		if strings.Contains(e.Error, "id=e") || strings.Contains(e.Error, "install") {
			t.Errorf("entry %d error carries the query: %q", i, e.Error)
		}
	}
	if es[1].Outcome != OutcomeRetryScheduled {
		t.Errorf("last outcome %s, want %s (a timeout is worth a tier retry)", es[1].Outcome, OutcomeRetryScheduled)
	}
}

// TestTotalTimeoutReadingBody: timeouts.total also bounds reading the
// answer's body, as http.Client.Timeout did.
func TestTotalTimeoutReadingBody(t *testing.T) {
	_, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select { // the rest of the body never comes
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
		return true
	})
	cfg := testConfig(PartnerConfig{ID: "p", Timeouts: TimeoutsConfig{Total: Duration(200 * time.Millisecond)},
		Breaker: BreakerConfig{Failures: 1000}, Rules: []RuleConfig{getRule(url, "install")}})
	cfg.Retry.InProcess.MaxAttempts = 1
	s, pub := newTestSink(t, cfg)
	start := time.Now()
	if _, err := s.Process(context.Background(), state.NewMemory(), jobs(record("e1", "install", "p"))); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the body read took %v with a 200ms total timeout", d)
	}
	es := pub.entries()
	if len(es) != 1 {
		t.Fatalf("entries %+v", es)
	}
	e := es[0]
	if e.StatusCode != http.StatusBadGateway || e.Response != "partial" || e.Outcome != OutcomeRetryScheduled ||
		!strings.Contains(e.Error, "read answer: timeouts.total (200ms) exceeded while reading the answer's body") {
		t.Fatalf("entry %+v", e)
	}
}

// TestDeadlineBodyReleasesTimer: reading the body to its end or closing it
// releases the try's deadline at once.
func TestDeadlineBodyReleasesTimer(t *testing.T) {
	for _, closeIt := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		b := &deadlineBody{rc: io.NopCloser(strings.NewReader("ok")), ctx: ctx, parent: context.Background(), cancel: cancel, total: time.Hour}
		if closeIt {
			_ = b.Close()
		} else if got, err := io.ReadAll(b); err != nil || string(got) != "ok" {
			t.Fatalf("read %q, %v", got, err)
		}
		if ctx.Err() != context.Canceled {
			t.Errorf("close=%v: try context %v, want released", closeIt, ctx.Err())
		}
	}
}

// TestAnswerReadBounded: the log keeps the first responseKeep bytes of an
// answer, the whole of a short one, nothing of an empty one.
func TestAnswerReadBounded(t *testing.T) {
	long := strings.Repeat("0123456789", 20_000) // 200 kB, past responseReadLimit
	bodies := map[string]string{"long": long, "short": "bad campaign", "empty": ""}
	_, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, bodies[r.URL.Query().Get("b")])
		return true
	})
	for name, body := range bodies {
		cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/?b="+name, "install")}})
		s, pub := newTestSink(t, cfg)
		if _, err := s.Process(context.Background(), state.NewMemory(), jobs(record("e1", "install", "p"))); err != nil {
			t.Fatal(err)
		}
		es := pub.entries()
		want := body[:min(len(body), responseKeep)]
		if len(es) != 1 || es[0].Response != want || es[0].Outcome != OutcomeDeadLettered || es[0].Error != "" {
			t.Errorf("%s: entries %+v", name, es)
		}
	}
	n, err := readAnswer(strings.NewReader(long), make([]byte, responseKeep))
	if err != nil || n != responseKeep {
		t.Fatalf("readAnswer: %d, %v", n, err)
	}
	r := strings.NewReader(long)
	_, _ = readAnswer(r, make([]byte, responseKeep))
	if read := int64(len(long)) - int64(r.Len()); read != responseReadLimit {
		t.Errorf("read %d bytes of a long answer, want the limit %d", read, responseReadLimit)
	}
}

// TestTriesNotCarriedOver: a worker reuses its try recorder; a delivery's
// log has its own tries only.
func TestTriesNotCarriedOver(t *testing.T) {
	_, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.Contains(r.URL.RawQuery, "e1") && n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	cfg := testConfig(PartnerConfig{ID: "p", Concurrency: 1, Breaker: BreakerConfig{Failures: 1000},
		Rules: []RuleConfig{getRule(url+"/?id={event_id}", "install")}})
	cfg.Retry.InProcess.MaxWait = Duration(time.Millisecond)
	s, pub := newTestSink(t, cfg)
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p"), record("e2", "install", "p")))
	var got []string
	for _, e := range pub.entries() {
		got = append(got, fmt.Sprintf("%s:%d:%d:%s", e.PostbackID[:2], e.Attempt, e.StatusCode, e.Outcome))
	}
	id1, id2 := record("e1", "install", "p").PostbackID[:2], record("e2", "install", "p").PostbackID[:2]
	want := []string{id1 + ":1:503:retrying", id1 + ":2:503:retrying", id1 + ":3:200:delivered", id2 + ":1:200:delivered"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log %v, want %v", got, want)
	}
}

// TestDeliveryRecordJSON: the hand-written dedup value is what
// encoding/json makes of it.
func TestDeliveryRecordJSON(t *testing.T) {
	tz := time.FixedZone("x", -(3*3600 + 30*60))
	for _, r := range []deliveryRecord{
		{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Status: 200, Attempt: 1},
		{At: time.Date(2026, 11, 22, 20, 55, 43, 123456789, time.UTC), Status: 204, Attempt: 17},
		{At: time.Date(2026, 11, 22, 20, 55, 43, 120000000, tz), Status: 299, Attempt: 0},
		{At: time.Now(), Status: 201, Attempt: 3},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON %s, want %s", got, want)
		}
	}
}

// TestStatusCacheLRU: latest status per (postback, partner), bounded by
// postback count, least recently touched evicted first.
func TestStatusCacheLRU(t *testing.T) {
	c := newStatusCache(2)
	put := func(id, partner, outcome string) {
		c.put(Status{PostbackID: id, Partner: partner, Outcome: outcome})
	}
	show := func(id string) string {
		var out []string
		for _, s := range c.get(id) {
			out = append(out, s.Partner+"="+s.Outcome)
		}
		return strings.Join(out, ",")
	}
	put("a", "p1", "retrying")
	put("a", "p2", "delivered")
	put("a", "p1", "delivered") // replaces p1's, keeps p2's
	put("a", "p3", "parked")
	put("a", "p2", "deadlettered")
	if got := show("a"); got != "p1=delivered,p2=deadlettered,p3=parked" {
		t.Fatalf("a: %s", got)
	}
	put("b", "p1", "delivered")
	put("a", "p1", "delivered") // a is now the most recent
	put("c", "p1", "delivered") // evicts b
	if show("b") != "" || show("a") == "" || show("c") == "" || len(c.byID) != 2 || c.n != 2 {
		t.Fatalf("after eviction: a=%q b=%q c=%q, %d ids", show("a"), show("b"), show("c"), len(c.byID))
	}
	put("d", "p1", "delivered") // evicts a
	if show("a") != "" || show("c") == "" || show("d") == "" {
		t.Fatalf("after second eviction: a=%q c=%q d=%q", show("a"), show("c"), show("d"))
	}
	for e := c.head.next; e != &c.head; e = e.next { // the list and the index agree
		if c.byID[e.first.PostbackID] != e || e.next.prev != e {
			t.Fatalf("list broken at %s", e.first.PostbackID)
		}
	}
}

// TestMetricsPerPartner: the pre-resolved series count what the labelled
// lookups did, and an unknown partner's outcome still gets its series.
func TestMetricsPerPartner(t *testing.T) {
	_, url := newPartner(t, nil)
	reg := prometheus.NewRegistry()
	cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url, "install")}})
	s, pub := newTestSink(t, cfg, WithRegisterer(reg))
	store := state.NewMemory()
	run(t, s, pub, store, jobs(record("e1", "install", "p"), record("e2", "install", "p")))
	run(t, s, pub, store, jobs(record("e1", "install", "p")))                                            // duplicate
	run(t, s, pub, store, []Job{{Record: record("e3", "install", "gone"), Partner: "gone", Attempt: 1}}) // no rule
	counts := make(map[string]float64)                                                                   // "name{partner,outcome}" -> value
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			k := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				counts[k] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				counts[k] = float64(m.GetHistogram().GetSampleCount())
			case m.Gauge != nil:
				counts[k] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"postbackd_sink_deliveries_total{delivered,p}":          2, // labels sort by name: outcome, partner
		"postbackd_sink_deliveries_total{skipped_duplicate,p}":  1,
		"postbackd_sink_deliveries_total{skipped_no_rule,gone}": 1,
		"postbackd_sink_attempt_duration_seconds{p}":            2,
		"postbackd_sink_breaker_open{p}":                        0,
		"postbackd_sink_end_to_end_seconds{event,p}":            2, // from=event, partner; the jobs carry no arrival
	}
	for k, v := range want {
		if got, ok := counts[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("series %v, want exactly %v", counts, want)
	}
}

// TestHandedOffStillRunningIsParked: a delivery handed off at batch_wait
// and still running is not sent again by the next batch; once it ends,
// its dedup write comes with the next Process call of its store.
func TestHandedOffStillRunningIsParked(t *testing.T) {
	release := make(chan struct{})
	dp, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		<-release
		return false
	})
	cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/p/p", "install")}})
	cfg.BatchWait = Duration(100 * time.Millisecond)
	s, pub := newTestSink(t, cfg)
	store := state.NewMemory()
	rec := record("e1", "install", "p")
	if w, err := s.Process(context.Background(), store, jobs(rec)); err != nil || len(w) != 0 {
		t.Fatalf("first batch: %d writes, %v", len(w), err)
	}
	retry := pub.takeRetries()
	if len(retry) != 1 {
		t.Fatalf("retries %+v", retry)
	}
	if w, err := s.Process(context.Background(), store, retry); err != nil || len(w) != 0 {
		t.Fatalf("retry batch: %d writes, %v", len(w), err)
	}
	es := pub.entries()
	if last := es[len(es)-1]; last.Outcome != OutcomeParked || last.Error != "previous delivery still running" {
		t.Fatalf("retry while running: %+v", last)
	}
	close(release)
	key := string(DedupKey("p", rec.PostbackID))
	deadline := time.Now().Add(10 * time.Second)
	for !func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.inflight) == 0 }() {
		if time.Now().After(deadline) {
			t.Fatal("handed-off delivery never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.inflightN.Load(); n != 0 {
		t.Fatalf("inflight count %d after the delivery ended", n)
	}
	w, err := s.Process(context.Background(), store, nil)
	if err != nil || len(w) != 1 || string(w[0].Key) != key {
		t.Fatalf("late dedup write: %+v, %v", w, err)
	}
	if k := dp.Keys("p")[rec.PostbackID]; k.Received != 1 {
		t.Fatalf("partner saw it %d times", k.Received)
	}
}

// TestReadAnswerReportsTruncation: a body that ends before its
// Content-Length (net/http's io.ErrUnexpectedEOF) is an error, not a short
// answer; a short body that ends cleanly is not.
func TestReadAnswerReportsTruncation(t *testing.T) {
	cut := io.MultiReader(strings.NewReader("short"), iotest.ErrReader(io.ErrUnexpectedEOF))
	n, err := readAnswer(cut, make([]byte, responseKeep))
	if n != len("short") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: readAnswer = %d, %v; want 5, unexpected EOF", n, err)
	}
	n, err = readAnswer(strings.NewReader("short"), make([]byte, responseKeep))
	if n != len("short") || err != nil {
		t.Fatalf("short body: readAnswer = %d, %v; want 5, nil", n, err)
	}
}
