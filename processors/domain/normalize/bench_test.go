package normalize

import (
	"testing"
	"time"
)

// BenchmarkNormalizeJSON: one raw JSON event line to a validated Input, the
// per-event cost replay pays before classification.
func BenchmarkNormalizeJSON(b *testing.B) {
	n := newNormalizer(b)
	line := []byte(okEvent)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Normalize(line, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
