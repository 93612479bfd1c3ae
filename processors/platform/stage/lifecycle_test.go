package stage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// passLogic writes each input to "out" and, when write is set, a state
// value per input.
type passLogic struct {
	write bool
	held  []string // topics Hold was called for
}

func (l *passLogic) Process(_ context.Context, in Input) (Result, error) {
	var res Result
	for i, m := range in.Messages {
		res.Outputs = append(res.Outputs, kafka.Message{Topic: "out", Key: m.Key, Value: m.Value})
		res.Sources = append(res.Sources, i)
		if l.write {
			res.Writes = append(res.Writes, state.Write{Key: m.Key, Value: []byte(in.Topic)})
		}
	}
	return res, nil
}

func (l *passLogic) Hold(_ context.Context, b stream.Batch) error {
	l.held = append(l.held, b.Topic)
	if b.Topic == "wait" {
		return context.Canceled
	}
	return nil
}

// TestStatelessStageStampsAndProduces: a stage without a changelog (normalize)
// has no store to own: any partition is processed, its outputs carry their
// sources, and nothing is written but the outputs.
func TestStatelessStageStampsAndProduces(t *testing.T) {
	p := &fakeProducer{}
	s, err := New(Config{Name: "n", Producer: p, Logic: &passLogic{}})
	if err != nil {
		t.Fatal(err)
	}
	if off, err := s.Assigned(context.Background(), "raw", 5); err != nil || off != stream.CommittedOffset {
		t.Fatalf("Assigned = %d, %v; want the group's committed offset", off, err)
	}
	b := batchOf(40, "a", "b")
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(p.got) != 2 {
		t.Fatalf("produced %d records, want the 2 outputs only", len(p.got))
	}
	for i, m := range p.got {
		v, ok := SourceOf(&m)
		src, err := ParseSource(v)
		if !ok || err != nil || src.Offset != 40+int64(i) || src.Topic != "in" || src.Partition != 3 {
			t.Errorf("output %d source %+v (%v, %v), want in/3 at %d", i, src, ok, err, 40+i)
		}
	}
}

