package stage

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/state"
)

// holdLogic holds every record back until a Tick, which applies them all
// (as the arrival-time merge does with what waited long enough).
type holdLogic struct {
	held []kafka.Message
	next int64 // after the last record read
}

func (l *holdLogic) Process(_ context.Context, in Input) (Result, error) {
	for _, m := range in.Messages {
		m.Headers = append([]kafka.Header(nil), m.Headers...)
		l.held = append(l.held, m)
		l.next = m.Offset + 1
	}
	return l.result(), nil
}

func (l *holdLogic) result() Result {
	if len(l.held) > 0 {
		return Result{Holding: true, HoldFrom: l.held[0].Offset}
	}
	return Result{Holding: true, HoldFrom: l.next}
}

func (l *holdLogic) Tick(context.Context, Tick) (Result, error) {
	res := Result{Inputs: l.held}
	for i, m := range l.held {
		res.Outputs = append(res.Outputs, kafka.Message{Topic: "out", Key: m.Key})
		res.Sources = append(res.Sources, i)
	}
	l.held = nil
	r := l.result()
	res.Holding, res.HoldFrom = r.Holding, r.HoldFrom
	return res, nil
}

// TestHeldRecordsSurviveACrashAndApplyOnce: records a stage holds back
// are not marked applied: the stored input offset is the lowest held, so
// a crash reads them again and they are held again, not dropped; once
// applied, the marks move past them and the offset after them is stored,
// and reading them again drops them as repeats.
func TestHeldRecordsSurviveACrashAndApplyOnce(t *testing.T) {
	st := state.NewMemory()
	newProc := func(l *holdLogic, p *fakeProducer) *Processor {
		s, err := New(Config{Name: "merge", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
			Producer: p, Logic: l, MarksOnRelease: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.keep(3, st); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	batch := upstream(10, [2]int{100, 0}, [2]int{101, 0})
	l := &holdLogic{}
	if err := newProc(l, &fakeProducer{}).Process(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if off, _, _ := st.Offset(inputOffsetName); off != 10 {
		t.Fatalf("stored offset %d with records 10 and 11 held, want 10", off)
	}
	// A crash: the records are read again, and held again.
	again := &holdLogic{}
	p := &fakeProducer{}
	s := newProc(again, p)
	if err := s.Process(ctx, upstream(10, [2]int{100, 0}, [2]int{101, 0})); err != nil {
		t.Fatal(err)
	}
	if len(again.held) != 2 {
		t.Fatalf("after the crash %d of the 2 held records came back, want both (none was applied)", len(again.held))
	}
	if err := s.TickAll(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	var out int
	for _, m := range p.got {
		if m.Topic == "out" {
			out++
			if _, ok := SourceOf(&m); !ok {
				t.Error("a released record's output carries no source position")
			}
		}
	}
	if out != 2 {
		t.Fatalf("the tick applied %d records, want 2", out)
	}
	if off, _, _ := st.Offset(inputOffsetName); off != 12 {
		t.Errorf("stored offset %d once all were applied, want 12", off)
	}
	// Read again (a changelog restore at an older offset): repeats now.
	last := &holdLogic{}
	if err := newProc(last, &fakeProducer{}).Process(ctx, upstream(10, [2]int{100, 0}, [2]int{101, 0})); err != nil {
		t.Fatal(err)
	}
	if len(last.held) != 0 {
		t.Errorf("%d applied records were taken again, want none (repeats)", len(last.held))
	}
}

// trickleLogic holds every record and lets at most two go per Tick,
// saying when there are more (as the merge does with a backlog larger
// than a transaction).
type trickleLogic struct {
	holdLogic
	ticks int
}

func (l *trickleLogic) Tick(context.Context, Tick) (Result, error) {
	l.ticks++
	n := min(2, len(l.held))
	res := Result{Inputs: l.held[:n]}
	for i := range n {
		res.Outputs = append(res.Outputs, kafka.Message{Topic: "out"})
		res.Sources = append(res.Sources, i)
	}
	l.held = l.held[n:]
	r := l.result()
	res.Holding, res.HoldFrom, res.More = r.Holding, r.HoldFrom, len(l.held) > 0
	return res, nil
}

// TestMoreTicksUntilDone: a Result with More makes the Processor tick
// again at once, under the same lock, until everything is written.
func TestMoreTicksUntilDone(t *testing.T) {
	st := state.NewMemory()
	l := &trickleLogic{}
	p := &fakeProducer{}
	s, err := New(Config{Name: "merge", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
		Producer: p, Logic: l, MarksOnRelease: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.keep(3, st); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Process(ctx, upstream(10, [2]int{100, 0}, [2]int{101, 0}, [2]int{102, 0}, [2]int{103, 0}, [2]int{104, 0})); err != nil {
		t.Fatal(err)
	}
	if err := s.TickAll(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := 0
	for _, m := range p.got {
		if m.Topic == "out" {
			out++
		}
	}
	if out != 5 || l.ticks != 3 {
		t.Fatalf("one TickAll wrote %d of 5 records in %d ticks, want all 5 in 3", out, l.ticks)
	}
	if off, _, _ := st.Offset(inputOffsetName); off != 15 {
		t.Errorf("stored offset %d once all were applied, want 15", off)
	}
}
