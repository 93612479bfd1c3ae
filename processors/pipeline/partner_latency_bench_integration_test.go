//go:build integration

package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// BenchmarkIntegrationPartnerLatency measures the whole pipeline's latency
// from a raw event's arrival (its Kafka timestamp, the moment it is
// produced) to the partner's 2xx for each postback made from it, at a
// steady 10,000 raw records/s for 60 s (POSTBACKD_BENCH_SECONDS) on the
// real broker: normalize, device, user and the sink in one process (what
// `postbackd run` starts), delivering every record type in mode all to a
// loopback partner that answers at once. The first 10 s of traffic warm
// the pipeline up (its consumer groups join, its connections open) and
// are not measured. Once with the arrival-time
// merge's defaults (producer_allowance 2s: CreateTime raw topics written by
// producers with clocks up to 2 s apart) and once with producer_allowance
// 100ms (what LogAppendTime raw topics allow), in the same iteration.
//
//	p50-ms, p95-ms, p99-ms                      with the defaults
//	a100ms-p50-ms, a100ms-p95-ms, a100ms-p99-ms with producer_allowance 100ms
//
// POSTBACKD_BENCH_RATE sets another rate (records/s) and
// POSTBACKD_BENCH_CONCURRENCY the partner's concurrency (default 64), to
// tell the pipeline's own latency from its queueing once a machine cannot
// keep up.
func BenchmarkIntegrationPartnerLatency(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	seconds := 60
	if v, err := strconv.Atoi(os.Getenv("POSTBACKD_BENCH_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	rate := 10_000
	if v, err := strconv.Atoi(os.Getenv("POSTBACKD_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	g := generator.New(generator.Config{Seed: 43, Devices: 50_000, SingleDeviceUsers: true})
	recs := make([]generator.Record, rate*(seconds+int(partnerBenchWarmup/time.Second)))
	for i := range recs {
		recs[i] = g.Next()
	}
	var defaults, short []time.Duration
	for i := 0; i < b.N; i++ {
		for _, allowance := range []time.Duration{0, 100 * time.Millisecond} {
			cfg := benchConfig(b, brokers, i)
			into := &defaults
			if allowance > 0 {
				cfg.Merge.ProducerAllowance = config.Duration(allowance)
				into = &short
			}
			lat := benchPartnerLatencyRun(b, cfg, recs, rate)
			b.Logf("run %d, allowance %v: %d postbacks acknowledged, p50 %v, p95 %v, p99 %v, max %v", i, cfg.Merge.ProducerAllowance.D(), len(lat),
				quantile(lat, 0.5), quantile(lat, 0.95), quantile(lat, 0.99), quantile(lat, 1))
			*into = append(*into, lat...)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
		b.ReportMetric(ms(quantile(defaults, q.q)), q.name+"-ms")
		b.ReportMetric(ms(quantile(short, q.q)), "a100ms-"+q.name+"-ms")
	}
}

// benchPartnerLatencyRun runs the whole pipeline while recs are produced
// at rate per second and returns, for each postback the partner
// acknowledged, the time from its event's arrival to the partner's 2xx.
func benchPartnerLatencyRun(b *testing.B, cfg *config.Config, recs []generator.Record, rate int) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout+time.Duration(len(recs)/rate)*time.Second)
	defer cancel()

	// The partner: answers 200 at once and notes when it answered each
	// postback first (a repeat would not count).
	var mu sync.Mutex
	acked := map[string]ack{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Idempotency-Key")
		w.WriteHeader(http.StatusOK)
		now := time.Now()
		mu.Lock()
		if _, seen := acked[id]; !seen {
			acked[id] = ack{eventID: r.URL.Query().Get("e"), at: now}
		}
		mu.Unlock()
	}))
	defer srv.Close()
	sc := partner.Config{AllowPrivateNetworks: true, Partners: []partner.PartnerConfig{{
		ID: "bench", Concurrency: benchConcurrency(), QueueSize: 10_000,
		Rules: []partner.RuleConfig{{Types: schemas.RecordTypes, Mode: partner.ModeAll, URL: srv.URL + "/pb?id={postback_id}&e={event_id}"}},
	}}}
	stages := pipeline.Topology(cfg, &sc)
	specs, err := stage.Topics(stages)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { deleteBenchTopics(b, cfg, specs) })

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	readiness := make(chan *stage.Readiness, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(runCtx, cfg, stages, pipeline.RunOptions{Logger: zap.NewNop(), Readiness: func(r *stage.Readiness) { readiness <- r }})
	}()
	select {
	case r := <-readiness:
		for ok, _ := r.Ready(); !ok; ok, _ = r.Ready() {
			time.Sleep(50 * time.Millisecond)
		}
	case err := <-done:
		b.Fatalf("pipeline: %v", err)
	}
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	arrived := produceAtRate(b, ctx, p, cfg, recs, rate)

	// Done when no postback was acknowledged for 20 s.
	for last := -1; ; {
		time.Sleep(20 * time.Second)
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == last {
			break
		}
		last = n
	}
	stop()
	if err := <-done; err != nil {
		b.Fatalf("pipeline: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	lat := make([]time.Duration, 0, len(acked))
	for _, a := range acked {
		if at, ok := arrived.at(a.eventID); ok && !at.Before(arrived.start.Add(partnerBenchWarmup)) {
			lat = append(lat, a.at.Sub(at))
		}
	}
	if len(lat) == 0 {
		b.Fatal("no postback acknowledged")
	}
	return lat
}

// partnerBenchWarmup is the traffic before the measured part.
const partnerBenchWarmup = 10 * time.Second

type ack struct {
	eventID string
	at      time.Time
}

// deleteBenchTopics deletes a benchmark run's topics.
func deleteBenchTopics(b *testing.B, cfg *config.Config, specs []stream.TopicSpec) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	c := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...)}
	if _, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names}); err != nil {
		b.Logf("deleting bench topics: %v", err)
	}

}

// benchConcurrency is the partner's concurrency: POSTBACKD_BENCH_CONCURRENCY
// or 64.
func benchConcurrency() int {
	if v, err := strconv.Atoi(os.Getenv("POSTBACKD_BENCH_CONCURRENCY")); err == nil && v > 0 {
		return v
	}
	return 64
}
