package stage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

// Readiness tracks the partitions still restoring their state, across
// every stage of the process, and the checks added with AddCheck (the
// broker's reachability, say). /readyz answers 200 only when no partition
// is restoring and every check passes.
type Readiness struct {
	mu        sync.Mutex
	restoring map[string]struct{} // stage/partition
	started   bool
	checks    []func() (bool, string)
}

// AddCheck adds a condition to readiness: check returns whether it holds
// and, when not, why. stream.Producer.Ready is one: not ready while the
// broker is unreachable or records wait for acks.
func (r *Readiness) AddCheck(check func() (bool, string)) {
	r.mu.Lock()
	r.checks = append(r.checks, check)
	r.mu.Unlock()
}

// NewReadiness returns a tracker that is not ready until MarkStarted.
func NewReadiness() *Readiness { return &Readiness{restoring: make(map[string]struct{})} }

// MarkStarted records that the stages have joined their groups.
func (r *Readiness) MarkStarted() {
	r.mu.Lock()
	r.started = true
	r.mu.Unlock()
}

// MarkRestoring records that a stage's partition starts (true) or ends
// (false) restoring its state.
func (r *Readiness) MarkRestoring(stage string, partition int, restoring bool) {
	key := fmt.Sprintf("%s/%d", stage, partition)
	r.mu.Lock()
	defer r.mu.Unlock()
	if restoring {
		r.restoring[key] = struct{}{}
	} else {
		delete(r.restoring, key)
	}
}

// Ready reports whether every owned partition is restored and every check
// passes, and if not, why.
func (r *Readiness) Ready() (bool, string) {
	r.mu.Lock()
	started, restoring, checks := r.started, len(r.restoring), r.checks
	r.mu.Unlock()
	if !started {
		return false, "starting"
	}
	for _, check := range checks {
		if ok, why := check(); !ok {
			return false, why
		}
	}
	if restoring > 0 {
		return false, fmt.Sprintf("%d partition(s) restoring", restoring)
	}
	return true, "ok"
}

// ProducerHealth is what BrokerCollector reads; stream.Producer has it.
type ProducerHealth interface {
	Health() stream.ProducerHealth
}

// BrokerCollector exports what a producer knows of the broker, read at
// each scrape:
//
//	postbackd_broker_up                     1 while the broker answers, 0 once it has not for 2 s
//	postbackd_broker_unreachable_seconds    how long it has not answered (0 while it does)
//	postbackd_produce_paused_partitions     partitions whose records wait for an ack after a retriable error
//	postbackd_produce_retries_total         produce attempts that failed and were sent again
//	postbackd_produce_refused_records_total records the broker refused for good (size, invalid)
func BrokerCollector(p ProducerHealth) prometheus.Collector {
	return &brokerCollector{p: p}
}

type brokerCollector struct{ p ProducerHealth }

var (
	brokerUpDesc = prometheus.NewDesc("postbackd_broker_up",
		"1 while the Kafka broker answers this process's requests, 0 once it has not for 2 s.", nil, nil)
	brokerDownDesc = prometheus.NewDesc("postbackd_broker_unreachable_seconds",
		"How long the Kafka broker has not answered; 0 while it does.", nil, nil)
	pausedDesc = prometheus.NewDesc("postbackd_produce_paused_partitions",
		"Partitions whose records wait for an ack after a retriable error (broker away, leader moving, not enough replicas).", nil, nil)
	retriesDesc = prometheus.NewDesc("postbackd_produce_retries_total",
		"Produce attempts that failed with a retriable error and were sent again.", nil, nil)
	refusedDesc = prometheus.NewDesc("postbackd_produce_refused_records_total",
		"Records the broker refused for good (too large, invalid); their inputs go to a deadletter.", nil, nil)
)

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{brokerUpDesc, brokerDownDesc, pausedDesc, retriesDesc, refusedDesc} {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.p.Health()
	up, down := 1.0, 0.0
	if !h.BrokerUp {
		up, down = 0, time.Since(h.DownSince).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(brokerUpDesc, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(brokerDownDesc, prometheus.GaugeValue, down)
	ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, float64(h.PausedPartitions))
	ch <- prometheus.MustNewConstMetric(retriesDesc, prometheus.CounterValue, float64(h.Retries))
	ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(h.Refused))
}

// HealthServer serves /healthz, /readyz and /metrics.
type HealthServer struct {
	Addr      string
	Readiness *Readiness
	Gatherer  prometheus.Gatherer
	Logger    *zap.Logger
}

// Handler returns the HTTP handler, for tests and for embedding.
func (h *HealthServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := h.Readiness.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Gatherer, promhttp.HandlerOpts{}))
	return mux
}

// Run serves until ctx is cancelled.
func (h *HealthServer) Run(ctx context.Context) error {
	logger := h.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	ln, err := net.Listen("tcp", h.Addr)
	if err != nil {
		return fmt.Errorf("health listener: %w", err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	logger.Info("health and metrics listening", zap.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
