package stage

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// gateLogic holds the records whose value is "wait" and, on a Tick,
// applies the others with a state write each (records of different
// upstream partitions, so that applying one past a held one keeps each
// source in its order).
type gateLogic struct {
	held, ready []kafka.Message
	next        int64
	applied     []string
}

func (l *gateLogic) Process(_ context.Context, in Input) (Result, error) {
	for _, m := range in.Messages {
		m.Headers = append([]kafka.Header(nil), m.Headers...)
		if string(m.Value) == "wait" {
			l.held = append(l.held, m)
		} else {
			l.ready = append(l.ready, m)
		}
	}
	l.next = in.NextOffset
	return l.result(Result{}), nil
}

func (l *gateLogic) result(res Result) Result {
	res.Holding, res.HoldFrom = true, l.next
	if len(l.held) > 0 {
		res.HoldFrom = l.held[0].Offset
	}
	return res
}

func (l *gateLogic) Tick(context.Context, Tick) (Result, error) {
	res := Result{Inputs: l.ready}
	for i, m := range l.ready {
		res.Outputs = append(res.Outputs, kafka.Message{Topic: "out", Key: m.Key})
		res.Sources = append(res.Sources, i)
		res.Writes = append(res.Writes, stateWrite(m.Key, "applied"))
		l.applied = append(l.applied, string(m.Key))
	}
	l.ready = nil
	return l.result(res), nil
}

// TestRegainedPartitionRebuildsWhenAnotherCopyWrote: copy A holds a
// record, so its stored offset stays put; copy B takes the partition and
// applies a new record with the offset still there. When A gets the
// partition back, its local store is not current (B wrote since) though
// its offset equals the changelog's: A must rebuild, not apply B's record
// again from its older state.
func TestRegainedPartitionRebuildsWhenAnotherCopyWrote(t *testing.T) {
	brokers := testkit.Brokers(t, testkit.InProcessAllowed)
	ctx := context.Background()
	cl, out := "regain-cl-"+time.Now().Format("150405.000000"), "out"
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers},
		stream.TopicSpec{Name: cl, Partitions: 1, Compacted: true}, stream.TopicSpec{Name: out, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	testkit.DeleteTopicsAtEnd(t, brokers, cl, out)
	producer, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	newCopy := func(dir string, l *gateLogic) *Processor {
		p, err := New(Config{Name: "gate", ChangelogTopic: cl, StateDir: dir, Brokers: brokers, Producer: producer, Logic: l, MarksOnRelease: true})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	record := func(off int64, upPart int, value string) kafka.Message {
		m := kafka.Message{Topic: "in", Partition: 0, Offset: off, Key: []byte{byte('a' + off)}, Value: []byte(value)}
		StampSource(&m, &kafka.Message{Topic: "up", Partition: upPart, Offset: off}, 0, nil)
		return m
	}
	batch := func(msgs ...kafka.Message) stream.Batch {
		return stream.Batch{Topic: "in", Partition: 0, Messages: msgs, HighWaterMark: msgs[len(msgs)-1].Offset + 1}
	}
	step := func(p *Processor, b stream.Batch) {
		t.Helper()
		if err := p.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := p.TickAll(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	assign := func(p *Processor) int64 {
		t.Helper()
		off, err := p.Assigned(ctx, "in", 0)
		if err != nil {
			t.Fatal(err)
		}
		return off
	}

	// A: offset 0 applied; offset 1 held, offset 2 applied. Stored: 1.
	la := &gateLogic{}
	a := newCopy(dirA, la)
	assign(a)
	step(a, batch(record(0, 0, "go"), record(1, 1, "wait"), record(2, 2, "go")))
	a.Revoked(ctx, "in", 0)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// B, on an empty disk: resumes at 1, holds it again, and applies a
	// new record 3. The offset to resume from is still 1.
	lb := &gateLogic{}
	b := newCopy(dirB, lb)
	if off := assign(b); off != 1 {
		t.Fatalf("B resumes at %d, want 1 (the held record)", off)
	}
	step(b, batch(record(1, 1, "wait"), record(2, 2, "go"), record(3, 3, "go")))
	if len(lb.applied) != 1 || lb.applied[0] != "d" {
		t.Fatalf("B applied %q, want only the new record d (c was applied by A)", lb.applied)
	}
	b.Revoked(ctx, "in", 0)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// A again, on its own disk: it must take B's write.
	la2 := &gateLogic{}
	a2 := newCopy(dirA, la2)
	if off := assign(a2); off != 1 {
		t.Fatalf("A resumes at %d, want 1", off)
	}
	step(a2, batch(record(1, 1, "wait"), record(2, 2, "go"), record(3, 3, "go")))
	if len(la2.applied) != 0 {
		t.Errorf("A applied %q again after B had: its local store was taken for current", la2.applied)
	}
	a2.Revoked(ctx, "in", 0)
	_ = a2.Close()
}

func stateWrite(key []byte, value string) state.Write {
	return state.Write{Key: append([]byte(nil), key...), Value: []byte(value)}
}
