package partner

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
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

// newPartner starts a demo partner (processors/devtools/demopartner) on
// loopback for the test and returns it with its base URL. answer, when not
// nil, scripts the answers of every partner it serves (Fault.Answer: it
// writes the answer and returns true, or returns false for a 200); the
// partner is the first path segment, or the one after /p/.
func newPartner(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, attempt int) bool) (*demopartner.Server, string) {
	dp := demopartner.New(nil)
	if answer != nil {
		dp.SetFault("*", demopartner.Fault{Answer: answer})
	}
	srv := httptest.NewServer(dp.Handler())
	t.Cleanup(srv.Close)
	return dp, srv.URL
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
