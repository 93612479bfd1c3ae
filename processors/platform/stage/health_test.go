package stage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

type fakeHealth struct{ h stream.ProducerHealth }

func (f *fakeHealth) Health() stream.ProducerHealth { return f.h }

// While the broker is away /readyz says so (and /healthz does not: a
// restart would not bring the broker back), and /metrics shows it.
func TestReadyzAndMetricsWhileTheBrokerIsAway(t *testing.T) {
	fh := &fakeHealth{h: stream.ProducerHealth{BrokerUp: true}}
	r := NewReadiness()
	r.MarkStarted()
	up := true
	r.AddCheck(func() (bool, string) {
		if up {
			return true, "ok"
		}
		return false, "kafka broker unreachable for 12s: connection refused"
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(BrokerCollector(fh))
	h := (&HealthServer{Readiness: r, Gatherer: reg}).Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, string(body)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d with the broker up", code)
	}
	if _, m := get("/metrics"); !strings.Contains(m, "postbackd_broker_up 1") || !strings.Contains(m, "postbackd_broker_unreachable_seconds 0") {
		t.Fatalf("metrics with the broker up:\n%s", m)
	}

	up = false
	fh.h = stream.ProducerHealth{DownSince: time.Now().Add(-12 * time.Second), PausedPartitions: 3, Retries: 40, Refused: 2}
	if code, why := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(why, "unreachable") {
		t.Fatalf("readyz %d %q while the broker is away", code, why)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d while the broker is away", code)
	}
	_, m := get("/metrics")
	for _, want := range []string{"postbackd_broker_up 0", "postbackd_produce_paused_partitions 3",
		"postbackd_produce_retries_total 40", "postbackd_produce_refused_records_total 2", "postbackd_broker_unreachable_seconds 12"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}
