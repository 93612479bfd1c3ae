//go:build integration

package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestIntegrationBrokerAnswers checks the test broker end to end: a topic is
// created, a record produced with acks from all replicas is read back.
func TestIntegrationBrokerAnswers(t *testing.T) {
	brokers := Brokers(t)
	topic := Topic(t, brokers, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("device-1"), Value: []byte("hello")}); err != nil {
		t.Fatalf("produce: %v", err)
	}

	parts, err := readPartitions(ctx, brokers[0], topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("topic has %d partitions, want 2", len(parts))
	}
	var got []string
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		last, err := r.ReadLag(ctx)
		if err == nil && last > 0 {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("consume partition %d: %v", p.ID, err)
			}
			got = append(got, string(m.Key)+"="+string(m.Value))
		}
		r.Close()
	}
	if len(got) != 1 || got[0] != "device-1=hello" {
		t.Fatalf("read back %q, want [device-1=hello]", got)
	}
}

func readPartitions(ctx context.Context, addr, topic string) ([]kafka.Partition, error) {
	conn, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ReadPartitions(topic)
}
