//go:build integration

package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/domain/replay"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// The workload of BenchmarkIntegrationPipeline: every user stays on one
// device, so the number of classified records is exactly replay's and can
// serve as the completion signal.
const (
	benchRecords    = 200_000
	benchDevices    = 50_000
	benchPartitions = 4
	benchSeed       = 11
	// benchPoll is how often completion is checked; it bounds the error
	// of each measured window.
	benchPoll = 5 * time.Millisecond
	// benchRunTimeout bounds one phase (pass-through or pipeline): at the
	// target 50,000 events/s a run takes 4s.
	benchRunTimeout = 5 * time.Minute
)

// BenchmarkIntegrationPipeline measures raw events topic -> classified
// topic through the normalize, device and user stages running in this
// process on the real broker, next to a stateless pass-through over the
// same records, partition count, producer and consumer settings, in the
// same iteration:
//
//	events/s             raw records / seconds from the first batch normalize
//	                     finished to the moment the stages had every expected
//	                     classified record acknowledged by the broker
//	passthrough-events/s raw records / seconds from the pass-through's first
//	                     finished batch to its last acknowledged record
//	x-passthrough        events/s / passthrough-events/s (target >= 0.5)
//	chain-events/s       the same records through three pass-throughs in a
//	                     row (raw -> a -> b -> c, all running at once): the
//	                     fewest hops the stages' topology has (normalize,
//	                     device, user), with no state, changelog or
//	                     classification
//	x-passthrough-chain  chain-events/s / passthrough-events/s: what the
//	                     topology alone leaves of the pass-through on this
//	                     machine, a ceiling for x-passthrough
//	join-ms              stages' start to normalize's first finished batch
//	                     (group join, Badger open), not in events/s
//	wall-events/s        raw records / seconds from the stages' start, join
//	                     included
//	cpu-us/event         this process's CPU time (user+system, from /proc;
//	                     Linux only) per raw record over the pipeline's wall
//	                     time, and passthrough-cpu-us/event the same for the
//	                     pass-through: on a shared machine CPU per event is
//	                     steadier than events/s. The broker's CPU is not in it.
//	x-passthrough-cpu    passthrough-cpu-us/event / cpu-us/event: the ratio
//	                     events/s would approach if this process's CPU were
//	                     the only limit
//	nomerge-events/s     the pipeline again, on topics of its own, with
//	                     merge.enabled: false (records classified in the
//	                     order read), and nomerge-cpu-us/event
//	x-nomerge            events/s / nomerge-events/s: what the arrival-time
//	                     merge leaves of the throughput without it
//
// The benchmark timer covers the pipeline's wall time only (join included);
// generating the records, computing the expected count with replay,
// creating topics, pre-producing the raw records and the pass-through run
// are outside it.
//
// b.N: one iteration is one whole run of the fixed workload over fresh
// topics and a fresh state dir; N only repeats it, and the metrics are
// totals over all iterations. Use -benchtime=1x. Under make bench's
// default -benchtime=1s the first probe (N=1) already times several
// seconds, so the framework stops there; should a fast machine finish
// under 1s, it runs a few more whole iterations, which stays correct.
//
// Profile with -cpuprofile: the pipeline's goroutines carry the pprof label
// phase=pipeline and the pass-through's phase=passthrough, so
// `go tool pprof -tagfocus phase=pipeline` shows only the stages.
func BenchmarkIntegrationPipeline(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	w := benchLoadWorkload(b)
	b.Logf("workload: %d raw records over %d devices, %d partitions, %d classified records expected (replay %v)",
		len(w.recs), benchDevices, benchPartitions, w.classified, w.replayTook.Round(time.Millisecond))

	var pipe, pass, chain, joins, walls, pipeCPU, passCPU, off, offCPU time.Duration
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		cfg := benchConfig(b, brokers, i)
		ctx, cancel := context.WithTimeout(context.Background(), 2*benchRunTimeout+time.Minute)
		benchSetupTopics(b, ctx, cfg)
		benchProduce(b, ctx, brokers, cfg.Topics.RawEvents, w.recs)

		pt := benchPassThrough(b, ctx, cfg, len(w.recs), 1)
		ct := benchPassThrough(b, ctx, cfg, len(w.recs), benchChainHops)
		pr := benchRunPipeline(b, ctx, cfg, w.classified)
		cfgOff := benchConfig(b, brokers, i)
		disabled := false
		cfgOff.Merge.Enabled = &disabled
		benchSetupTopics(b, ctx, cfgOff)
		benchProduce(b, ctx, brokers, cfgOff.Topics.RawEvents, w.recs)
		or := benchRunPipeline(b, ctx, cfgOff, w.classified)
		cancel()
		b.Logf("run %d: without the merge %.0f events/s (steady %v, go cpu %v)", i, float64(len(w.recs))/or.steady.Seconds(), or.steady.Round(time.Millisecond), or.cpu)
		off += or.steady
		offCPU += or.cpu
		b.Logf("run %d: pipeline %.0f events/s (steady %v, join %v, wall %v, go cpu %v); pass-through %.0f events/s (steady %v, join %v, go cpu %v); chain of %d %.0f events/s (go cpu %v)",
			i, float64(len(w.recs))/pr.steady.Seconds(), pr.steady.Round(time.Millisecond), pr.join.Round(time.Millisecond), pr.wall.Round(time.Millisecond), pr.cpu,
			float64(len(w.recs))/pt.steady.Seconds(), pt.steady.Round(time.Millisecond), pt.join.Round(time.Millisecond), pt.cpu,
			benchChainHops, float64(len(w.recs))/ct.steady.Seconds(), ct.cpu)
		pipe += pr.steady
		pass += pt.steady
		chain += ct.steady
		joins += pr.join
		walls += pr.wall
		pipeCPU += pr.cpu
		passCPU += pt.cpu
	}
	events := float64(len(w.recs) * b.N)
	pipeRate, passRate := events/pipe.Seconds(), events/pass.Seconds()
	b.ReportMetric(pipeRate, "events/s")
	b.ReportMetric(passRate, "passthrough-events/s")
	b.ReportMetric(pipeRate/passRate, "x-passthrough")
	b.ReportMetric(events/chain.Seconds(), "chain-events/s")
	b.ReportMetric(pass.Seconds()/chain.Seconds(), "x-passthrough-chain")
	b.ReportMetric(float64(joins.Milliseconds())/float64(b.N), "join-ms")
	b.ReportMetric(events/walls.Seconds(), "wall-events/s")
	b.ReportMetric(events/off.Seconds(), "nomerge-events/s")
	b.ReportMetric(off.Seconds()/pipe.Seconds(), "x-nomerge")
	if offCPU > 0 {
		b.ReportMetric(float64(offCPU.Microseconds())/events, "nomerge-cpu-us/event")
	}
	if pipeCPU > 0 && passCPU > 0 {
		b.ReportMetric(float64(pipeCPU.Microseconds())/events, "cpu-us/event")
		b.ReportMetric(float64(passCPU.Microseconds())/events, "passthrough-cpu-us/event")
		b.ReportMetric(passCPU.Seconds()/pipeCPU.Seconds(), "x-passthrough-cpu")
	}
}

