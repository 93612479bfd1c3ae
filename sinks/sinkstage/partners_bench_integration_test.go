//go:build integration

package sinkstage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// BenchmarkIntegrationSinkPartners measures the sink's CPU per classified
// record when the same classified stream (b.N installs, all attributed to
// partner p0) goes to 1, 10 and 50 partners in attributed mode, in the
// same run. The fan-out reads and decodes each record once and hands it
// to p0 alone, whose group delivers it; the other partners' groups get
// nothing. (Before the fan-out every partner's group read and decoded
// every record: 49, 78.5 and 1,146 µs on the project's machine.) CPU is
// this process's (user+system, from /proc) from the stage's start (group
// joins and one Badger store per partner and partition included) to the
// moment the fan-out has read every record and p0 has delivered every
// one; the partner's delivery is the same b.N calls in each.
//
//	cpu-us/record-1, -10, -50   CPU per classified record
//	x10, x50                    CPU of 10 and 50 partners over 1's
//
// Run it with a fixed count, e.g. -benchtime=20000x.
func BenchmarkIntegrationSinkPartners(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	recs := make([]schemas.Classified, b.N)
	for i := range recs {
		recs[i] = install(fmt.Sprintf("fan-%d-%d", time.Now().UnixNano(), i), "p0")
	}
	cpu := map[int]float64{}
	for _, n := range []int{1, 10, 50} {
		cpu[n] = benchPartners(b, brokers, recs, n)
		b.Logf("%d partners: %.1f µs CPU per classified record", n, cpu[n])
	}
	b.ReportMetric(cpu[1], "cpu-us/record-1")
	b.ReportMetric(cpu[10], "cpu-us/record-10")
	b.ReportMetric(cpu[50], "cpu-us/record-50")
	b.ReportMetric(cpu[10]/cpu[1], "x10")
	b.ReportMetric(cpu[50]/cpu[1], "x50")
}

func benchPartners(b *testing.B, brokers []string, recs []schemas.Classified, partners int) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := newBenchPartner(b, len(recs))
	var sink strings.Builder
	sink.WriteString("allow_private_networks: true\nretry: {in_process: {max_attempts: 3, max_wait: 100ms}, tiers: [1s]}\npartners:\n")
	for i := range partners {
		fmt.Fprintf(&sink, "  - id: p%d\n    concurrency: %d\n    queue_size: %d\n    rules: [{types: [install], mode: attributed, url: \"%s/pb?id={postback_id}\"}]\n",
			i, benchConcurrency, testPartitions*1000, srv.URL)
	}
	cfg, sc := parseConfig(b, configText(b, brokers, b.TempDir(), sink.String()))
	ensureTopics(b, ctx, cfg, sc)
	produceClassified(b, ctx, newProducer(b, brokers), cfg.Topics.Classified, recs)

	cpu0 := testkit.ProcessCPU()
	reg, errc, stop := runBenchStage(b, ctx, brokers, cfg, sc)
	want := float64(2 * len(recs)) // the fan-out's reads and p0's jobs
	for {
		_, records, _ := batchStats(b, reg)
		if records >= want && srv.n.Load() >= int64(len(recs)) {
			break
		}
		select {
		case err := <-errc:
			b.Fatalf("sink stage stopped: %v", err)
		case <-ctx.Done():
			b.Fatalf("%v of %v records processed, %d of %d delivered", records, want, srv.n.Load(), len(recs))
		case <-time.After(5 * time.Millisecond):
		}
	}
	used := testkit.ProcessCPU() - cpu0
	stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return float64(used.Microseconds()) / float64(len(recs))
}
