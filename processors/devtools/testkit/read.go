package testkit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Tail reads every partition of a topic from its first offset, as the
// records arrive, until Stop or the context given to TailTopic ends.
type Tail struct {
	// C yields the records in the order they were read: in offset order
	// per partition, interleaved across partitions.
	C <-chan kafka.Message

	stop     context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	lastErr  error
	stopOnce sync.Once
}

// TailTopic starts a Tail of topic, waiting for the topic to exist when
// it does not yet (a stage creates its topics as it starts). It fails t
// when the topic did not appear for DefaultStall. The Tail stops when the
// test ends, if not before.
func TailTopic(t testing.TB, ctx context.Context, brokers []string, topic string) *Tail {
	t.Helper()
	parts := partitions(t, ctx, brokers, topic)
	c := make(chan kafka.Message, 4096)
	readCtx, stop := context.WithCancel(ctx)
	tl := &Tail{C: c, stop: stop}
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20})
		tl.wg.Go(func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(readCtx)
				if err != nil {
					if readCtx.Err() == nil {
						tl.mu.Lock()
						tl.lastErr = fmt.Errorf("partition %d: %w", p, err)
						tl.mu.Unlock()
					}
					return
				}
				select {
				case c <- m:
				case <-readCtx.Done():
					return
				}
			}
		})
	}
	t.Cleanup(tl.Stop)
	return tl
}

// Stop ends the Tail and waits for its readers to close.
func (tl *Tail) Stop() {
	tl.stopOnce.Do(func() {
		tl.stop()
		tl.wg.Wait()
	})
}

// Err is why a reader of the Tail stopped before Stop, if one did.
func (tl *Tail) Err() error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.lastErr
}

// ReadTopic reads every partition of topic from its first offset until
// until, called with every record read so far after each new one, says
// they are enough, and returns them. It fails t when no new record
// arrived for DefaultStall, or when ctx ends first: it waits for
// progress, never for a budget of the whole read.
func ReadTopic(t testing.TB, ctx context.Context, brokers []string, topic string, until func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	return Wait{}.ReadTopic(t, ctx, brokers, topic, until)
}

// ReadTopic is testkit.ReadTopic that counts w.Progress as progress too:
// it fails only when no record arrived and Progress did not change for
// w.Stall (a stage restoring its state writes nothing for a while).
func (w Wait) ReadTopic(t testing.TB, ctx context.Context, brokers []string, topic string, until func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	w.defaults()
	tl := TailTopic(t, ctx, brokers, topic)
	defer tl.Stop()
	var got []kafka.Message
	last, since := w.Progress(), time.Now()
	tick := time.NewTicker(w.Poll)
	defer tick.Stop()
	for {
		select {
		case m := <-tl.C:
			got = append(got, m)
			if until(got) {
				return got
			}
			since = time.Now()
		case <-tick.C:
			if n := w.Progress(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > w.Stall {
				t.Fatalf("%s: nothing moved for %v after %d records (progress at %d, reader: %v)", topic, w.Stall, len(got), last, tl.Err())
			}
		case <-ctx.Done():
			t.Fatalf("%s: %v after %d records", topic, ctx.Err(), len(got))
		}
	}
}

// AtLeast is a ReadTopic until that holds once n records were read.
func AtLeast(n int) func([]kafka.Message) bool {
	return func(ms []kafka.Message) bool { return len(ms) >= n }
}

// ReadPartition returns the records of one partition of topic, from its
// first offset to its end as it is when ReadPartition starts. It fails t
// when no record came for DefaultStall before the end.
func ReadPartition(t testing.TB, ctx context.Context, brokers []string, topic string, partition int) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
	if err != nil {
		t.Fatalf("testkit.ReadPartition: %s/%d: %v", topic, partition, err)
	}
	first, end, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		t.Fatalf("testkit.ReadPartition: %s/%d: offsets: %v", topic, partition, err)
	}
	if end <= first {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond, MaxBytes: 8 << 20})
	defer r.Close()
	var out []kafka.Message
	for {
		m, err := readWithin(ctx, r, DefaultStall)
		if err != nil {
			t.Fatalf("testkit.ReadPartition: %s/%d after %d of its records: %v", topic, partition, len(out), err)
		}
		out = append(out, m)
		// Offsets of a compacted topic have gaps: the end, not a count.
		if m.Offset+1 >= end {
			return out
		}
	}
}

// readWithin reads r's next record, giving up when none came for stall.
func readWithin(ctx context.Context, r *kafka.Reader, stall time.Duration) (kafka.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, stall)
	defer cancel()
	return r.ReadMessage(ctx)
}

// ReadAll returns the records of every partition of topic up to its end
// as it is when each partition's read starts, partition by partition.
func ReadAll(t testing.TB, ctx context.Context, brokers []string, topic string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for _, p := range partitions(t, ctx, brokers, topic) {
		out = append(out, ReadPartition(t, ctx, brokers, topic, p)...)
	}
	return out
}

// partitions lists topic's partitions, waiting for the topic to exist.
func partitions(t testing.TB, ctx context.Context, brokers []string, topic string) []int {
	t.Helper()
	since := time.Now()
	for {
		ids, err := readPartitions(ctx, brokers, topic)
		if err == nil && len(ids) > 0 {
			return ids
		}
		if err == nil {
			err = fmt.Errorf("no partitions")
		}
		if ctx.Err() != nil || time.Since(since) > DefaultStall {
			t.Fatalf("testkit: topic %s not there after %v: %v", topic, time.Since(since).Round(time.Second), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readPartitions asks for topic's metadata without creating it: a
// broker with auto.create.topics.enable would create a topic a plain
// metadata request names, with its default partition count.
func readPartitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	for _, mt := range meta.Topics {
		if mt.Name != topic {
			continue
		}
		if mt.Error != nil {
			return nil, mt.Error
		}
		ids := make([]int, 0, len(mt.Partitions))
		for _, p := range mt.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return nil, fmt.Errorf("partition %d has no leader yet", p.ID)
			}
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		return ids, nil
	}
	return nil, fmt.Errorf("not in the metadata")
}
