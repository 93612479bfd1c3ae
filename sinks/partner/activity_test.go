package partner

import (
	"net/http"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/state"
)

// A partner that fails a postback's three in-process tries with an HTML
// answer and takes it from the retry tier: the last hour counts every try
// and outcome, the latest failures keep the answer's start as sent (the
// console shows it as text) for the try that ended the delivery, and the
// status keeps every try in order.
func TestActivityAndTries(t *testing.T) {
	_, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		if strings.Contains(r.URL.RawQuery, "bad") && attempt <= 3 {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<script>alert(1)</script>" + strings.Repeat("x", 1000)))
			return true
		}
		return false
	})
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"?id={event_id}", "install")}}))
	good, bad := record("good", "install", "p"), record("bad", "install", "p")
	run(t, s, pub, state.NewMemory(), jobs(good, bad))

	st := s.Stats()
	if len(st) != 1 || st[0].Partner != "p" {
		t.Fatalf("stats %+v", st)
	}
	p := st[0]
	if p.Delivered != 2 || p.DeadLettered != 0 || p.Retries != 3 || p.SuccessRatio == nil || *p.SuccessRatio != 1 {
		t.Errorf("stats %+v, want 2 delivered after 2 retries", p)
	}
	if p.LatencyP50 <= 0 || p.LatencyP95 < p.LatencyP50 || p.BreakerOpen {
		t.Errorf("latency p50 %v p95 %v, breaker open %v", p.LatencyP50, p.LatencyP95, p.BreakerOpen)
	}

	fs := s.Failures("", 10)
	if len(fs) != 3 {
		t.Fatalf("failures %+v, want the 3 failed tries", fs)
	}
	for i, f := range fs {
		if f.PostbackID != bad.PostbackID || f.StatusCode != http.StatusBadGateway {
			t.Errorf("failure %+v", f)
		}
		if i > 0 && fs[i-1].At.Before(f.At) {
			t.Errorf("failures not newest first: %v then %v", fs[i-1].At, f.At)
		}
	}
	if f := fs[0]; f.Outcome != OutcomeRetryScheduled || !strings.HasPrefix(f.Response, "<script>") || len(f.Response) > responseExcerpt+len("…") {
		t.Errorf("the try that ended the delivery: %+v, want retry_scheduled with the answer's start", f)
	}

	sts := s.status.get(bad.PostbackID)
	if len(sts) != 1 {
		t.Fatalf("status %+v", sts)
	}
	tries := sts[0].Tries
	if len(tries) != 4 || tries[0].StatusCode != 502 || tries[2].Outcome != OutcomeRetryScheduled || tries[2].Response != "" || tries[3].Outcome != OutcomeDelivered {
		t.Fatalf("tries %+v, want 502 three times (an older try keeps no answer: the latest failures do), then delivered", tries)
	}
	for i := 1; i < len(tries); i++ {
		if tries[i].At.Before(tries[i-1].At) {
			t.Errorf("tries out of order: %+v", tries)
		}
	}
	// One delivered at its first try keeps no list, and shows as one try.
	if g := s.status.get(good.PostbackID); len(g) != 1 || len(g[0].Tries) != 1 || g[0].Tries[0].Outcome != OutcomeDelivered {
		t.Errorf("status of a first-try delivery %+v", g)
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h histogram
	if h.quantile(.5) != 0 {
		t.Error("empty histogram's quantile is not 0")
	}
	for i := 1; i <= 100; i++ {
		h.observe(float64(i) / 1000) // 1..100 ms
	}
	for _, c := range []struct{ q, want float64 }{{.5, .050}, {.95, .095}, {.99, .099}} {
		got := h.quantile(c.q)
		if got < c.want || got > c.want*1.1 {
			t.Errorf("p%v = %v, want within 10%% above %v", c.q*100, got, c.want)
		}
	}
}
