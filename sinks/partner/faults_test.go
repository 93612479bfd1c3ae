package partner

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// faultyPartners are the partners of the fault tests, on one demo
// partner: 30% 5xx, a first try that times out, a 429 with Retry-After,
// and a 400.
func faultyPartners(t *testing.T) (*demopartner.Server, []PartnerConfig) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	dp, base := newPartner(t, nil)
	answers := map[string]func(w http.ResponseWriter, r *http.Request, attempt int) bool{
		"flaky": func(w http.ResponseWriter, r *http.Request, _ int) bool {
			mu.Lock()
			fail := rng.IntN(100) < 30
			mu.Unlock()
			if fail {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return fail
		},
		"slow": func(w http.ResponseWriter, r *http.Request, attempt int) bool {
			if attempt > 1 {
				return false
			}
			select { // the sink gives up first: the partner never answers (demopartner counts it abandoned)
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			return true
		},
		"limited": func(w http.ResponseWriter, r *http.Request, attempt int) bool {
			if attempt > 1 {
				return false
			}
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		},
		"bad": func(w http.ResponseWriter, r *http.Request, _ int) bool {
			w.WriteHeader(http.StatusBadRequest)
			return true
		},
	}
	var cfgs []PartnerConfig
	for _, id := range []string{"flaky", "slow", "limited", "bad"} {
		dp.SetFault(id, demopartner.Fault{Answer: answers[id]})
		var timeouts TimeoutsConfig
		if id == "slow" {
			timeouts.Total = Duration(time.Second) // generous: a loaded CI machine must not time out the fast retries
		}
		cfgs = append(cfgs, PartnerConfig{ID: id, Concurrency: 16, Timeouts: timeouts,
			Breaker: BreakerConfig{Failures: 1000, OpenFor: Duration(time.Second)},
			Rules:   []RuleConfig{{Types: []string{"install"}, URL: base + "/p/" + id + "/pb?id={postback_id}"}}})
	}
	return dp, cfgs
}

func TestFaultyPartnersExactlyOnce(t *testing.T) {
	dp, cfgs := faultyPartners(t)
	s, pub := newTestSink(t, testConfig(cfgs...))
	const n = 100
	var batch []Job
	want := make(map[string]bool)
	for i := range n {
		for _, p := range []string{"flaky", "slow", "limited", "bad"} {
			r := record(fmt.Sprintf("%s-%d", p, i), schemas.TypeInstall, p)
			batch = append(batch, Job{Record: r})
			want[p+"/"+r.PostbackID] = true
		}
	}
	run(t, s, pub, state.NewMemory(), batch)
	for _, p := range []string{"flaky", "slow", "limited"} {
		accepted := 0
		for k, c := range dp.Keys(p) {
			if c.Accepted > 0 {
				accepted++
			}
			if c.Accepted > 0 && (c.Accepted != 1 || !want[p+"/"+k]) {
				t.Errorf("%s accepted %s %d times", p, k, c.Accepted)
			}
		}
		if accepted != n {
			t.Errorf("%s accepted %d postbacks, want %d", p, accepted, n)
		}
	}
	for k, c := range dp.Keys("bad") {
		if c.Received != 1 {
			t.Errorf("bad partner: %s tried %d times, want 1", k, c.Received)
		}
	}
	dead := pub.deadLetters()
	if len(dead) != n {
		t.Errorf("%d deadletters, want %d", len(dead), n)
	}
	for _, d := range dead {
		if d.job.Partner != "bad" || d.reason != "status 400" || d.job.Attempt != 1 {
			t.Errorf("deadletter %s: %q attempt %d", d.job.Partner, d.reason, d.job.Attempt)
		}
	}
}

// TestHealthyPartnerIsolated measures a healthy partner's throughput alone,
// then with the faulty partners' traffic running at the same time on other
// partitions of the same Sink (shared workers' machinery, CPU and Publisher).
func TestHealthyPartnerIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput measurement")
	}
	// The healthy partner has a server of its own: the faulty partners
	// share one, and nothing of theirs but the Sink may be shared with it.
	healthy, healthyURL := newPartner(t, nil)
	healthy.SetFault("healthy", demopartner.Fault{Delay: 2 * time.Millisecond}) // a partner's own work: throughput is bound by concurrency
	_, cfgs := faultyPartners(t)
	cfgs = append(cfgs, PartnerConfig{ID: "healthy", Concurrency: 8,
		Rules: []RuleConfig{{Types: []string{"install"}, URL: healthyURL + "/p/healthy/pb?id={postback_id}"}}})
	s, pub := newTestSink(t, testConfig(cfgs...))

	const n = 600
	healthyRun := func(tag string) float64 {
		var batch []Job
		for i := range n {
			batch = append(batch, Job{Record: record(fmt.Sprintf("h-%s-%d", tag, i), schemas.TypeInstall, "healthy")})
		}
		store := state.NewMemory()
		start := time.Now()
		for i := 0; i < len(batch); i += 100 {
			runFor(t, s, pub, store, batch[i:i+100], "healthy")
		}
		return n / time.Since(start).Seconds()
	}
	alone := 0.0
	for i := range 3 { // best of three: the machine is shared and noisy
		alone = max(alone, healthyRun(fmt.Sprint("alone", i)))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, p := range []string{"flaky", "slow", "limited", "bad"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			store := state.NewMemory()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(100 * time.Millisecond) // an offered load of ~200 postbacks/s per faulty partner
				var batch []Job
				for k := range 20 {
					batch = append(batch, Job{Record: record(fmt.Sprintf("%s-%d-%d-%d", p, w, i, k), schemas.TypeInstall, p)})
				}
				runFor(t, s, pub, store, batch, p)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the faults build up
	mixed := 0.0
	for i := range 3 {
		mixed = max(mixed, healthyRun(fmt.Sprint("mixed", i)))
	}
	close(stop)
	wg.Wait()
	t.Logf("healthy partner: alone %.0f/s, next to faulty partners %.0f/s (%.0f%%)", alone, mixed, 100*mixed/alone)
	if !raceEnabled && mixed < 0.9*alone {
		t.Errorf("healthy throughput fell to %.0f%% of its throughput alone", 100*mixed/alone)
	}
}
