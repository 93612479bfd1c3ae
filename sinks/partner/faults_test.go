package partner

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// faultyPartners are the partners of the fault tests: 30% 5xx, a first try
// that times out, a 429 with Retry-After, and a 400.
func faultyPartners(t *testing.T) (map[string]*partnerServer, []PartnerConfig) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	servers := map[string]*partnerServer{
		"flaky": newPartnerServer(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			mu.Lock()
			fail := rng.IntN(100) < 30
			mu.Unlock()
			if fail {
				w.WriteHeader(http.StatusServiceUnavailable)
				return false
			}
			return true
		}),
		"slow": newPartnerServer(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				select {
				case <-time.After(5 * time.Second):
				case <-r.Context().Done(): // the sink gave up: the partner never answered
					return false
				}
			}
			return true
		}),
		"limited": newPartnerServer(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return false
			}
			return true
		}),
		"bad": newPartnerServer(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			w.WriteHeader(http.StatusBadRequest)
			return false
		}),
	}
	var cfgs []PartnerConfig
	for _, id := range []string{"flaky", "slow", "limited", "bad"} {
		var timeouts TimeoutsConfig
		if id == "slow" {
			timeouts.Total = Duration(time.Second) // generous: a loaded CI machine must not time out the fast retries
		}
		cfgs = append(cfgs, PartnerConfig{ID: id, Concurrency: 16, Timeouts: timeouts,
			Breaker: BreakerConfig{Failures: 1000, OpenFor: Duration(time.Second)},
			Rules:   []RuleConfig{{Types: []string{"install"}, URL: servers[id].URL + "/pb?id={postback_id}"}}})
	}
	return servers, cfgs
}

func TestFaultyPartnersExactlyOnce(t *testing.T) {
	servers, cfgs := faultyPartners(t)
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
		_, accepted := servers[p].counts()
		if len(accepted) != n {
			t.Errorf("%s accepted %d postbacks, want %d", p, len(accepted), n)
		}
		for k, c := range accepted {
			if c != 1 || !want[p+"/"+k] {
				t.Errorf("%s accepted %s %d times", p, k, c)
			}
		}
	}
	hits, _ := servers["bad"].counts()
	for k, c := range hits {
		if c != 1 {
			t.Errorf("bad partner: %s tried %d times, want 1", k, c)
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
	healthy := newPartnerServer(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		time.Sleep(2 * time.Millisecond) // a partner's own work: throughput is bound by concurrency
		return true
	})
	servers, cfgs := faultyPartners(t)
	_ = servers
	cfgs = append(cfgs, PartnerConfig{ID: "healthy", Concurrency: 8,
		Rules: []RuleConfig{{Types: []string{"install"}, URL: healthy.URL + "/pb?id={postback_id}"}}})
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
