//go:build integration

package pipeline_test

import (
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
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/devtools/testkit/traffic"
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

// postbackIDOf is the postback_id of a classified JSON record.
func postbackIDOf(t *testing.T, v []byte) string {
	t.Helper()
	var r struct {
		PostbackID string `json:"postback_id"`
	}
	if err := json.Unmarshal(v, &r); err != nil {
		t.Fatalf("bad record %q: %v", v, err)
	}
	return r.PostbackID
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
// the records seen are enough; it fails t when nothing moved for
// stallLimit: no new record on topic and no change in the stages'
// counters (progress). It returns every record read (duplicates
// included).
func readUntil(t *testing.T, ctx context.Context, brokers []string, topic string, progress func() int64, done func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	return testkit.Wait{Progress: progress, Stall: stallLimit}.ReadTopic(t, ctx, brokers, topic, done)
}

// runningStages are the three classification stages running in-process.
type runningStages struct {
	stop func()
	// progress is the sum of the stages' counters: it changes whenever
	// any stage reads, writes, rejects or restores a record.
	progress func() int64
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
		progress: testkit.CounterProgress(reg),
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

	traf := traffic.Generate(t, ctx, generator.Config{Seed: 7, Devices: 5000, SingleDeviceUsers: true, MalformedRate: 0.01}, n)
	recs, want := traf.Records, traf.ByPostbackID(t)
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
	values := readUntil(t, ctx, brokers, cfg.Topics.Classified, stages.progress, func(ms []kafka.Message) bool {
		v := ms[len(ms)-1].Value
		got[postbackIDOf(t, v)] = string(v)
		return len(got) >= len(want)
	})
	t.Logf("%d raw records -> %d classified (%d before dedup) in %v", n, len(got), len(values), time.Since(start))
	dead := readUntil(t, ctx, brokers, cfg.Topics.Deadletter, stages.progress, testkit.AtLeast(malformed))

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
