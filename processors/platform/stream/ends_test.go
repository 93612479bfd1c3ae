package stream

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
)

// endHandler records batches and caught-up calls.
type endHandler struct {
	mu        sync.Mutex
	processed map[int]int64 // partition -> next offset
	caughtUp  map[int]time.Time
	records   int64
}

func (h *endHandler) Assigned(context.Context, string, int) (int64, error) {
	return CommittedOffset, nil
}
func (h *endHandler) Revoked(context.Context, string, int) {}
func (h *endHandler) Process(_ context.Context, b Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.processed[b.Partition] = b.NextOffset()
	h.records += int64(len(b.Messages))
	return nil
}

func (h *endHandler) CaughtUp(_ string, partition int, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A caught-up call must never come before the records it vouches for.
	if at.After(h.caughtUp[partition]) {
		h.caughtUp[partition] = at
	}
}

func (h *endHandler) state(partition int) (int64, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.processed[partition], h.caughtUp[partition]
}

func (h *endHandler) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.records
}

// TestEndWatcherAndPause: an empty partition is caught up from the start,
// a partition with records once they are processed; a paused topic is
// not fetched, so it is not caught up with what came meanwhile, and
// resumes when resumed.
func TestEndWatcherAndPause(t *testing.T) {
	brokers := testkit.Brokers(t, testkit.InProcessAllowed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topic := "ends-" + time.Now().Format("150405.000000")
	if err := EnsureTopics(ctx, TopicsConfig{Brokers: brokers}, TopicSpec{Name: topic, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	testkit.DeleteTopicsAtEnd(t, brokers, topic)
	produce := func(n int) {
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Topic: topic, Key: []byte("one-key"), Value: []byte("v")} // one partition
		}
		testkit.Produce(t, ctx, brokers, msgs...)
	}
	produce(3)

	h := &endHandler{processed: map[int]int64{}, caughtUp: map[int]time.Time{}}
	pause := &Pause{}
	c, err := NewConsumer(ConsumerConfig{
		Brokers: brokers, GroupID: topic + "-g", Topics: []string{topic},
		EndCheckEvery: 50 * time.Millisecond, Pause: pause,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	started := time.Now()
	w := testkit.Wait{Progress: h.count}
	w.For(t, "the 3 records processed", func() bool { return h.count() == 3 })
	full := 0
	if next, _ := h.state(1); next == 3 {
		full = 1
	}
	empty := 1 - full
	w.For(t, "the empty partition caught up", func() bool {
		_, at := h.state(empty)
		return !at.Before(started)
	})
	w.For(t, "the other partition caught up after its 3 records", func() bool {
		next, at := h.state(full)
		return next == 3 && !at.Before(started)
	})

	pause.Topics(topic)
	// A batch may be in the fetch already; let it land, then mark the time.
	time.Sleep(300 * time.Millisecond)
	produce(2)
	paused := time.Now()
	time.Sleep(500 * time.Millisecond)
	next, at := h.state(full)
	if next != 3 {
		t.Fatalf("a paused topic's records were processed: next offset %d", next)
	}
	if at.After(paused) {
		t.Fatalf("partition %d reported caught up at %v while 2 records wait unprocessed", full, at)
	}
	pause.Resume(topic)
	w.For(t, "the records processed and caught up after the resume", func() bool {
		next, at := h.state(full)
		return next == 5 && at.After(paused)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
