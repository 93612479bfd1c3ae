package partner

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/postbackd/postbackd/state"
)

// TestEndToEndLatency: a delivered postback is observed from its event's
// arrival (the job's Arrival) and from its event's ts, per partner; a job
// without an arrival only from its ts.
func TestEndToEndLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, url := newPartner(t, nil)
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}}), WithRegisterer(reg))
	arrived := time.Now().Add(-3 * time.Second)
	js := jobs(record("e1", "install", "p"), record("e2", "install", "p"))
	js[0].Arrival = arrived
	run(t, s, pub, state.NewMemory(), js)
	if n, err := testutil.GatherAndCount(reg, "postbackd_sink_end_to_end_seconds"); err != nil || n != 2 {
		t.Fatalf("%d series of postbackd_sink_end_to_end_seconds (%v), want from=arrival and from=event", n, err)
	}
	count := func(from string) int {
		var m dto.Metric
		if err := s.metrics.endToEnd.WithLabelValues("p", from).(prometheus.Histogram).Write(&m); err != nil {
			t.Fatal(err)
		}
		if from == "arrival" && m.GetHistogram().GetSampleSum() < 3 {
			t.Errorf("latency from arrival %vs, want at least 3s", m.GetHistogram().GetSampleSum())
		}
		return int(m.GetHistogram().GetSampleCount())
	}
	if got := count("arrival"); got != 1 {
		t.Errorf("%d observations from arrival, want 1", got)
	}
	if got := count("event"); got != 2 {
		t.Errorf("%d observations from the event's ts, want 2", got)
	}
}
