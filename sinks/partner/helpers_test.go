package partner

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// fakePub records what the sink publishes.
type fakePub struct {
	mu      sync.Mutex
	logs    []DeliveryLogEntry
	retries []scheduled
	dead    []deadLetter
}

func (f *fakePub) PublishLog(_ context.Context, e []DeliveryLogEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, e...)
	return nil
}

func (f *fakePub) ScheduleRetry(_ context.Context, tier int, j Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retries = append(f.retries, scheduled{tier, j})
	return nil
}

func (f *fakePub) DeadLetter(_ context.Context, j Job, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = append(f.dead, deadLetter{j, reason})
	return nil
}

func (f *fakePub) takeRetries() []Job { return f.takeRetriesOf("") }

// takeRetriesOf takes the scheduled retries of one partner ("": all).
func (f *fakePub) takeRetriesOf(partner string) []Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Job
	keep := f.retries[:0]
	for _, r := range f.retries {
		if partner == "" || r.job.Partner == partner {
			out = append(out, r.job)
		} else {
			keep = append(keep, r)
		}
	}
	f.retries = keep
	return out
}

func (f *fakePub) deadLetters() []deadLetter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deadLetter(nil), f.dead...)
}

func (f *fakePub) entries() []DeliveryLogEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DeliveryLogEntry(nil), f.logs...)
}

// captured is a request as the partner saw it.
type captured struct {
	method string
	uri    string
	header http.Header
	body   []byte
}

// partnerServer is a fake partner on loopback. answer decides the reply to
// the n-th request (from 1) for an Idempotency-Key and reports whether the
// partner accepted it; accepted counts per key are what "exactly once as
// seen by the partner" is checked against.
type partnerServer struct {
	*httptest.Server
	mu       sync.Mutex
	hits     map[string]int
	accepted map[string]int
	reqs     []captured
}

func newPartnerServer(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, n int) bool) *partnerServer {
	ps := &partnerServer{hits: make(map[string]int), accepted: make(map[string]int)}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Header.Get("Idempotency-Key")
		ps.mu.Lock()
		ps.hits[key]++
		n := ps.hits[key]
		ps.reqs = append(ps.reqs, captured{r.Method, r.RequestURI, r.Header.Clone(), body})
		ps.mu.Unlock()
		if answer == nil {
			w.WriteHeader(http.StatusOK)
			ps.accept(key)
			return
		}
		if answer(w, r, n) {
			ps.accept(key)
		}
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *partnerServer) accept(key string) {
	ps.mu.Lock()
	ps.accepted[key]++
	ps.mu.Unlock()
}

func (ps *partnerServer) requests() []captured {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]captured(nil), ps.reqs...)
}

func (ps *partnerServer) counts() (hits, accepted map[string]int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	hits, accepted = make(map[string]int), make(map[string]int)
	for k, v := range ps.hits {
		hits[k] = v
	}
	for k, v := range ps.accepted {
		accepted[k] = v
	}
	return hits, accepted
}

// testConfig is a sink config for loopback tests, with fast tiers.
func testConfig(partners ...PartnerConfig) Config {
	return Config{
		AllowPrivateNetworks: true,
		BatchWait:            Duration(5 * time.Second),
		Retry: RetryConfig{
			InProcess:     InProcessRetry{MaxAttempts: 3, MaxWait: Duration(50 * time.Millisecond)},
			Tiers:         []Duration{Duration(time.Millisecond), Duration(2 * time.Millisecond), Duration(3 * time.Millisecond), Duration(4 * time.Millisecond), Duration(5 * time.Millisecond)},
			RetryAfterCap: Duration(20 * time.Millisecond),
		},
		Partners: partners,
	}
}

func getRule(url string, types ...string) RuleConfig {
	return RuleConfig{Types: types, Mode: ModeAll, URL: url}
}

func newTestSink(t testing.TB, cfg Config, opts ...Option) (*Sink, *fakePub) {
	t.Helper()
	pub := &fakePub{}
	s, err := New(cfg, pub, opts...)
	if err != nil {
		t.Fatalf("new sink: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s, pub
}

// run processes batch on store like the wiring would, applying the
// returned writes, then feeds the scheduled retries back (ignoring their
// due time) until none are left.
func run(t testing.TB, s *Sink, pub *fakePub, store state.Store, batch []Job) {
	t.Helper()
	runFor(t, s, pub, store, batch, "")
}

// runFor is run taking back only the retries of partner ("": all), for
// tests that run several partitions at once.
func runFor(t testing.TB, s *Sink, pub *fakePub, store state.Store, batch []Job, partner string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(batch) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("retries do not converge")
		}
		for _, j := range batch {
			time.Sleep(time.Until(j.Due)) // as the tier consumer would
		}
		writes, err := s.Process(context.Background(), store, batch)
		if err != nil {
			t.Fatalf("process: %v", err)
		}
		if len(writes) > 0 {
			if err := store.Apply(&state.Batch{Writes: writes}); err != nil {
				t.Fatalf("apply: %v", err)
			}
		}
		batch = pub.takeRetriesOf(partner)
	}
}

func record(eventID, typ, partner string) schemas.Classified {
	rev := 9.99
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return schemas.Classified{
		PostbackID: schemas.PostbackID("app1", "dev-"+eventID, eventID, ts, typ), Type: typ, EventID: eventID, AppID: "app1",
		Platform: schemas.PlatformAndroid, DeviceID: "dev-" + eventID, UserID: "user-" + eventID,
		EventTS: ts, Revenue: &rev, Currency: "EUR",
		Params:      map[string]string{"sku": "a b&c"},
		Attribution: schemas.Attribution{Partner: partner, Campaign: "camp 1", ClickID: "clk/1", Touch: schemas.TouchClick},
	}
}

func jobs(recs ...schemas.Classified) []Job {
	out := make([]Job, len(recs))
	for i, r := range recs {
		out[i] = Job{Record: r}
	}
	return out
}
