package runtime

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
)

// Readiness tracks the partitions still restoring their state, across
// every stage of the process. /readyz answers 200 only when none is.
type Readiness struct {
	mu        sync.Mutex
	restoring map[string]struct{} // stage/partition
	started   bool
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

// Ready reports whether every owned partition is restored, and if not, why.
func (r *Readiness) Ready() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return false, "starting"
	}
	if len(r.restoring) > 0 {
		return false, fmt.Sprintf("%d partition(s) restoring", len(r.restoring))
	}
	return true, "ok"
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