// benchWorkload is the generated raw stream and what replay makes of it.
type benchWorkload struct {
	recs       []generator.Record
	classified int // classified records replay writes for recs
	replayTook time.Duration
}

var (
	benchWorkloadOnce sync.Once
	benchWorkloadVal  benchWorkload
	benchWorkloadErr  error
)

// benchLoadWorkload generates the records and replays them once per test
// binary: the framework may call the benchmark more than once.
func benchLoadWorkload(b *testing.B) benchWorkload {
	b.Helper()
	benchWorkloadOnce.Do(func() {
		g := generator.New(generator.Config{Seed: benchSeed, Devices: benchDevices, SingleDeviceUsers: true})
		recs := make([]generator.Record, benchRecords)
		var in bytes.Buffer
		for i := range recs {
			recs[i] = g.Next()
			in.Write(generator.AppendJSONLine(nil, recs[i]))
		}
		start := time.Now()
		st, err := replay.Run(context.Background(), replay.Config{}, &in, discard{}, nil)
		if err != nil {
			benchWorkloadErr = fmt.Errorf("replay: %w", err)
			return
		}
		benchWorkloadVal = benchWorkload{recs: recs, classified: st.Records, replayTook: time.Since(start)}
	})
	if benchWorkloadErr != nil {
		b.Fatal(benchWorkloadErr)
	}
	return benchWorkloadVal
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// benchConfig is a configuration whose topics, groups and state are the
// iteration's own.
func benchConfig(b *testing.B, brokers []string, iter int) *config.Config {
	b.Helper()
	prefix := fmt.Sprintf("b%d.%d.", time.Now().UnixNano(), iter)
	yaml := fmt.Sprintf("kafka:\n  brokers: [%s]\n  partitions: %d\n  group_prefix: %s\ntopics:\n  prefix: %s\nclassified_format: json\nstate_dir: %s\n",
		strings.Join(brokers, ","), benchPartitions, prefix+"g", prefix, b.TempDir())
	cfg, err := config.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// benchChainHops is the number of pass-throughs of the chain phase: one per
// stage of the pipeline.
const benchChainHops = 3

// benchPassThroughTopic is where hop (1-based) of a pass-through of hops
// hops writes.
func benchPassThroughTopic(cfg *config.Config, hops, hop int) string {
	return fmt.Sprintf("%spassthrough%d.%d", cfg.Topics.Prefix, hops, hop)
}

// benchSetupTopics creates the stages' topics and the pass-through's, all
// with the same partition count, and deletes them when the benchmark ends.
func benchSetupTopics(b *testing.B, ctx context.Context, cfg *config.Config) {
	b.Helper()
	specs, err := stage.Topics(pipeline.Topology(cfg, nil))
	if err != nil {
		b.Fatal(err)
	}
	for _, hops := range []int{1, benchChainHops} {
		for hop := 1; hop <= hops; hop++ {
			specs = append(specs, stream.TopicSpec{
				Name: benchPassThroughTopic(cfg, hops, hop), Partitions: cfg.Kafka.Partitions, ReplicationFactor: cfg.Kafka.ReplicationFactor,
			})
		}
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: cfg.Kafka.Brokers}, specs...); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { deleteBenchTopics(b, cfg, specs) })
}

