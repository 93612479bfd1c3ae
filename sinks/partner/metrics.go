package partner

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackd/postbackd/schemas"
)

// metrics are the sink's Prometheus series, labelled by partner.
type metrics struct {
	outcomes    *prometheus.CounterVec   // delivery-log entries by outcome
	latency     *prometheus.HistogramVec // per HTTP try
	breakerOpen *prometheus.GaugeVec
	fxMissing   *prometheus.CounterVec // conversions without a rate, by currency
	endToEnd    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Subsystem: "sink", Name: "deliveries_total",
			Help: "Delivery attempts and decisions by partner and outcome.",
		}, []string{"partner", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "postbackd", Subsystem: "sink", Name: "attempt_duration_seconds",
			Help:    "Time to a partner's answer headers, per HTTP try.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"partner"}),
		breakerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Subsystem: "sink", Name: "breaker_open",
			Help: "1 while a partner's breaker is open.",
		}, []string{"partner"}),
		endToEnd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "postbackd", Subsystem: "sink", Name: "end_to_end_seconds",
			Help:    "From an event to its partner's 2xx, per delivered postback: from=arrival, from its raw record's arrival; from=event, from its own ts (a device clock).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400},
		}, []string{"partner", "from"}),
		fxMissing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Subsystem: "sink", Name: "fx_missing_total",
			Help: "Revenue conversions that found no rate for the record's currency and day: the converted value is left out (min_revenue then does not match).",
		}, []string{"currency"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.latency, m.breakerOpen, m.fxMissing, m.endToEnd} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// laneMetrics are one partner's series, each looked up by its labels once,
// on first use (so that, as before, a series appears only once it has
// something to say), then reused without a label lookup.
type laneMetrics struct {
	m           *metrics
	id          string
	latency     atomic.Pointer[prometheus.Observer]
	breakerOpen atomic.Pointer[prometheus.Gauge]
	outcomes    [len(outcomes)]atomic.Pointer[prometheus.Counter]
}

// outcomes lists every DeliveryLogEntry outcome: schemas.Outcomes, whose
// order indexes laneMetrics.outcomes.
var outcomes = schemas.Outcomes

func outcomeIndex(o string) int {
	for i, k := range outcomes {
		if k == o {
			return i
		}
	}
	return -1
}

// resolved returns *p, setting it with get first if it is unset; racing
// callers get the same child from the vector.
func resolved[T any](p *atomic.Pointer[T], get func() T) T {
	if v := p.Load(); v != nil {
		return *v
	}
	v := get()
	p.Store(&v)
	return v
}

func (lm *laneMetrics) observeLatency(d time.Duration) {
	resolved(&lm.latency, func() prometheus.Observer { return lm.m.latency.WithLabelValues(lm.id) }).Observe(d.Seconds())
}

func (lm *laneMetrics) setBreakerOpen(open bool) {
	resolved(&lm.breakerOpen, func() prometheus.Gauge { return lm.m.breakerOpen.WithLabelValues(lm.id) }).Set(b2f(open))
}

// countOutcome counts one delivery-log entry.
func (s *Sink) countOutcome(partner, outcome string) {
	if l := s.byID[partner]; l != nil {
		if i := outcomeIndex(outcome); i >= 0 {
			resolved(&l.metrics.outcomes[i], func() prometheus.Counter {
				return s.metrics.outcomes.WithLabelValues(partner, outcome)
			}).Inc()
			return
		}
	}
	s.metrics.outcomes.WithLabelValues(partner, outcome).Inc()
}

// observeEndToEnd records a delivered job's latency from its event's
// arrival and from its event's own ts.
func (s *Sink) observeEndToEnd(partner string, j *Job, now time.Time) {
	if !j.Arrival.IsZero() {
		s.metrics.endToEnd.WithLabelValues(partner, "arrival").Observe(now.Sub(j.Arrival).Seconds())
		s.activity.observeEndToEnd(partner, now.Sub(j.Arrival), now)
	}
	if ts := j.Record.EventTS; !ts.IsZero() {
		s.metrics.endToEnd.WithLabelValues(partner, "event").Observe(now.Sub(ts).Seconds())
	}
}
