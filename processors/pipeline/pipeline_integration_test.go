//go:build integration

package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/domain/replay"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

const testPartitions = 4

// testConfig is a configuration with topics of its own, so tests never
// see each other's records.
func testConfig(t *testing.T, brokers []string) *config.Config {
	t.Helper()
	prefix := fmt.Sprintf("t%d.%s.", time.Now().UnixNano(), strings.ToLower(t.Name()))
	yaml := fmt.Sprintf("kafka:\n  brokers: [%s]\n  partitions: %d\n  group_prefix: %s\ntopics:\n  prefix: %s\nclassified_format: json\nstate_dir: %s\n",
		strings.Join(brokers, ","), testPartitions, prefix+"g", prefix, t.TempDir())
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// generate returns n generated raw records and the replay output for them.
func generate(t *testing.T, gc generator.Config, n int) ([]generator.Record, map[string]string) {
	t.Helper()
	g := generator.New(gc)
	recs := make([]generator.Record, n)
	var in bytes.Buffer
	for i := range recs {
		recs[i] = g.Next()
		in.Write(generator.AppendJSONLine(nil, recs[i]))
	}
	var out, rejects bytes.Buffer
	if _, err := replay.Run(context.Background(), replay.Config{}, &in, &out, &rejects); err != nil {
		t.Fatal(err)
	}
	return recs, byPostbackID(t, strings.Split(strings.TrimSpace(out.String()), "\n"))
}

func byPostbackID(t *testing.T, lines []string) map[string]string {
	t.Helper()
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		if l == "" {
			continue
		}
		var r struct {
			PostbackID string `json:"postback_id"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		m[r.PostbackID] = l
	}
	return m
}

func produceRaw(t *testing.T, ctx context.Context, brokers []string, topic string, recs []generator.Record) {
	t.Helper()
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const chunk = 5000
	for i := 0; i < len(recs); i += chunk {
		msgs := make([]kafka.Message, 0, chunk)
		for _, r := range recs[i:min(i+chunk, len(recs))] {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: r.Key, Value: r.Value})
		}
		if err := p.Produce(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
}

// readUntil reads every partition of topic from the start until done says
// the records seen are enough, or nothing moved for stallLimit: no new
// record on topic and no change in moved (the stages' counters). It
// returns every value read (duplicates included).
func readUntil(t *testing.T, ctx context.Context, brokers []string, topic string, moved func() float64, done func(n int, values [][]byte) bool) [][]byte {
	t.Helper()
	var values [][]byte
	readMessagesUntil(t, ctx, brokers, topic, moved, func(ms []kafka.Message) bool {
		values = append(values, ms[len(ms)-1].Value)
		return done(len(values), values)
	})
	return values
}

// readMessagesUntil is readUntil with whole messages, headers included.
func readMessagesUntil(t *testing.T, ctx context.Context, brokers []string, topic string, moved func() float64, done func(msgs []kafka.Message) bool) []kafka.Message {
	t.Helper()
	var got []kafka.Message
	readers := make([]*kafka.Reader, testPartitions)
	for p := range readers {
		readers[p] = kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20})
		defer readers[p].Close()
	}
	msgs := make(chan kafka.Message, 1024)
	readCtx, stopReading := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(readCtx)
	for _, r := range readers {
		g.Go(func() error {
			for {
				m, err := r.ReadMessage(gctx)
				if err != nil {
					return nil
				}
				select {
				case msgs <- m:
				case <-gctx.Done():
					return nil
				}
			}
		})
	}
	defer func() {
		stopReading()
		_ = g.Wait()
	}()
	watch := newStallWatch(func() float64 { return float64(len(got)) + moved() })
	tick := time.NewTicker(stallCheck)
	defer tick.Stop()
	for {
		select {
		case m := <-msgs:
			got = append(got, m)
			if done(got) {
				return got
			}
		case <-tick.C:
			if watch.stalled() {
				t.Errorf("%s: nothing moved for %v (no new record, no stage counter change) after %d records", topic, stallLimit, len(got))
				return got
			}
		case <-ctx.Done():
			t.Errorf("%s: gave up after %d records: %v", topic, len(got), ctx.Err())
			return got
		}
	}
}

// runningStages are the three classification stages running in-process.
type runningStages struct {
	stop func()
	// progress is the sum of the stages' counters: it changes whenever
	// any stage reads, writes, rejects or restores a record.
	progress func() float64
}

// startStages runs the three classification stages in-process; a stage
// that fails cancels fail, so the test stops waiting for records.
func startStages(t *testing.T, ctx context.Context, fail context.CancelFunc, cfg *config.Config) *runningStages {
	t.Helper()
	stages := pipeline.Topology(cfg, nil)
	topics, err := stage.Topics(stages)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: cfg.Kafka.Brokers}, topics...); err != nil {
		t.Fatal(err)
	}
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	env := stage.Env{Config: cfg, Producer: p, Metrics: stage.NewMetrics(reg), Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("stages")}
	var runners []stage.Runner
	for _, s := range stages {
		r, err := s.Build(env)
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	for _, r := range runners {
		g.Go(func() error {
			err := r.Run(runCtx)
			if err != nil {
				t.Errorf("stage stopped: %v", err)
				fail()
			}
			return err
		})
	}
	return &runningStages{
		stop: func() {
			cancel()
			_ = g.Wait()
			p.Close()
		},
		progress: func() float64 { return counterSum(t, reg) },
	}
}

// TestIntegrationPipelineMatchesReplay: a generated stream of raw records
// produced in order to the raw events topic comes out of the classified
// topic as exactly the records replay gives, and every malformed record
// reaches the deadletter topic.
func TestIntegrationPipelineMatchesReplay(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	brokers := kafkatest.Brokers(t)
	// No deadline for the run: every wait below gives up only when nothing
	// moved for stallLimit.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := testConfig(t, brokers)

	recs, want := generate(t, generator.Config{Seed: 7, Devices: 5000, SingleDeviceUsers: true, MalformedRate: 0.01}, n)
	malformed := 0
	for _, r := range recs {
		if r.Malformed {
			malformed++
		}
	}
	stages := startStages(t, ctx, cancel, cfg)
	defer stages.stop()
	start := time.Now()
	produceRaw(t, ctx, brokers, cfg.Topics.RawEvents, recs)

	got := make(map[string]string, len(want))
	values := readUntil(t, ctx, brokers, cfg.Topics.Classified, stages.progress, func(_ int, vs [][]byte) bool {
		v := vs[len(vs)-1]
		for k, l := range byPostbackID(t, []string{string(v)}) {
			got[k] = l
		}
		return len(got) >= len(want)
	})
	t.Logf("%d raw records -> %d classified (%d before dedup) in %v", n, len(got), len(values), time.Since(start))
	dead := readUntil(t, ctx, brokers, cfg.Topics.Deadletter, stages.progress, func(n int, _ [][]byte) bool { return n >= malformed })

	if len(dead) != malformed {
		t.Errorf("deadletter has %d records, want %d malformed", len(dead), malformed)
	}
	missing := 0
	for id, line := range want {
		if got[id] != line {
			if missing < 5 {
				t.Errorf("postback %s:\n got %s\nwant %s", id, got[id], line)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d records missing or different", missing, len(want))
	}
	for id, line := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("extra record not in replay: %s", line)
			break
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct records, want %d", len(got), len(want))
	}
}
