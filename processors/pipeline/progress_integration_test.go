//go:build integration

package pipeline_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// stallLimit is how long nothing may move (no record read by the test, no
// stage counter changing) before a wait gives up. Waits are bounded by
// progress, never by a budget for the whole run: a slow or busy machine
// only makes a test take longer, and a test fails only when the pipeline
// has stopped.
const stallLimit = 3 * time.Minute

// stallCheck is how often a wait looks at its progress.
const stallCheck = time.Second

// counterSum is the sum of every counter reg holds: records read, written,
// rejected, skipped and restored by the stages. It grows while any stage
// does anything at all.
func counterSum(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Errorf("gather metrics: %v", err)
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

// stallWatch tells when progress has not changed for stallLimit.
type stallWatch struct {
	progress func() float64
	last     float64
	lastAt   time.Time
}

func newStallWatch(progress func() float64) *stallWatch {
	return &stallWatch{progress: progress, last: progress(), lastAt: time.Now()}
}

// stalled samples progress and reports whether it has stayed the same for
// stallLimit.
func (w *stallWatch) stalled() bool {
	if now := w.progress(); now != w.last {
		w.last, w.lastAt = now, time.Now()
		return false
	}
	return time.Since(w.lastAt) > stallLimit
}