// benchProduce writes recs to topic keyed by device, in order, before the
// timed part.
func benchProduce(b *testing.B, ctx context.Context, brokers []string, topic string, recs []generator.Record) {
	b.Helper()
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const chunk = 10_000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < len(recs); i += chunk {
		msgs = msgs[:0]
		for _, r := range recs[i:min(i+chunk, len(recs))] {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: r.Key, Value: r.Value})
		}
		if err := p.Produce(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
	}
}

// benchTimes are one phase's measured windows.
type benchTimes struct {
	join   time.Duration // start to first finished batch
	steady time.Duration // first finished batch to done
	wall   time.Duration // start to done
	cpu    time.Duration // this process's CPU time from start to done; 0 if unknown
}

// benchWait polls started and done every benchPoll from start until done
// holds, a run fails (errc) or ctx ends.
func benchWait(ctx context.Context, start time.Time, started, done func() bool, errc <-chan error) (benchTimes, error) {
	tick := time.NewTicker(benchPoll)
	defer tick.Stop()
	var first time.Time
	cpu0 := testkit.ProcessCPU()
	for {
		select {
		case <-tick.C:
		case err := <-errc:
			return benchTimes{}, fmt.Errorf("stopped before done: %w", err)
		case <-ctx.Done():
			return benchTimes{}, ctx.Err()
		}
		now := time.Now()
		if first.IsZero() && started() {
			first = now
		}
		if done() {
			if first.IsZero() {
				first = now
			}
			t := benchTimes{join: first.Sub(start), steady: now.Sub(first), wall: now.Sub(start)}
			if cpu0 > 0 {
				t.cpu = testkit.ProcessCPU() - cpu0
			}
			return t, nil
		}
	}
}

