//go:build integration

package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestIntegrationBrokerAnswers checks the test broker end to end: topics are
// writable as soon as Topic returns (also a second one, after the default
// transport has cached metadata), and a consumer group reads back all of a
// topic's records and commits, as the stages will.
func TestIntegrationBrokerAnswers(t *testing.T) {
	brokers := Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var topic string
	const records = 100
	for range 2 {
		topic = Topic(t, brokers, 3)
		w := &kafka.Writer{
			Addr:         kafka.TCP(brokers...),
			Topic:        topic,
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
		}
		msgs := make([]kafka.Message, records)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "device-%d", i), Value: []byte("hello")}
		}
		err := w.WriteMessages(ctx, msgs...)
		w.Close()
		if err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers,
		GroupID: "group-" + topic,
		Topic:   topic,
		MaxWait: 50 * time.Millisecond,
	})
	defer r.Close()
	start := time.Now()
	seen := map[string]bool{}
	for len(seen) < records {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume after %d records: %v", len(seen), err)
		}
		if len(seen) == 0 {
			t.Logf("first record through the group after %v", time.Since(start))
		}
		seen[string(m.Key)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	t.Logf("%d records through the group in %v", records, time.Since(start))
}
