package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Produce writes msgs, each to its Topic, and returns once the broker
// acknowledged every one (acks=all). A record goes to the partition its
// key hashes to with murmur2, as the stages' producer places it; a record
// without a Time gets the current time, as a producer client stamps it
// (normalize takes it for the arrival time). Records the broker refuses
// for a while (a topic created a moment ago, a leader not yet elected)
// are sent again; Produce fails t when none was taken for DefaultStall.
func Produce(t testing.TB, ctx context.Context, brokers []string, msgs ...kafka.Message) {
	t.Helper()
	now := time.Now()
	pending := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if m.Time.IsZero() {
			m.Time = now
		}
		pending[i] = m
	}
	since := time.Now()
	for len(pending) > 0 {
		failed, err := produceOnce(ctx, brokers, pending)
		switch {
		case err == nil:
			return
		case ctx.Err() != nil:
			t.Fatalf("testkit.Produce: %d of %d records not written: %v", len(failed), len(msgs), ctx.Err())
		case len(failed) < len(pending):
			since = time.Now() // some got through: the broker is working
		case time.Since(since) > DefaultStall:
			t.Fatalf("testkit.Produce: no record taken for %v, %d of %d not written: %v", DefaultStall, len(failed), len(msgs), err)
		}
		pending = failed
		time.Sleep(100 * time.Millisecond)
	}
}

// produceOnce writes msgs through a writer with a transport of its own,
// so that its metadata is fresh (a topic created by someone else a
// moment ago is known), and returns the records that failed.
func produceOnce(ctx context.Context, brokers []string, msgs []kafka.Message) ([]kafka.Message, error) {
	tr := &kafka.Transport{MetadataTTL: time.Second}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    len(msgs),
		MaxAttempts:  3,
		Transport:    tr,
	}
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return nil, nil
	}
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		return msgs, err
	}
	var failed []kafka.Message
	for i, e := range werrs {
		if e != nil {
			failed = append(failed, msgs[i])
		}
	}
	return failed, err
}
