package stream

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// chanSource is a messageSource fed through a channel.
type chanSource struct {
	ch     chan kafka.Message
	closed bool
}

func (s *chanSource) FetchMessage(ctx context.Context) (kafka.Message, error) {
	select {
	case <-ctx.Done():
		return kafka.Message{}, ctx.Err()
	case m := <-s.ch:
		return m, nil
	}
}

func (s *chanSource) Close() error { s.closed = true; return nil }

func feed(ch chan kafka.Message, from, to, hwm int64) {
	for o := from; o < to; o++ {
		ch <- kafka.Message{Offset: o, HighWaterMark: hwm, Value: []byte{byte(o)}}
	}
}

type nopHandler struct{}

func (nopHandler) Assigned(context.Context, string, int) (int64, error) { return CommittedOffset, nil }
func (nopHandler) Process(context.Context, Batch) error                 { return nil }
func (nopHandler) Revoked(context.Context, string, int)                 {}

// recordingHandler records the calls it gets and can fail one batch.
type recordingHandler struct {
	mu      sync.Mutex
	start   int64
	calls   []string
	batches [][]int64
	failAt  int64 // fail the batch holding this offset; -1 never
	batchCh chan Batch
}

func (h *recordingHandler) Assigned(_ context.Context, topic string, p int) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "assigned")
	return h.start, nil
}

func (h *recordingHandler) Process(_ context.Context, b Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "process")
	var offs []int64
	for _, m := range b.Messages {
		if m.Offset == h.failAt {
			return errors.New("boom")
		}
		offs = append(offs, m.Offset)
	}
	h.batches = append(h.batches, offs)
	if h.batchCh != nil {
		h.batchCh <- b
	}
	return nil
}

func (h *recordingHandler) Revoked(context.Context, string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "revoked")
}

