//go:build integration

package stream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// On a real broker: a record the topic's max.message.bytes refuses, sent
// in one request with others, comes back alone by index; the others are
// written in order, before a later call's records.
func TestIntegrationProducerRefusedRecordComesBackAlone(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := fmt.Sprintf("stream-refused-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureTopics(ctx, TopicsConfig{Brokers: brokers}, TopicSpec{Name: topic, Partitions: 1,
		Config: map[string]string{"max.message.bytes": "4000"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := &kafka.Client{Addr: kafka.TCP(brokers...)}
		_, _ = c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
	p, err := NewProducer(ProducerConfig{Brokers: brokers, Logger: zaptest.NewLogger(t), BatchTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	big := make([]byte, 6000) // random: lz4 cannot shrink it under the limit
	_, _ = rand.Read(big)
	var msgs []kafka.Message
	var want []string
	for i := range 20 {
		v := []byte(fmt.Sprintf("small-%02d", i))
		if i == 7 {
			v = big
		} else {
			want = append(want, string(v))
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("k"), Value: v})
	}
	err = p.Produce(ctx, msgs...)
	var pe *ProduceError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Index != 7 || !errors.Is(err, kafka.MessageSizeTooLarge) {
		t.Fatalf("Produce: %v, want record 7 refused as too large", err)
	}
	if err := p.Produce(ctx, kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte("later")}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "later")
	var got []string
	for _, m := range readPartition(t, brokers, topic, 0) {
		got = append(got, string(m.Value))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("partition holds %q,\nwant %q", got, want)
	}
}
