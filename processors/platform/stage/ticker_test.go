package stage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// tickLogic writes, on every tick, a state value and a control output of
// no input, and notes the ticks' stream times.
type tickLogic struct {
	passLogic
	streamTimes []time.Time
	lags        []int64
	fail        error
}

func (l *tickLogic) Tick(_ context.Context, t Tick) (Result, error) {
	if l.fail != nil {
		return Result{}, l.fail
	}
	l.streamTimes = append(l.streamTimes, t.StreamTime)
	l.lags = append(l.lags, t.Lag)
	return Result{
		Outputs: []kafka.Message{{Topic: "control", Value: []byte(t.Now.UTC().Format(time.RFC3339))}},
		Sources: []int{NoSource},
		Writes:  []state.Write{{Key: []byte("ticked"), Value: []byte(t.Topic)}},
	}, nil
}

// TestTickWritesLikeABatch: a Tick's outputs are produced unstamped, its
// state writes reach the changelog (carrying the input offset the state
// already reflects, which a rebuild reads from the changelog's last
// record) and the store, and no input offset moves.
func TestTickWritesLikeABatch(t *testing.T) {
	p := &fakeProducer{}
	l := &tickLogic{}
	s, err := New(Config{Name: "t", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"}, Producer: p, Logic: l})
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	if err := s.keep(3, st); err != nil {
		t.Fatal(err)
	}
	s.track("in", 3) // as Assigned does
	if err := s.TickAll(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	b := batchOf(20, "a")
	b.Messages[0].Time = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	b.HighWaterMark = 25
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	p.got = nil
	if err := s.TickAll(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	var control, changelog int
	for _, m := range p.got {
		switch m.Topic {
		case "control":
			control++
			if _, ok := SourceOf(&m); ok {
				t.Error("a tick's output carries a source position")
			}
		case "cl":
			changelog++
			if off, ok := headerOffset(m.Headers); !ok || off != 21 {
				t.Errorf("tick changelog record says input offset %d (%v), want 21", off, ok)
			}
		}
	}
	if control != 1 || changelog != 1 {
		t.Errorf("a tick wrote %d control and %d changelog records, want 1 and 1", control, changelog)
	}
	if v, err := st.Get([]byte("ticked")); err != nil || string(v) != "in" {
		t.Errorf("tick state %q, %v", v, err)
	}
	if off, _, _ := st.Offset(inputOffsetName); off != 21 {
		t.Errorf("input offset %d after a tick, want 21", off)
	}
	if len(l.streamTimes) != 2 || !l.streamTimes[0].IsZero() || !l.streamTimes[1].Equal(b.Messages[0].Time) {
		t.Errorf("tick stream times %v, want none, then the batch's record time", l.streamTimes)
	}
	if len(l.lags) != 2 || l.lags[0] != -1 || l.lags[1] != 4 {
		t.Errorf("tick lags %v, want -1 before a batch, then the batch's 4", l.lags)
	}
}

// TestTickedStageStopsOnATickError: a Ticker whose Tick fails stops the
// stage's consumer, and Consume returns the Tick's error, as it would a
// batch's.
func TestTickedStageStopsOnATickError(t *testing.T) {
	brokers := testkit.Brokers(t, testkit.InProcessAllowed)
	ctx := context.Background()
	topic := "tick-" + time.Now().Format("150405.000000")
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers}, stream.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	testkit.DeleteTopicsAtEnd(t, brokers, topic)
	boom := errors.New("boom")
	s, err := New(Config{Name: "tick", Producer: &fakeProducer{}, Logic: &tickLogic{fail: boom}, TickEvery: 10 * time.Millisecond,
		Consumer: stream.ConsumerConfig{Brokers: brokers, GroupID: topic + ".g", Topics: []string{topic}}})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Produce(t, ctx, brokers, kafka.Message{Topic: topic, Value: []byte("x")})
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx) }()
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("Consume = %v, want the tick's error", err)
	}
}

// TestTicksOnlyForAssignedPartitions: a stateless stage ticks for each
// input partition assigned, and stops with its revocation.
func TestTicksOnlyForAssignedPartitions(t *testing.T) {
	p := &fakeProducer{}
	l := &tickLogic{}
	s, err := New(Config{Name: "n", Producer: p, Logic: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, part := range []int{0, 1} {
		if _, err := s.Assigned(ctx, "raw", part); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TickAll(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Revoked(ctx, "raw", 1)
	if err := s.TickAll(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(l.streamTimes) != 3 {
		t.Errorf("%d ticks, want 2 then 1 after the revocation", len(l.streamTimes))
	}
}
