//go:build integration

package stage_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// stallLimit is how long nothing may move (no stage counter changing)
// before a test gives up. Tests are bounded by progress, never by a budget
// for the whole run: a slow or busy machine only makes them take longer.
const stallLimit = 3 * time.Minute

// counterSum is the sum of every counter reg holds: records processed,
// written, rejected, skipped and restored. It grows while a stage does
// anything at all.
func counterSum(reg prometheus.Gatherer) float64 {
	families, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// progressContext returns a context that is cancelled, and the test
// failed, when progress has not changed for stallLimit. stop ends the
// watch; it must be called before the test returns.
func progressContext(t *testing.T, parent context.Context, progress func() float64) (ctx context.Context, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastAt := progress(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if now := progress(); now != last {
				last, lastAt = now, time.Now()
			} else if time.Since(lastAt) > stallLimit {
				t.Errorf("nothing moved for %v (stage counters stuck at %v): giving up", stallLimit, now)
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
