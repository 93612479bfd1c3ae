//go:build integration

package stage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// deviceLogic runs the device classifier and outputs classified records
// as Avro, as the device stage does.
type deviceLogic struct{ c *classify.Device }

func (l deviceLogic) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	st, msgs := in.Store, in.Messages
	inputs := make([]schemas.Input, len(msgs))
	for i, m := range msgs {
		in, err := schemas.DecodeInput(m.Value)
		if err != nil {
			return stage.Result{}, err
		}
		inputs[i] = in
	}
	dr, err := l.c.Classify(st, inputs)
	if err != nil {
		return stage.Result{}, err
	}
	var res stage.Result
	for i := range dr.Classified {
		v, err := schemas.EncodeClassified(nil, &dr.Classified[i])
		if err != nil {
			return res, err
		}
		res.Outputs = append(res.Outputs, kafka.Message{Topic: "classified", Key: []byte(dr.Classified[i].PostbackID), Value: v})
		// inputs are msgs one for one, so the classifier's source index
		// is the message's.
		res.Sources = append(res.Sources, dr.Sources[i])
	}
	res.Writes = dr.Writes
	return res, nil
}

// capturing sends changelog records to Kafka and keeps the outputs for
// comparison.
type capturing struct {
	real      *stream.Producer
	changelog string
	mu        sync.Mutex
	outputs   []kafka.Message
}

func (c *capturing) Produce(ctx context.Context, msgs ...kafka.Message) error {
	var toKafka []kafka.Message
	c.mu.Lock()
	for _, m := range msgs {
		if m.Topic == c.changelog {
			toKafka = append(toKafka, m)
		} else {
			c.outputs = append(c.outputs, m)
		}
	}
	c.mu.Unlock()
	return c.real.Produce(ctx, toKafka...)
}

func (c *capturing) take() []kafka.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.outputs
	c.outputs = nil
	return out
}

func inputBatch(t *testing.T, first int64, inputs []schemas.Input) stream.Batch {
	t.Helper()
	b := stream.Batch{Topic: "events.by-device", Partition: 0}
	for i := range inputs {
		v, err := schemas.EncodeInput(nil, &inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		b.Messages = append(b.Messages, kafka.Message{Topic: b.Topic, Offset: first + int64(i), Value: v})
	}
	b.HighWaterMark = first + int64(len(inputs))
	return b
}

func installs(devices int, at time.Time, typ string) []schemas.Input {
	out := make([]schemas.Input, 0, devices*2)
	for d := 0; d < devices; d++ {
		dev := fmt.Sprintf("dev-%d", d)
		out = append(out,
			schemas.Input{Click: &schemas.Click{ClickID: fmt.Sprintf("c-%s-%d", typ, d), Touch: schemas.TouchClick, Partner: "adnet", AppID: "app", DeviceID: dev, TS: at.Add(-time.Hour)}},
			schemas.Input{Event: &schemas.Event{EventID: fmt.Sprintf("e-%s-%d", typ, d), AppID: "app", Platform: schemas.PlatformAndroid, DeviceID: dev, Type: typ, TS: at}},
		)
	}
	return out
}

// TestIntegrationRestoreFromChangelog: a copy with an empty disk rebuilds
// a partition's state from the changelog, and then classifies the next
// events exactly as the copy that wrote the state does.
func TestIntegrationRestoreFromChangelog(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	// No deadline for the run: the test gives up only when no counter of
	// either copy (records processed, changelog records restored) moved
	// for stallLimit.
	reg := prometheus.NewRegistry()
	metrics := stage.NewMetrics(reg)
	ctx, stop := testkit.Wait{Progress: testkit.CounterProgress(reg), Stall: stallLimit}.ProgressContext(t, context.Background())
	defer stop()
	changelog := kafkatest.Topic(t, brokers, 1)
	real, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()

	devices := 100_000
	if testing.Short() {
		devices = 10_000
	}
	newCopy := func(dir string) (*stage.Processor, *capturing) {
		p := &capturing{real: real, changelog: changelog}
		sf, err := stage.New(stage.Config{
			Name: "device", ChangelogTopic: changelog, StateDir: dir, Brokers: brokers,
			Producer: p, Logic: deviceLogic{classify.NewDevice(nil)}, Metrics: metrics,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sf, p
	}

	original, origOut := newCopy(filepath.Join(t.TempDir(), "original"))
	defer original.Close()
	if off, err := original.Assigned(ctx, "events.by-device", 0); err != nil || off != stream.CommittedOffset {
		t.Fatalf("fresh Assigned = %d, %v; want CommittedOffset", off, err)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	first := installs(devices, t0, schemas.EventInstall)
	const chunk = 4000
	var next int64
	for i := 0; i < len(first); i += chunk {
		part := first[i:min(i+chunk, len(first))]
		if err := original.Process(ctx, inputBatch(t, next, part)); err != nil {
			t.Fatal(err)
		}
		next += int64(len(part))
	}
	origOut.take()

	// An empty disk given the partition restores from the changelog.
	restored, restOut := newCopy(filepath.Join(t.TempDir(), "restored"))
	defer restored.Close()
	start := time.Now()
	off, err := restored.Assigned(ctx, "events.by-device", 0)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if off != next {
		t.Fatalf("restored copy resumes at %d, want %d", off, next)
	}
	t.Logf("restored %d state records in %v: %.0f records/s", devices, took, float64(devices)/took.Seconds())

	// The next events: re-engagements 40 days on, after fresh clicks.
	second := installs(devices/10, t0.Add(40*24*time.Hour), schemas.EventLaunch)
	b := inputBatch(t, next, second)
	if err := original.Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := restored.Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	want, got := origOut.take(), restOut.take()
	if len(want) != devices/10 {
		t.Fatalf("original produced %d records, want %d reengagements", len(want), devices/10)
	}
	if len(got) != len(want) {
		t.Fatalf("restored copy produced %d records, original %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("record %d differs after restore", i)
		}
	}
}
