//go:build integration

package stream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// passThrough produces every record it gets to out, keyed as before: the
// stateless baseline a stateful stage is compared against.
type passThrough struct {
	nopHandler
	p       *Producer
	out     string
	want    int64
	n       atomic.Int64
	first   sync.Once
	started time.Time
	done    chan time.Time
}

func (h *passThrough) Process(ctx context.Context, b Batch) error {
	h.first.Do(func() { h.started = time.Now() })
	out := make([]kafka.Message, len(b.Messages))
	for i, m := range b.Messages {
		out[i] = kafka.Message{Topic: h.out, Key: m.Key, Value: m.Value}
	}
	if err := h.p.Produce(ctx, out...); err != nil {
		return err
	}
	if h.n.Add(int64(len(out))) == h.want {
		h.done <- time.Now()
	}
	return nil
}

// BenchmarkIntegrationPassThrough consumes b.N records of 6 partitions and
// produces them to another topic with Consumer and Producer. Run it with a
// fixed count, e.g. -benchtime=200000x.
func BenchmarkIntegrationPassThrough(b *testing.B) {
	for _, codec := range []string{"none", "lz4", "zstd"} {
		b.Run(codec, func(b *testing.B) { benchPassThrough(b, codec) })
	}
}

func benchPassThrough(b *testing.B, codec string) {
	brokers := kafkatest.Brokers(b)
	in, out := kafkatest.Topic(b, brokers, 6), kafkatest.Topic(b, brokers, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := NewProducer(ProducerConfig{Brokers: brokers, Compression: codec})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()

	// ~300-byte values, about the size of a normalized event
	pad := make([]byte, 260)
	for i := range pad {
		pad[i] = 'a' + byte(i%26)
	}
	msgs := make([]kafka.Message, 0, 10000)
	for i := range b.N {
		key := fmt.Sprintf("device-%08d", i%50000)
		msgs = append(msgs, kafka.Message{Topic: in, Key: []byte(key), Value: fmt.Appendf(nil, "%s#%d:%s", key, i, pad)})
		if len(msgs) == cap(msgs) || i == b.N-1 {
			if err := p.Produce(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}

	h := &passThrough{p: p, out: out, want: int64(b.N), done: make(chan time.Time, 1)}
	c, err := NewConsumer(ConsumerConfig{Brokers: brokers, GroupID: "bench-" + in, Topics: []string{in}}, h)
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { errc <- c.Run(runCtx) }()
	var end time.Time
	select {
	case end = <-h.done:
	case err := <-errc:
		b.Fatalf("consumer stopped: %v", err)
	}
	b.StopTimer()
	stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	steady := end.Sub(h.started)
	b.ReportMetric(float64(b.N)/steady.Seconds(), "records/s")
	b.ReportMetric(float64(h.started.Sub(start).Milliseconds()), "join-ms")
}