// TestHoldRunsBeforeTheBatch: a Holder's Hold sees every batch before it
// is processed, and its error stops the batch before anything is written.
func TestHoldRunsBeforeTheBatch(t *testing.T) {
	p := &fakeProducer{}
	l := &passLogic{write: true}
	s, err := New(Config{Name: "h", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"}, Producer: p, Logic: l})
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	if err := s.keep(3, st); err != nil {
		t.Fatal(err)
	}
	b := batchOf(0, "a")
	b.Topic = "wait"
	if err := s.Process(context.Background(), b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Process = %v, want Hold's error", err)
	}
	if len(p.got) != 0 {
		t.Fatalf("a held batch wrote %d records", len(p.got))
	}
	if err := s.Process(context.Background(), batchOf(0, "a")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.held, ",") != "wait,in" {
		t.Errorf("Hold saw %v, want wait then in", l.held)
	}
}

// TestCatchUpStoreKeepsAnOffsetPerTopic: a RestoreCatchUp store is shared
// by the stage's input topics of one partition number, each resuming from
// its own offset.
func TestCatchUpStoreKeepsAnOffsetPerTopic(t *testing.T) {
	p := &fakeProducer{}
	s, err := New(Config{Name: "c", ChangelogTopic: "cl", Restore: RestoreCatchUp, StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
		Consumer: stream.ConsumerConfig{Topics: []string{"a", "b"}}, Producer: p, Logic: &passLogic{write: true}})
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	if err := s.keep(3, st); err != nil {
		t.Fatal(err)
	}
	for topic, first := range map[string]int64{"a": 10, "b": 70} {
		b := batchOf(first, "k-"+topic)
		b.Topic = topic
		if err := s.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	for topic, want := range map[string]int64{"in:a": 11, "in:b": 71} {
		if off, ok, err := st.Offset(topic); err != nil || !ok || off != want {
			t.Errorf("offset %s = %d %v %v, want %d", topic, off, ok, err, want)
		}
	}
	for _, m := range p.got {
		if m.Topic == "cl" && len(m.Headers) != 0 {
			t.Errorf("a catch-up changelog record carries %d headers, want none (no input offset to rebuild from)", len(m.Headers))
		}
	}
}

// TestRebuildStoreReadsOneTopic: a store rebuilt from the changelog's last
// input offset cannot serve two input topics.
func TestRebuildStoreReadsOneTopic(t *testing.T) {
	_, err := New(Config{Name: "r", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
		Consumer: stream.ConsumerConfig{Topics: []string{"a", "b"}}, Producer: &fakeProducer{}, Logic: &passLogic{}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
}

// refusingChangelog refuses every changelog record for good.
type refusingChangelog struct{ fakeProducer }

func (r *refusingChangelog) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) > 0 && msgs[0].Topic == "cl" {
		pe := &stream.ProduceError{Messages: len(msgs)}
		for i := range msgs {
			pe.Failed = append(pe.Failed, stream.MessageError{Index: i, Err: errors.New("too large")})
		}
		return pe
	}
	return r.fakeProducer.Produce(ctx, msgs...)
}

// TestChangelogRefusedHook: with ChangelogRefused set, a changelog record
// the broker refuses for good is reported to it and the batch goes on;
// without it, the batch fails before its state is applied.
func TestChangelogRefusedHook(t *testing.T) {
	for _, hooked := range []bool{true, false} {
		var refused []string
		cfg := Config{Name: "s", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
			Producer: &refusingChangelog{}, Logic: &passLogic{write: true}}
		if hooked {
			cfg.ChangelogRefused = func(m kafka.Message, err error) { refused = append(refused, string(m.Key)) }
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st := state.NewMemory()
		if err := s.keep(3, st); err != nil {
			t.Fatal(err)
		}
		err = s.Process(context.Background(), batchOf(0, "a"))
		_, applied, _ := st.Offset(inputOffsetName)
		switch {
		case hooked && (err != nil || !applied || strings.Join(refused, ",") != "a"):
			t.Errorf("with the hook: err %v, applied %v, refused %v; want nil, true, [a]", err, applied, refused)
		case !hooked && (err == nil || applied):
			t.Errorf("without the hook: err %v, applied %v; want an error and nothing applied", err, applied)
		}
	}
}

// failOn fails the batches of one topic and counts what it was offered.
type failOn struct {
	topic string
	seen  map[string]int
}

func (l *failOn) Process(_ context.Context, in Input) (Result, error) {
	l.seen[in.Topic] += len(in.Messages)
	if in.Topic == l.topic {
		return Result{}, errors.New("delivery failed")
	}
	return Result{}, nil
}

func sourced(topic string, first int64, n int) stream.Batch {
	b := stream.Batch{Topic: topic, Partition: 3}
	for i := range n {
		m := kafka.Message{Topic: topic, Partition: 3, Offset: first + int64(i), Key: []byte("k")}
		StampSource(&m, &kafka.Message{Topic: "up", Partition: 0, Offset: 100 + int64(i)}, 0, nil)
		b.Messages = append(b.Messages, m)
	}
	return b
}

// TestFailedBatchMarksNotCommittedByAnotherTopic: a sink's classified
// batch fails after its filter moved the source marks in memory; a retry
// tier's batch of the same store, processed while the stage drains, must
// not commit them, or the classified records, read again after the
// restart, would be dropped as repeats and never offered to the partner
// (found in review).
func TestFailedBatchMarksNotCommittedByAnotherTopic(t *testing.T) {
	st := state.NewMemory()
	newProc := func(l Logic) *Processor {
		p, err := New(Config{Name: "sink/x", ChangelogTopic: "cl", Restore: RestoreCatchUp, StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
			Consumer: stream.ConsumerConfig{Topics: []string{"classified", "retry"}}, Producer: &fakeProducer{}, Logic: l,
			Marked: func(t string) bool { return t == "classified" }})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.keep(3, st); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := newProc(&failOn{topic: "classified", seen: map[string]int{}})
	if err := p.Process(context.Background(), sourced("classified", 0, 5)); err == nil {
		t.Fatal("the classified batch did not fail")
	}
	if err := p.Process(context.Background(), sourced("retry", 0, 1)); err != nil {
		t.Fatal(err)
	}
	again := &failOn{seen: map[string]int{}}
	if err := newProc(again).Process(context.Background(), sourced("classified", 0, 5)); err != nil {
		t.Fatal(err)
	}
	if again.seen["classified"] != 5 {
		t.Errorf("after the restart %d of the 5 classified records never processed were offered; the rest were dropped as repeats", again.seen["classified"])
	}
}
