package stream_test

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

// rekey is a stateless stage: it re-keys every record and waits for the
// acks before the batch counts as done.
type rekey struct {
	producer *stream.Producer
	out      string
}

func (s *rekey) Assigned(ctx context.Context, topic string, partition int) (int64, error) {
	return stream.CommittedOffset, nil // a stateful stage returns the offset stored with its state
}

func (s *rekey) Process(ctx context.Context, b stream.Batch) error {
	out := make([]kafka.Message, 0, len(b.Messages))
	for _, m := range b.Messages {
		out = append(out, kafka.Message{Topic: s.out, Key: m.Value[:8], Value: m.Value})
	}
	// a stateful stage adds its changelog records here, each with
	// stream.AtPartition(msg, b.Partition), then applies its state and
	// b.NextOffset() in one store write before returning
	return s.producer.Produce(ctx, out...)
}

func (s *rekey) Revoked(ctx context.Context, topic string, partition int) {}

func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	brokers := []string{"localhost:9092"}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers},
		stream.TopicSpec{Name: "events.by-device", Partitions: 12},
		stream.TopicSpec{Name: "classify-device.changelog", Partitions: 12, Compacted: true},
	); err != nil {
		return
	}
	producer, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		return
	}
	defer producer.Close()
	consumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Brokers: brokers, GroupID: "normalize", Topics: []string{"raw.clicks", "raw.events"},
	}, &rekey{producer: producer, out: "events.by-device"})
	if err != nil {
		return
	}
	_ = consumer.Run(ctx) // returns after draining on SIGTERM
}
