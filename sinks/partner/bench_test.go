package partner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

const benchConcurrency = 32

// bareRate is BenchmarkBareHTTPLoop's postbacks/s, for the ratio that
// BenchmarkDeliverLoopback reports when both run (bare first).
var bareRate atomic.Uint64

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkBareHTTPLoop is the baseline: a plain net/http client sending
// the same GETs, with the same headers and concurrency, and nothing else.
func BenchmarkBareHTTPLoop(b *testing.B) {
	srv := benchServer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchConcurrency}}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				id := schemas.PostbackID("app1", "dev-e", fmt.Sprint("e", i), time.Time{}, "install")
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/pb?id="+id+"&ev=install&dev=dev-e&rev=9.99", nil)
				req.Header.Set("Idempotency-Key", id)
				req.Header.Set("User-Agent", "postbackd/bench")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	rate := float64(b.N) / time.Since(start).Seconds()
	bareRate.Store(uint64(rate))
	b.ReportMetric(rate, "postbacks/s")
}

// benchPartitions is how many partitions BenchmarkDeliverLoopback feeds at
// once, and benchBatch the records per Process call. The sink stage runs
// one goroutine per owned partition (stream.Consumer), each calling
// Process for its partition's batches (at most MaxBatchRecords, 1000 by
// default) on its own store, all sharing the partner's lane; 4 is a stage
// owning 4 of the classified topic's partitions.
const (
	benchPartitions = 4
	benchBatch      = 1000
)

// BenchmarkDeliverLoopback runs postbacks through Process (rule matching,
// dedup reads, rendering, retryablehttp, delivery log, status cache,
// metrics, dedup writes applied to a memory store) as the sink stage does:
// benchPartitions goroutines, one per partition, each with its own store,
// calling Process on batches of benchBatch of its records. The partner's
// concurrency is benchConcurrency, as the bare loop's.
func BenchmarkDeliverLoopback(b *testing.B) {
	srv := benchServer(b)
	cfg := testConfig(PartnerConfig{ID: "p", Concurrency: benchConcurrency, QueueSize: benchPartitions * benchBatch,
		Rules: []RuleConfig{{Types: []string{"install"},
			URL: srv.URL + "/pb?id={postback_id}&ev={partner_event}&dev={device_id}&rev={revenue}"}}})
	s, err := New(cfg, &discardPub{}, WithVersion("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	parts := make([][]Job, benchPartitions)
	for i := range b.N {
		parts[i%benchPartitions] = append(parts[i%benchPartitions], Job{Record: record(fmt.Sprint("e", i), "install", "p")})
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, recs := range parts {
		store := state.NewMemory()
		wg.Go(func() {
			for i := 0; i < len(recs); i += benchBatch {
				writes, err := s.Process(context.Background(), store, recs[i:min(i+benchBatch, len(recs))])
				if err == nil {
					err = store.Apply(&state.Batch{Writes: writes})
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "postbacks/s")
	if bare := bareRate.Load(); bare > 0 {
		b.ReportMetric(100*rate/float64(bare), "%_of_bare")
	}
}

// discardPub acknowledges everything at once.
type discardPub struct{}

func (discardPub) PublishLog(context.Context, []DeliveryLogEntry) error { return nil }
func (discardPub) ScheduleRetry(context.Context, int, Job) error        { return nil }
func (discardPub) DeadLetter(context.Context, Job, string) error        { return nil }
