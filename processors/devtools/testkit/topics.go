package testkit

import (
	"context"
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"
)

// DeleteTopicsAtEnd deletes the topics named when the test ends, so that
// a test run on a shared broker (KAFKA_BROKERS) leaves none of its own
// behind; a topic that is not there is no error, and a deletion that
// fails is logged, not failed.
func DeleteTopicsAtEnd(t testing.TB, brokers []string, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultStall)
		defer cancel()
		tr := &kafka.Transport{}
		defer tr.CloseIdleConnections()
		client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}
		res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names})
		if err != nil {
			t.Logf("testkit: delete topics %v: %v", names, err)
			return
		}
		for name, err := range res.Errors {
			if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
				t.Logf("testkit: delete topic %s: %v", name, err)
			}
		}
	})
}
