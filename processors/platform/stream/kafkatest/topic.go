package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// topicTimeout bounds creating a topic and waiting for its leaders.
const topicTimeout = 30 * time.Second

// maxPrefix keeps names well under Kafka's 249-character limit after the
// unique suffix is added.
const maxPrefix = 120

var topicSeq atomic.Uint64

// Topic creates a topic with the given number of partitions (replication
// factor 1) whose name starts with the sanitized test name and is unique
// across tests and runs. It returns once every partition has a leader, and
// deletes the topic when the test ends.
func Topic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	if partitions < 1 {
		t.Fatalf("kafkatest.Topic: partitions must be at least 1, got %d", partitions)
	}
	name := topicName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), topicTimeout)
	defer cancel()
	if err := createTopic(ctx, brokers, name, partitions); err != nil {
		t.Fatalf("kafkatest.Topic: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), topicTimeout)
		defer cancel()
		if err := deleteTopic(ctx, brokers, name); err != nil {
			t.Logf("kafkatest.Topic: delete %s: %v", name, err)
		}
	})
	return name
}

// topicName turns a test name into a legal, unique topic name: Kafka allows
// only [a-zA-Z0-9._-], and subtests bring '/' and spaces.
func topicName(testName string) string {
	var b strings.Builder
	for _, r := range testName {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			// '.' and '_' collide in Kafka's metric names, so neither is used.
			b.WriteByte('-')
		}
	}
	prefix := strings.Trim(b.String(), "-")
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	if prefix == "" {
		prefix = "test"
	}
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), topicSeq.Add(1))
}

// createTopic goes through a kafka.Client on kafka.DefaultTransport: the
// transport refreshes its metadata cache for the new topic, so a Writer on
// the default transport with Addr kafka.TCP(brokers...) sees the topic at
// once instead of failing with UnknownTopicOrPartition until its next
// refresh (MetadataTTL, 6 s).
func createTopic(ctx context.Context, brokers []string, name string, partitions int) error {
	if len(brokers) == 0 {
		return errors.New("no brokers")
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err != nil {
		return err
	}
	if err := res.Errors[name]; err != nil {
		return err
	}
	return waitForLeaders(ctx, brokers, name, partitions)
}

// waitForLeaders polls metadata until every partition has a leader: the
// controller acknowledges creation before the broker serves the topic, and
// a producer racing that gets UnknownTopicOrPartition.
func waitForLeaders(ctx context.Context, brokers []string, name string, partitions int) error {
	for {
		err := func() error {
			conn, err := dial(ctx, brokers[0])
			if err != nil {
				return err
			}
			defer conn.Close()
			parts, err := conn.ReadPartitions(name)
			if err != nil {
				return err
			}
			if len(parts) != partitions {
				return fmt.Errorf("%d of %d partitions visible", len(parts), partitions)
			}
			for _, p := range parts {
				if p.Leader.Host == "" {
					return fmt.Errorf("partition %d has no leader", p.ID)
				}
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for leaders: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func deleteTopic(ctx context.Context, brokers []string, name string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	if err != nil {
		return err
	}
	if err := res.Errors[name]; err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return err
	}
	return nil
}

// dial connects with the context's deadline also set on the connection, so
// requests cannot hang past it.
func dial(ctx context.Context, addr string) (*kafka.Conn, error) {
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}