// benchPassThroughHandler produces every record it gets, unchanged and
// keyed as before, to out: the stateless baseline.
type benchPassThroughHandler struct {
	p   *stream.Producer
	out string
	n   atomic.Int64
}

func (h *benchPassThroughHandler) Assigned(context.Context, string, int) (int64, error) {
	return stream.CommittedOffset, nil
}

func (h *benchPassThroughHandler) Revoked(context.Context, string, int) {}

func (h *benchPassThroughHandler) Process(ctx context.Context, b stream.Batch) error {
	out := make([]kafka.Message, len(b.Messages))
	for i, m := range b.Messages {
		out[i] = kafka.Message{Topic: h.out, Key: m.Key, Value: m.Value, Headers: m.Headers}
	}
	if err := h.p.Produce(ctx, out...); err != nil {
		return err
	}
	h.n.Add(int64(len(out)))
	return nil
}

// benchPassThrough runs hops pass-throughs in a row, at once, each a
// stream.Consumer producing every record it gets to the next topic (the
// first reads the raw events topic), until the last has all n
// acknowledged. They share one producer, as the stages do.
func benchPassThrough(b *testing.B, ctx context.Context, cfg *config.Config, n, hops int) benchTimes {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, benchRunTimeout)
	defer cancel()
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, hops)
	hs := make([]*benchPassThroughHandler, hops)
	in := cfg.Topics.RawEvents
	start := time.Now()
	for i := range hs {
		hs[i] = &benchPassThroughHandler{p: p, out: benchPassThroughTopic(cfg, hops, i+1)}
		c, err := stream.NewConsumer(stream.ConsumerConfig{
			Brokers: cfg.Kafka.Brokers, GroupID: fmt.Sprintf("%s.passthrough%d.%d", cfg.Kafka.GroupPrefix, hops, i+1), Topics: []string{in},
		}, hs[i])
		if err != nil {
			b.Fatal(err)
		}
		go pprof.Do(runCtx, pprof.Labels("phase", "passthrough"), func(ctx context.Context) { errc <- c.Run(ctx) })
		in = hs[i].out
	}
	first, last := hs[0], hs[hops-1]
	times, err := benchWait(ctx, start,
		func() bool { return first.n.Load() > 0 },
		func() bool { return last.n.Load() >= int64(n) }, errc)
	stop()
	if err != nil {
		b.Fatalf("pass-through of %d hops: %v", hops, err)
	}
	for range hs {
		if err := <-errc; err != nil {
			b.Fatalf("pass-through of %d hops: %v", hops, err)
		}
	}
	return times
}

