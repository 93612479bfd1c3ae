package partner

import "github.com/prometheus/client_golang/prometheus"

// metrics are the sink's Prometheus series, labelled by partner.
type metrics struct {
	outcomes    *prometheus.CounterVec   // delivery-log entries by outcome
	latency     *prometheus.HistogramVec // per HTTP try
	breakerOpen *prometheus.GaugeVec
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
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.latency, m.breakerOpen} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
