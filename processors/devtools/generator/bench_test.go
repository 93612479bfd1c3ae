package generator_test

import (
	"io"
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/generator"
)

// BenchmarkNext measures the generator on the big run it must handle:
// 100,000 devices.
func BenchmarkNext(b *testing.B) {
	g := generator.New(generator.Config{Seed: 1, Devices: 100_000, MalformedRate: 0.01})
	b.ReportAllocs()
	b.ResetTimer()
	var bytes int64
	for b.Loop() {
		bytes += int64(len(g.Next().Value))
	}
	b.SetBytes(bytes / int64(max(b.N, 1)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkWriteJSONLines(b *testing.B) {
	g := generator.New(generator.Config{Seed: 1, Devices: 1000})
	b.ReportAllocs()
	for b.Loop() {
		if err := generator.WriteJSONLines(io.Discard, g, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
