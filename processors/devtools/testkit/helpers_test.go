package testkit_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// TestProducePlacesRecordsAsTheStagesDo: a record written with Produce
// lands on the partition stream.Producer puts the same key on, so that a
// test's inputs meet the state the stages keep by key; ReadTopic and
// ReadPartition read them back.
func TestProducePlacesRecordsAsTheStagesDo(t *testing.T) {
	brokers := testkit.InProcessBrokers(t)
	ctx := context.Background()
	const parts = 5
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers},
		stream.TopicSpec{Name: "by-testkit", Partitions: parts}, stream.TopicSpec{Name: "by-stream", Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	var viaKit, viaStream []kafka.Message
	for i := range 50 {
		key := fmt.Appendf(nil, "device-%d", i)
		viaKit = append(viaKit, kafka.Message{Topic: "by-testkit", Key: key, Value: key})
		viaStream = append(viaStream, kafka.Message{Topic: "by-stream", Key: key, Value: key})
	}
	testkit.Produce(t, ctx, brokers, viaKit...)
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Produce(ctx, viaStream...); err != nil {
		t.Fatal(err)
	}

	placed := func(topic string) map[string]int {
		at := map[string]int{}
		for _, m := range testkit.ReadTopic(t, ctx, brokers, topic, testkit.AtLeast(50)) {
			at[string(m.Key)] = m.Partition
			if m.Time.IsZero() || time.Since(m.Time) > time.Hour {
				t.Errorf("%s: record %s has time %v, want about now", topic, m.Key, m.Time)
			}
		}
		return at
	}
	kit, str := placed("by-testkit"), placed("by-stream")
	for k, p := range str {
		if kit[k] != p {
			t.Errorf("key %s: partition %d through testkit, %d through stream.Producer", k, kit[k], p)
		}
	}
	n := 0
	for part := range parts {
		n += len(testkit.ReadPartition(t, ctx, brokers, "by-testkit", part))
	}
	if n != 50 {
		t.Errorf("ReadPartition of every partition: %d records, want 50", n)
	}
}

// fakeT records a Fatalf and ends the goroutine, as testing.T does.
type fakeT struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with f on a goroutine of its own and returns what it failed
// with ("" when it did not).
func (f *fakeT) run(fn func(testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

// TestWaitFailsOnStallNotOnDuration: a wait whose progress keeps moving
// outlasts many stall periods; one whose progress stops fails after one.
func TestWaitFailsOnStallNotOnDuration(t *testing.T) {
	const stall = 50 * time.Millisecond
	var n atomic.Int64
	start := time.Now()
	moving := &fakeT{TB: t}
	msg := moving.run(func(tb testing.TB) {
		testkit.Wait{Stall: stall, Poll: time.Millisecond, Progress: func() int64 { return n.Add(1) }}.For(tb, "ten stall periods", func() bool {
			return time.Since(start) > 10*stall
		})
	})
	if msg != "" {
		t.Errorf("a wait that kept moving failed: %s", msg)
	}

	stuck := &fakeT{TB: t}
	msg = stuck.run(func(tb testing.TB) {
		testkit.Wait{Stall: stall, Poll: time.Millisecond, Progress: func() int64 { return 7 }}.For(tb, "what never comes", func() bool { return false })
	})
	if msg == "" {
		t.Fatal("a wait with no progress did not fail")
	}
	t.Logf("failed with: %s", msg)
}
