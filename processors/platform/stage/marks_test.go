package stage

import (
	"context"
	"reflect"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

func TestSourceHeaderRoundTrip(t *testing.T) {
	for _, s := range []Source{
		{Topic: "raw.events", Partition: 0, Offset: 0, Index: 0},
		{Topic: "postbacks.events.by-device", Partition: 11, Offset: 1 << 40, Index: 3},
		{Topic: "", Partition: 1 << 20, Offset: 7, Index: 1 << 16},
	} {
		got, err := ParseSource(AppendSource(nil, s))
		if err != nil || got != s {
			t.Errorf("%+v: got %+v, %v", s, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {}, {9}, {sourceVersion}, {sourceVersion, 0x80}} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

// upstream is what a stage wrote from its input (topic "up", partition 2):
// records with the given (offset, index) positions, at the downstream
// topic's offsets from first on.
func upstream(first int64, pos ...[2]int) stream.Batch {
	b := stream.Batch{Topic: "in", Partition: 3}
	for i, p := range pos {
		m := kafka.Message{Topic: "in", Partition: 3, Offset: first + int64(i), Key: []byte("k")}
		StampSource(&m, &kafka.Message{Topic: "up", Partition: 2, Offset: int64(p[0])}, p[1], nil)
		b.Messages = append(b.Messages, m)
	}
	return b
}

// TestRepeatsSkippedByPosition: an upstream stage replayed after a crash
// writes the same records again at new offsets; the stage applies each
// position once, whatever the records' content, and the marks survive a
// reopened store.
func TestRepeatsSkippedByPosition(t *testing.T) {
	p := &fakeProducer{}
	s, st := newTestStateful(t, p)
	ctx := context.Background()
	if err := s.Process(ctx, upstream(0, [2]int{10, 0}, [2]int{10, 1}, [2]int{11, 0})); err != nil {
		t.Fatal(err)
	}
	// The replay: 10/1 and 11/0 again, then new ones.
	if err := s.Process(ctx, upstream(3, [2]int{10, 1}, [2]int{11, 0}, [2]int{11, 1}, [2]int{12, 0})); err != nil {
		t.Fatal(err)
	}
	var counts []string
	for _, m := range p.got {
		if m.Topic == "out" {
			counts = append(counts, string(m.Value))
		}
	}
	if want := []string{"1", "2", "3", "4", "5"}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("outputs %v, want %v: a repeat was applied", counts, want)
	}
	if got := counterValue(t, s.cfg.Metrics.Repeats.WithLabelValues("count")); got != 2 {
		t.Errorf("repeats metric %v, want 2", got)
	}
	// Every output says where it came from.
	for _, m := range p.got {
		if m.Topic != "out" {
			continue
		}
		v, ok := SourceOf(&m)
		if !ok {
			t.Fatal("output without source header")
		}
		if src, err := ParseSource(v); err != nil || src.Topic != "in" || src.Partition != 3 {
			t.Fatalf("source %+v, %v", src, err)
		}
	}
	// The marks are in the store with the state: a new owner of the same
	// store (or of one restored from the changelog) skips the same.
	m, err := LoadSourceMarks(st, marksKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.by[keyOf("up", 2)]; got != (mark{offset: 12, index: 0}) {
		t.Fatalf("stored mark %+v", got)
	}
	// And they went to the changelog, which a restore reads.
	var inChangelog bool
	for _, w := range p.got {
		if w.Topic == "cl" && string(w.Key) == string(marksKey) {
			inChangelog = true
		}
	}
	if !inChangelog {
		t.Error("marks not written to the changelog")
	}
}

// TestOutputIndexesPerInput: one input's outputs are numbered in output
// order, even when another input's outputs come between them.
func TestOutputIndexesPerInput(t *testing.T) {
	msgs := []kafka.Message{{Topic: "in", Offset: 5}, {Topic: "in", Offset: 6}}
	outs := make([]kafka.Message, 5)
	_, _ = stampSources(outs, []int{0, 0, 1, 0, 1}, msgs, nil, nil, false)
	var got [][2]int64
	for i := range outs {
		v, _ := SourceOf(&outs[i])
		src, err := ParseSource(v)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]int64{src.Offset, int64(src.Index)})
	}
	want := [][2]int64{{5, 0}, {5, 1}, {6, 0}, {5, 2}, {6, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestForwardSource: a router's outputs keep the source header of their
// input (the first stage's position); an input without one gives its own.
func TestForwardSource(t *testing.T) {
	orig := AppendSource(nil, Source{Topic: "by-device", Partition: 3, Offset: 41, Index: 1})
	msgs := []kafka.Message{
		{Topic: "classified", Offset: 5, Headers: []kafka.Header{{Key: SourceHeader, Value: orig}}},
		{Topic: "classified", Offset: 6},
	}
	outs := make([]kafka.Message, 3)
	_, _ = stampSources(outs, []int{0, 0, 1}, msgs, nil, nil, true)
	var got []Source
	for i := range outs {
		v, _ := SourceOf(&outs[i])
		src, err := ParseSource(v)
		if err != nil || len(outs[i].Headers) != 1 {
			t.Fatalf("output %d: %v, headers %v", i, err, outs[i].Headers)
		}
		got = append(got, src)
	}
	want := []Source{{"by-device", 3, 41, 1}, {"by-device", 3, 41, 1}, {"classified", 0, 6, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestMarksEncodingRoundTrip(t *testing.T) {
	m := &SourceMarks{by: map[sourceKey]mark{
		keyOf("a", 0): {offset: 1, index: 2}, keyOf("b", 7): {offset: 1 << 40, index: 0},
	}}
	st := state.NewMemory()
	var b state.Batch
	b.Set(marksKey, m.encode())
	if err := st.Apply(&b); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSourceMarks(st, marksKey)
	if err != nil || !reflect.DeepEqual(got.by, m.by) {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range [][]byte{{}, {2}, {1, 1}, {1, 1, 5, 'a'}, append(m.encode(), 0)} {
		if err := (&SourceMarks{by: map[sourceKey]mark{}}).decode(bad); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestOutOfRangeSourceIsNoMark: a header whose position is past what the
// stored marks can hold is corrupt: the record is kept (judged by its
// content) and never becomes a mark that the store could not read back,
// which would make the partition impossible to assign again.
func TestOutOfRangeSourceIsNoMark(t *testing.T) {
	p := &fakeProducer{}
	s, st := newTestStateful(t, p)
	b := upstream(0, [2]int{1, 0})
	b.Messages[0].Headers[0].Value = AppendSource(nil, Source{Topic: "up", Partition: 2, Offset: 7, Index: maxSourceIndex + 1})
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	m, err := LoadSourceMarks(st, marksKey)
	if err != nil {
		t.Fatalf("marks do not load: %v", err)
	}
	if len(m.by) != 0 {
		t.Fatalf("a corrupt header became a mark: %+v", m.by)
	}
	if len(p.got) == 0 {
		t.Fatal("the record was dropped")
	}
}

// TestFarRepeatsAreLogged: records far below their source's mark are what a
// recreated upstream topic looks like; they are dropped like any repeat
// (the marks cannot tell), and a warning says what to check.
func TestFarRepeatsAreLogged(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	p := &fakeProducer{}
	s, err := New(Config{Name: "count", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
		Producer: p, Logic: countLogic{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.keep(3, state.NewMemory()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Process(ctx, upstream(0, [2]int{farRepeat + 50, 0})); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("warned on a new record: %v", logs.All())
	}
	if err := s.Process(ctx, upstream(1, [2]int{10, 0}, [2]int{11, 0})); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 1 || logs.All()[0].ContextMap()["records"] != int64(2) {
		t.Fatalf("warnings %v", logs.All())
	}
}