// benchRunPipeline runs the three stages until the metrics say they had
// want classified records acknowledged, under the benchmark timer, and
// then checks the classified topic holds them.
func benchRunPipeline(b *testing.B, ctx context.Context, cfg *config.Config, want int) benchTimes {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, benchRunTimeout)
	defer cancel()
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	m := stage.NewMetrics(nil)
	// The stages share one producer, as in postbackd run; each sees it
	// through a wrapper that times its Produce calls.
	produced := map[string]*benchTimedProducer{}
	var runners []stage.Runner
	for _, s := range pipeline.Topology(cfg, nil) {
		produced[s.Name] = &benchTimedProducer{p: p}
		r, err := s.Build(stage.Env{Config: cfg, Producer: produced[s.Name], Metrics: m, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		runners = append(runners, r)
	}
	normalizedIn := m.RecordsIn.WithLabelValues(pipeline.Normalize)
	deviceOut := m.RecordsOut.WithLabelValues(pipeline.Device, cfg.Topics.Classified)
	userOut := m.RecordsOut.WithLabelValues(pipeline.User, cfg.Topics.Classified)
	classified := func() int { return int(benchCount(deviceOut) + benchCount(userOut)) }

	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 3)
	var g errgroup.Group
	b.StartTimer()
	start := time.Now()
	for _, r := range runners {
		g.Go(func() (err error) {
			pprof.Do(runCtx, pprof.Labels("phase", "pipeline"), func(ctx context.Context) { err = r.Run(ctx) })
			if err != nil {
				errc <- err
			}
			return err
		})
	}
	times, err := benchWait(ctx, start,
		func() bool { return benchCount(normalizedIn) > 0 },
		func() bool { return classified() >= want }, errc)
	b.StopTimer()
	stop()
	if err != nil {
		b.Fatalf("pipeline (%d of %d classified): %v", classified(), want, err)
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("pipeline: %v", err)
	}
	for _, stage := range []string{pipeline.Normalize, pipeline.Device, pipeline.User} {
		n, sum := benchHistogram(m.BatchSeconds.WithLabelValues(stage))
		recs := benchCount(m.RecordsIn.WithLabelValues(stage))
		if n > 0 {
			tp := produced[stage]
			b.Logf("%s: %d batches, %.0f records/batch, %.1f ms/batch; %d produce calls, %.0f records/call, %.1f ms/call",
				stage, n, recs/float64(n), 1000*sum/float64(n),
				tp.calls.Load(), float64(tp.records.Load())/float64(max(tp.calls.Load(), 1)),
				float64(tp.nanos.Load())/1e6/float64(max(tp.calls.Load(), 1)))
		}
	}
	// Delivery is at least once: a produce retried after a lost ack may
	// leave a duplicate, which only costs the run a little. Fewer records
	// than replay's is a bug.
	held, err := benchTopicRecords(ctx, cfg.Kafka.Brokers, cfg.Topics.Classified, cfg.Kafka.Partitions)
	if err != nil {
		b.Fatal(err)
	}
	switch got := classified(); {
	case held < int64(want):
		b.Errorf("classified topic holds %d records, replay wrote %d (stages counted %d)", held, want, got)
	case held > int64(want) || got > want:
		b.Logf("duplicates: classified topic holds %d records, stages counted %d, replay wrote %d", held, got, want)
	}
	return times
}

// benchTimedProducer counts one stage's Produce calls, records and time
// spent waiting for acknowledgements.
type benchTimedProducer struct {
	p                     stage.Producer
	calls, records, nanos atomic.Int64
}

func (t *benchTimedProducer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	start := time.Now()
	err := t.p.Produce(ctx, msgs...)
	t.nanos.Add(int64(time.Since(start)))
	t.calls.Add(1)
	t.records.Add(int64(len(msgs)))
	return err
}

// benchTopicRecords sums the end offsets of topic's partitions.
func benchTopicRecords(ctx context.Context, brokers []string, topic string, partitions int) (int64, error) {
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, err
	}
	var sum int64
	var errs []error
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			errs = append(errs, po.Error)
		}
		sum += po.LastOffset
	}
	if len(resp.Topics[topic]) != partitions {
		errs = append(errs, fmt.Errorf("%s: offsets of %d partitions, want %d", topic, len(resp.Topics[topic]), partitions))
	}
	return sum, errors.Join(errs...)
}

// benchCount reads a counter of the stages' metrics.
func benchCount(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err) // a counter always writes
	}
	return m.GetCounter().GetValue()
}

// benchHistogram reads the sample count and sum of a histogram of the
// stages' metrics.
func benchHistogram(o prometheus.Observer) (uint64, float64) {
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		panic(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}
