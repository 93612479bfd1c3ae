package pipeline

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// TestMaxMessageBytesReachesTheProducer: kafka.max_message_bytes
// says how large a record the stages may write, and the config insists on
// at least 4 x max_record_bytes, so any max_record_bytes over 256 KiB
// forces it past 1 MiB. The stages size their deadletter records for
// max_message_bytes (raw kept up to half of it): with the producer's
// BatchBytes left at 1 MiB, kafka-go refused the deadletter record of a
// large raw record before sending it, and the second refusal stopped the
// stage (found in review). The producer is built as run and dev build it.
func TestMaxMessageBytesReachesTheProducer(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte("max_record_bytes: 524288\nkafka:\n  brokers: [\"127.0.0.1:1\"]\n  max_message_bytes: 2097152\n"))
	if err != nil {
		t.Fatalf("config refused: %v", err)
	}
	producer, err := stream.NewProducer(ProducerConfig(cfg, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	lp := &locallyChecked{p: producer}
	s, err := normalizeStage(cfg).Build(stage.Env{Config: cfg, Producer: lp})
	if err != nil {
		t.Fatal(err)
	}
	// A raw record of 1.5 MiB, within the broker's 2 MiB: rejected by
	// normalize as larger than max_record_bytes, so it must end up on the
	// deadletter and the stream must go on.
	raw := bytes.Repeat([]byte("x"), 1536<<10)
	b := stream.Batch{Topic: cfg.Topics.RawEvents, Partition: 0, Messages: []kafka.Message{
		{Topic: cfg.Topics.RawEvents, Partition: 0, Offset: 0, Value: raw, Time: time.Now()},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.(*stage.Processor).Process(ctx, b); err != nil {
		t.Fatalf("one oversized raw record stops the normalize stage: %v", err)
	}
	if len(lp.got) != 1 || lp.got[0].Topic != cfg.Topics.Deadletter {
		t.Fatalf("written %d records, want its deadletter record", len(lp.got))
	}
}

// locallyChecked passes records through the real Producer's own checks
// (what it refuses before the network) and takes a record it would send
// as written: there is no broker in a unit test.
type locallyChecked struct {
	p   *stream.Producer
	got []kafka.Message
}

func (l *locallyChecked) Produce(ctx context.Context, msgs ...kafka.Message) error {
	refused := &stream.ProduceError{Messages: len(msgs)}
	for i, m := range msgs {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := l.p.Produce(cctx, m)
		cancel()
		var pe *stream.ProduceError
		if errors.As(err, &pe) {
			refused.Failed = append(refused.Failed, stream.MessageError{Index: i, Err: pe.Failed[0].Err})
			continue
		}
		l.got = append(l.got, m) // sent, or on its way to an absent broker
	}
	if len(refused.Failed) > 0 {
		return refused
	}
	return nil
}
