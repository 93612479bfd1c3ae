//go:build integration

package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// BenchmarkIntegrationArrivalLatency measures the time from a raw record's
// arrival (its Kafka timestamp, the moment it is produced) to its
// classified record (the classified record's timestamp, when the device
// stage wrote it), at a steady 10,000 raw records/s (clicks to raw.clicks,
// events to raw.events) through normalize, device and user in this process
// on the real broker: once with the arrival-time merge at its defaults and
// once without it, in the same iteration.
//
//	p50-ms, p99-ms                  with the merge at its defaults
//	                                (producer_allowance 2s)
//	a100ms-p50-ms, a100ms-p99-ms    with producer_allowance: 100ms (what
//	                                LogAppendTime raw topics allow)
//	nomerge-p50-ms, nomerge-p99-ms  with merge.enabled: false
//	added-p50-ms, added-p99-ms      the first minus the last: what the
//	                                merge at its defaults adds
//
// POSTBACKD_BENCH_SECONDS sets each run's length (default 30).
func BenchmarkIntegrationArrivalLatency(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	seconds := 30
	if v, err := strconv.Atoi(os.Getenv("POSTBACKD_BENCH_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	const rate = 10_000
	g := generator.New(generator.Config{Seed: 41, Devices: 50_000, SingleDeviceUsers: true})
	recs := make([]generator.Record, rate*seconds)
	for i := range recs {
		recs[i] = g.Next()
	}
	var on, short, off []time.Duration
	for i := 0; i < b.N; i++ {
		for _, variant := range []string{"merge", "merge with a 100ms allowance", "no merge"} {
			cfg := benchConfig(b, brokers, i)
			into := &on
			switch variant {
			case "merge with a 100ms allowance":
				cfg.Merge.ProducerAllowance = config.Duration(100 * time.Millisecond)
				into = &short
			case "no merge":
				disabled := false
				cfg.Merge.Enabled = &disabled
				into = &off
			}
			lat := benchLatencyRun(b, cfg, recs, rate)
			b.Logf("run %d, %s: %d classified records, p50 %v, p99 %v, max %v", i, variant, len(lat),
				quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1))
			*into = append(*into, lat...)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(quantile(on, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(on, 0.99)), "p99-ms")
	b.ReportMetric(ms(quantile(short, 0.5)), "a100ms-p50-ms")
	b.ReportMetric(ms(quantile(short, 0.99)), "a100ms-p99-ms")
	b.ReportMetric(ms(quantile(off, 0.5)), "nomerge-p50-ms")
	b.ReportMetric(ms(quantile(off, 0.99)), "nomerge-p99-ms")
	b.ReportMetric(ms(quantile(on, 0.5)-quantile(off, 0.5)), "added-p50-ms")
	b.ReportMetric(ms(quantile(on, 0.99)-quantile(off, 0.99)), "added-p99-ms")
}

// benchLatencyRun runs the classification stages while recs are produced
// at rate per second, each stamped with the time it is produced, and
// returns each classified record's delay after its raw record's arrival.
func benchLatencyRun(b *testing.B, cfg *config.Config, recs []generator.Record, rate int) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout+time.Duration(len(recs)/rate)*time.Second)
	defer cancel()
	benchSetupTopics(b, ctx, cfg)
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	m := stage.NewMetrics(nil)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var g errgroup.Group
	for _, s := range pipeline.Topology(cfg, nil) {
		r, err := s.Build(stage.Env{Config: cfg, Producer: p, Metrics: m, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		g.Go(func() error { return r.Run(runCtx) })
	}

	arrived := produceAtRate(b, ctx, p, cfg, recs, rate)

	// Read the classified topic until nothing new comes for 20 s.
	var lat []time.Duration
	tl := testkit.TailTopic(b, ctx, cfg.Kafka.Brokers, cfg.Topics.Classified)
	defer tl.Stop()
	for idle := time.NewTimer(20 * time.Second); ; {
		select {
		case msg := <-tl.C:
			var c struct {
				EventID string `json:"event_id"`
			}
			if json.Unmarshal(msg.Value, &c) == nil {
				if at, ok := arrived.at(c.EventID); ok {
					lat = append(lat, msg.Time.Sub(at))
				}
			}
			idle.Reset(20 * time.Second)
			continue
		case <-idle.C:
		}
		break
	}
	stop()
	if err := g.Wait(); err != nil {
		b.Fatal(fmt.Errorf("pipeline: %w", err))
	}
	if len(lat) == 0 {
		b.Fatal("no classified record")
	}
	return lat
}

// arrivals are the raw events' arrival times by event_id, written while
// they are produced and read by the measuring side.
type arrivals struct {
	mu    sync.Mutex
	m     map[string]time.Time
	start time.Time // when producing started
}

func (a *arrivals) at(eventID string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.m[eventID]
	return t, ok
}

// produceAtRate produces recs at rate per second (every 10 ms the records
// due by then), each stamped with the time it is produced, and returns
// the events' arrival times; it returns when the last is produced.
func produceAtRate(b *testing.B, ctx context.Context, p *stream.Producer, cfg *config.Config, recs []generator.Record, rate int) *arrivals {
	b.Helper()
	start := time.Now()
	arrived := &arrivals{m: make(map[string]time.Time, len(recs)), start: start}
	const tick = 10 * time.Millisecond
	for sent := 0; sent < len(recs); {
		due := min(len(recs), int(time.Since(start).Seconds()*float64(rate))+rate/100)
		if due > sent {
			at := time.Now().Truncate(time.Millisecond)
			msgs := make([]kafka.Message, 0, due-sent)
			arrived.mu.Lock()
			for _, r := range recs[sent:due] {
				topic := cfg.Topics.RawEvents
				if r.Kind == generator.KindClick {
					topic = cfg.Topics.RawClicks
				} else if id := eventID(r.Value); id != "" {
					arrived.m[id] = at
				}
				msgs = append(msgs, kafka.Message{Topic: topic, Key: r.Key, Value: r.Value, Time: at})
			}
			arrived.mu.Unlock()
			if err := p.Produce(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			sent = due
		}
		time.Sleep(tick)
	}
	b.Logf("produced %d records in %v", len(recs), time.Since(start).Round(time.Millisecond))
	return arrived
}

// quantile is the q-quantile of ds (q=1: the largest).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