func testConsumer(t *testing.T, h Handler, src *chanSource, opened *int64) *Consumer {
	t.Helper()
	c, err := NewConsumer(ConsumerConfig{
		Brokers: []string{"unused:9092"}, GroupID: "g", Topics: []string{"in"},
		MaxBatchRecords: 1000, MaxBatchWait: 30 * time.Millisecond,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	c.newSource = func(topic string, partition int, offset int64) messageSource {
		*opened = offset
		return src
	}
	return c
}

func TestRunPartitionBatchesInOrderAndMarksDone(t *testing.T) {
	src := &chanSource{ch: make(chan kafka.Message, 3000)}
	feed(src.ch, 100, 2600, 2600) // 2500 records, all fetched at once
	h := &recordingHandler{start: CommittedOffset, failAt: -1, batchCh: make(chan Batch, 10)}
	var opened int64
	c := testConsumer(t, h, src, &opened)
	marks := newOffsetMarks()
	genCtx, endGen := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- c.runPartition(genCtx, context.Background(), "in", kafka.PartitionAssignment{ID: 3, Offset: 100}, marks, &positions{})
	}()
	var sizes []int
	for range 3 {
		b := <-h.batchCh
		if b.Topic != "in" || b.Partition != 3 {
			t.Fatalf("batch of %s/%d", b.Topic, b.Partition)
		}
		sizes = append(sizes, len(b.Messages))
	}
	endGen()
	if err := <-done; err != nil {
		t.Fatalf("runPartition: %v", err)
	}
	if opened != 100 {
		t.Fatalf("CommittedOffset opened the partition at %d, want the assignment's 100", opened)
	}
	// the last batch is handed over because it reached the high-water mark,
	// not after waiting
	if !slices.Equal(sizes, []int{1000, 1000, 500}) {
		t.Fatalf("batch sizes = %v", sizes)
	}
	next := int64(100)
	for _, b := range h.batches {
		for _, o := range b {
			if o != next {
				t.Fatalf("offset %d, want %d", o, next)
			}
			next++
		}
	}
	if got := marks.take()["in"][3]; got != 2600 {
		t.Fatalf("marked %d, want 2600", got)
	}
	if !src.closed {
		t.Fatal("source not closed")
	}
	want := []string{"assigned", "process", "process", "process", "revoked"}
	if !slices.Equal(h.calls, want) {
		t.Fatalf("calls = %v, want %v", h.calls, want)
	}
}

func TestFillHandsOverAfterMaxBatchWait(t *testing.T) {
	src := &chanSource{ch: make(chan kafka.Message, 10)}
	feed(src.ch, 0, 3, 1000) // the partition has more, but it is slow to come
	var opened int64
	c := testConsumer(t, nopHandler{}, src, &opened)
	start := time.Now()
	buf, hwm, err := c.fill(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(buf) != 3 || hwm != 1000 {
		t.Fatalf("got %d records, hwm %d", len(buf), hwm)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Fatalf("handed over after %v, before MaxBatchWait", waited)
	}
	b := Batch{Messages: buf, HighWaterMark: hwm}
	if b.NextOffset() != 3 || b.Lag() != 997 {
		t.Fatalf("NextOffset %d Lag %d", b.NextOffset(), b.Lag())
	}
}

func TestRunPartitionHandlerErrorStopsWithoutMark(t *testing.T) {
	src := &chanSource{ch: make(chan kafka.Message, 10)}
	feed(src.ch, 0, 5, 5)
	h := &recordingHandler{start: 0, failAt: 2}
	var opened int64
	c := testConsumer(t, h, src, &opened)
	marks := newOffsetMarks()
	err := c.runPartition(context.Background(), context.Background(), "in", kafka.PartitionAssignment{ID: 0, Offset: FirstOffset}, marks, &positions{})
	if !errors.Is(err, ErrHandler) {
		t.Fatalf("err = %v, want ErrHandler", err)
	}
	if marks.take() != nil {
		t.Fatal("a failed batch was marked done")
	}
	if !slices.Equal(h.calls, []string{"assigned", "process", "revoked"}) {
		t.Fatalf("calls = %v", h.calls)
	}
}

func TestRunPartitionRejectsInvalidStartOffset(t *testing.T) {
	src := &chanSource{ch: make(chan kafka.Message)}
	h := &recordingHandler{start: -7, failAt: -1}
	var opened int64
	c := testConsumer(t, h, src, &opened)
	err := c.runPartition(context.Background(), context.Background(), "in", kafka.PartitionAssignment{}, newOffsetMarks(), &positions{})
	if !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("err = %v, want ErrInvalidOffset", err)
	}
	if !slices.Equal(h.calls, []string{"assigned", "revoked"}) {
		t.Fatalf("calls = %v", h.calls)
	}
}

func TestRunPartitionSkipsEndedGeneration(t *testing.T) {
	h := &recordingHandler{failAt: -1}
	var opened int64
	c := testConsumer(t, h, &chanSource{}, &opened)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.runPartition(ended, context.Background(), "in", kafka.PartitionAssignment{}, newOffsetMarks(), &positions{}); err != nil {
		t.Fatal(err)
	}
	if len(h.calls) != 0 {
		t.Fatalf("calls on an ended generation: %v", h.calls)
	}
}

// errSource delivers the records and errors of its script in order, then
// blocks, like a kafka-go partition reader that reports a failed
// connection attempt and goes on by itself.
type errSource struct {
	mu     sync.Mutex
	script []any // kafka.Message or error
}

func (s *errSource) FetchMessage(ctx context.Context) (kafka.Message, error) {
	s.mu.Lock()
	if len(s.script) == 0 {
		s.mu.Unlock()
		<-ctx.Done()
		return kafka.Message{}, ctx.Err()
	}
	next := s.script[0]
	s.script = s.script[1:]
	s.mu.Unlock()
	if err, ok := next.(error); ok {
		return kafka.Message{}, err
	}
	return next.(kafka.Message), nil
}

func (s *errSource) Close() error { return nil }

// A fetch error (the broker away) neither stops the partition nor loses or
// repeats a record: the records before it are processed and the fetch goes
// on. Before, runPartition returned ErrFetch and the whole Consumer
// stopped, a second into any broker outage.
func TestRunPartitionRetriesFetchErrors(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:9092: connect: connection refused")
	src := &errSource{}
	for o := int64(0); o < 12; o++ {
		src.script = append(src.script, kafka.Message{Offset: o, HighWaterMark: 100})
		if o == 4 || o == 5 || o == 9 {
			src.script = append(src.script, refused, refused)
		}
	}
	h := &recordingHandler{start: 0, failAt: -1, batchCh: make(chan Batch, 100)}
	c, err := NewConsumer(ConsumerConfig{
		Brokers: []string{"unused:9092"}, GroupID: "g", Topics: []string{"in"}, MaxBatchWait: 20 * time.Millisecond,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	c.newSource = func(string, int, int64) messageSource { return src }
	marks := newOffsetMarks()
	genCtx, endGen := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.runPartition(genCtx, context.Background(), "in", kafka.PartitionAssignment{ID: 0}, marks, &positions{})
	}()
	var got []int64
	for len(got) < 12 {
		select {
		case <-h.batchCh: // b.Messages is reused: read what the handler kept
			h.mu.Lock()
			got = slices.Concat(h.batches...)
			h.mu.Unlock()
		case err := <-done:
			t.Fatalf("runPartition stopped on a fetch error: %v", err)
		case <-time.After(time.Minute):
			t.Fatalf("stuck after offsets %v", got)
		}
	}
	endGen()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, o := range got {
		if o != int64(i) {
			t.Fatalf("offsets %v, want 0..11 once each", got)
		}
	}
	if next := marks.take()["in"][0]; next != 12 {
		t.Fatalf("marked %d, want 12", next)
	}
}
