package sinkstage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/config"
	"github.com/postbackd/postbackd/processors/runtime"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// HeaderDeadletterReason carries why a delivery failed for good.
const HeaderDeadletterReason = "postbackd-deadletter-reason"

// RetryTopic is the topic of retry tier i (0-based).
func RetryTopic(t config.Topics, tier int) string {
	return fmt.Sprintf("%s.%d", t.DeliveryRetry, tier+1)
}

// publisher implements partner.Publisher on Kafka.
type publisher struct {
	producer runtime.Producer
	topics   config.Topics
	json     bool // delivery log in JSON (the classified topic's format) rather than Avro
}

var _ partner.Publisher = (*publisher)(nil)

func (p *publisher) PublishLog(ctx context.Context, entries []partner.DeliveryLogEntry) error {
	msgs := make([]kafka.Message, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		var (
			v   []byte
			err error
		)
		if p.json {
			v, err = json.Marshal(e)
		} else {
			v, err = schemas.EncodeDeliveryLog(nil, &schemas.DeliveryLog{
				PostbackID: e.PostbackID, Partner: e.Partner, Attempt: e.Attempt, URL: e.URL,
				StatusCode: e.StatusCode, Error: e.Error, LatencyMS: e.Latency.Milliseconds(),
				NextAttemptAt: e.NextAttempt, Outcome: e.Outcome, At: e.At,
			})
		}
		if err != nil {
			return fmt.Errorf("encode delivery log: %w", err)
		}
		msgs = append(msgs, kafka.Message{Topic: p.topics.DeliveryLog, Key: []byte(e.PostbackID), Value: v})
	}
	if len(msgs) == 0 {
		return nil
	}
	return p.producer.Produce(ctx, msgs...)
}

func (p *publisher) ScheduleRetry(ctx context.Context, tier int, job partner.Job) error {
	v, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode retry: %w", err)
	}
	return p.producer.Produce(ctx, kafka.Message{Topic: RetryTopic(p.topics, tier), Key: []byte(job.Record.PostbackID), Value: v})
}

func (p *publisher) DeadLetter(ctx context.Context, job partner.Job, reason string) error {
	v, err := json.Marshal(struct {
		partner.Job
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}{job, reason, time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encode deadletter: %w", err)
	}
	return p.producer.Produce(ctx, kafka.Message{
		Topic: p.topics.DeliveryDeadletter, Key: []byte(job.Record.PostbackID), Value: v,
		Headers: []kafka.Header{{Key: HeaderDeadletterReason, Value: []byte(reason)}},
	})
}
