package testkit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// CounterProgress is a Wait.Progress over postbackd's counters in reg:
// records read, written, rejected, skipped and restored by the stages
// registered on it, so it moves while any of them does any work. What
// moves while no work is done is left out: the Go runtime's and the
// process's counters, and the control records (watermarks) the stages
// exchange while idle.
func CounterProgress(reg prometheus.Gatherer) func() int64 {
	return func() int64 {
		families, err := reg.Gather()
		if err != nil {
			return 0
		}
		var sum float64
		for _, f := range families {
			if f.GetType() != dto.MetricType_COUNTER || !strings.HasPrefix(f.GetName(), "postbackd_") || f.GetName() == "postbackd_control_records_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
		return int64(sum)
	}
}

// ProgressContext returns a context that is cancelled, and t failed, when
// w.Progress has not changed for w.Stall: a test that runs a long step
// (a restore) bounds it by progress rather than by a deadline. stop ends
// the watch; call it before the test returns.
func (w Wait) ProgressContext(t testing.TB, parent context.Context) (ctx context.Context, stop func()) {
	t.Helper()
	w.defaults()
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(max(w.Poll, time.Second))
		defer tick.Stop()
		last, since := w.Progress(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if n := w.Progress(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > w.Stall {
				t.Errorf("nothing moved for %v (progress stuck at %d): giving up", w.Stall, n)
				cancel()
				return
			}
		}
	}()
	return ctx, func() {
		close(done)
		<-finished
		cancel()
	}
}
