//go:build integration

package sinkstage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// benchConcurrency is the partner's concurrency and the bare loop's.
const benchConcurrency = 32

// benchPartner is a loopback partner that answers 200 to everything and
// notes when the first and the want-th request arrived.
type benchPartner struct {
	*httptest.Server
	want        int64
	n           atomic.Int64
	first, last atomic.Int64 // unix ns
	done        chan struct{}
}

func newBenchPartner(b *testing.B, want int) *benchPartner {
	bp := &benchPartner{want: int64(want), done: make(chan struct{})}
	bp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		now := time.Now().UnixNano()
		n := bp.n.Add(1)
		if n == 1 {
			bp.first.Store(now)
		}
		if n == bp.want {
			bp.last.Store(now)
			close(bp.done)
		}
	}))
	b.Cleanup(bp.Close)
	return bp
}

// benchPath is the postback the rule renders, for the bare loop to send
// the same.
func benchPath(r *schemas.Classified) string {
	return "/pb?id=" + r.PostbackID + "&ev=install&dev=" + r.DeviceID
}

// bareLoop sends the same requests (URL, Idempotency-Key, User-Agent) with
// a plain net/http client and the same concurrency, and returns its rate.
func bareLoop(b *testing.B, recs []schemas.Classified) float64 {
	srv := newBenchPartner(b, len(recs))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchConcurrency}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(recs)) {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+benchPath(&recs[i]), nil)
				req.Header.Set("Idempotency-Key", recs[i].PostbackID)
				req.Header.Set("User-Agent", "postbackd/dev")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	return float64(len(recs)) / time.Since(start).Seconds()
}

// BenchmarkIntegrationSinkStage measures postbacks/s from the classified
// topic (testPartitions partitions, JSON records as the device classifier
// writes them) through the sink stage (consumer group, decoding, dedup
// reads and writes on Badger, changelog, delivery log to Kafka) to a
// loopback partner, from the first request the partner gets to the moment
// the stage has processed every batch (so the group join and the first
// fetch are left out; join-ms reports them). In the same run, before it, a
// bare net/http loop sends the same requests with the same headers and
// concurrency; the benchmark reports both rates and their ratio. Run it
// with a fixed count, e.g. -benchtime=50000x.
func BenchmarkIntegrationSinkStage(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	recs := make([]schemas.Classified, b.N)
	for i := range recs {
		recs[i] = install(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), "bench")
	}
	// The labels separate the bare loop's and the stage's samples in a
	// -cpuprofile (go tool pprof -tagfocus part=stage).
	var bare float64
	pprof.Do(ctx, pprof.Labels("part", "bare"), func(context.Context) { bare = bareLoop(b, recs) })
	pprof.Do(ctx, pprof.Labels("part", "stage"), func(ctx context.Context) { benchStage(b, ctx, brokers, recs, bare) })
}

// benchStage is BenchmarkIntegrationSinkStage's run of the stage.
func benchStage(b *testing.B, ctx context.Context, brokers []string, recs []schemas.Classified, bare float64) {
	srv := newBenchPartner(b, b.N)
	cfg, sc := parseConfig(b, configText(b, brokers, b.TempDir(), fmt.Sprintf(`
allow_private_networks: true
retry: {in_process: {max_attempts: 3, max_wait: 100ms}, tiers: [1s]}
partners:
  - id: bench
    concurrency: %d
    queue_size: %d
    rules: [{types: [install], url: "%s/pb?id={postback_id}&ev={partner_event}&dev={device_id}"}]
`, benchConcurrency, testPartitions*1000, srv.URL)))
	ensureTopics(b, ctx, cfg, sc)
	produceClassified(b, ctx, newProducer(b, brokers), cfg.Topics.Classified, recs)

	b.ResetTimer()
	start := time.Now()
	reg, errc, stop := runBenchStage(b, ctx, brokers, cfg, sc)
	select {
	case <-srv.done:
	case err := <-errc:
		b.Fatalf("sink stage stopped: %v", err)
	case <-ctx.Done():
		b.Fatalf("%d of %d postbacks delivered", srv.n.Load(), b.N)
	}
	// Every postback is out; the batches end when their changelog, delivery
	// log and state writes are done.
	for {
		_, records, _ := batchStats(b, reg)
		if records >= float64(b.N) {
			break
		}
		select {
		case err := <-errc:
			b.Fatalf("sink stage stopped: %v", err)
		case <-ctx.Done():
			b.Fatalf("%v of %d records processed", records, b.N)
		case <-time.After(5 * time.Millisecond):
		}
	}
	end := time.Now()
	b.StopTimer()
	stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if n := srv.n.Load(); n != int64(b.N) {
		b.Errorf("the partner got %d requests, want %d", n, b.N)
	}
	first := time.Unix(0, srv.first.Load())
	rate := float64(b.N) / end.Sub(first).Seconds()
	b.ReportMetric(rate, "postbacks/s")
	b.ReportMetric(bare, "bare_postbacks/s")
	b.ReportMetric(100*rate/bare, "%_of_bare")
	b.ReportMetric(float64(first.Sub(start).Milliseconds()), "join-ms")
}

// runBenchStage builds the sink stage for cfg and sc with a registry of its
// own and runs it until stop; errc gets Run's result. Unlike the tests'
// startStage it logs nothing (logging would be in the measured CPU) and
// hands the stage's failure to the benchmark's wait loop.
func runBenchStage(b *testing.B, ctx context.Context, brokers []string, cfg *config.Config, sc partner.Config) (*prometheus.Registry, <-chan error, context.CancelFunc) {
	b.Helper()
	reg := prometheus.NewRegistry()
	env := stage.Env{Config: cfg, Producer: newProducer(b, brokers), Logger: zap.NewNop(), Metrics: stage.NewMetrics(reg)}
	st, err := sinkstage.New(env, sc)
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- st.Run(runCtx) }()
	return reg, errc, stop
}
