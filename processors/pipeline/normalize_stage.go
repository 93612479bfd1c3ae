package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/normalize"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
)

// NormalizeStageName labels the normalize stage in groups, metrics and logs.
const NormalizeStageName = "normalize"

// NormalizeStage validates raw clicks and events and re-keys them by
// device_id onto events.by-device; refused records go to the deadletter
// topic with their reason, and nothing else is lost. It holds no state:
// after a crash it re-reads from the group's committed offset, and the
// device classifier drops the repeats by event_id.
type NormalizeStage struct {
	env      Env
	handler  *normalizeHandler
	consumer *stream.Consumer
}

// NewNormalizeStage builds the stage.
func NewNormalizeStage(env Env) (*NormalizeStage, error) {
	env.setDefaults()
	if err := env.validate(); err != nil {
		return nil, err
	}
	n, err := normalize.New(normalize.Config{
		Logger: env.Logger, MaxClockSkew: MaxClockSkew(env.Config), MaxRecordBytes: env.Config.MaxRecordBytes,
	})
	if err != nil {
		return nil, err
	}
	h := &normalizeHandler{env: env, normalizer: n, enc: env.encoder()}
	t := env.Config.Topics
	c, err := stream.NewConsumer(env.consumerConfig(NormalizeStageName, t.RawClicks, t.RawEvents), h)
	if err != nil {
		return nil, err
	}
	return &NormalizeStage{env: env, handler: h, consumer: c}, nil
}

// Run consumes until ctx is cancelled, then drains the batch in flight.
func (s *NormalizeStage) Run(ctx context.Context) error { return s.consumer.Run(ctx) }

type normalizeHandler struct {
	env        Env
	normalizer *normalize.Normalizer
	enc        classifiedEncoder
}

func (h *normalizeHandler) Assigned(context.Context, string, int) (int64, error) {
	return stream.CommittedOffset, nil
}

func (h *normalizeHandler) Revoked(context.Context, string, int) {}

func (h *normalizeHandler) Process(ctx context.Context, b stream.Batch) error {
	start := time.Now()
	topics := h.env.Config.Topics
	out := make([]kafka.Message, 0, len(b.Messages))
	sources := make([]int, 0, len(b.Messages))
	// Each output carries its raw record's position: after a crash this
	// stage writes the same records again, and the device stage drops
	// them by that position (stage.SourceHeader).
	arena := make([]byte, 0, 32*len(b.Messages))
	rejects := 0
	for i := range b.Messages {
		m := &b.Messages[i]
		// The record's Kafka timestamp is its arrival time.
		in, err := h.normalizer.Normalize(m.Value, m.Time)
		if err == nil {
			var v []byte
			if v, err = schemas.EncodeInput(nil, &in); err == nil {
				o := kafka.Message{Topic: topics.EventsByDevice, Key: []byte(in.DeviceID()), Value: v}
				// Refused before producing, so that one record can never
				// stop the stage with the broker's refusal.
				if err = stage.CheckSize(&o, h.env.maxMessageBytes()); err == nil {
					out, sources = append(out, o), append(sources, i)
					arena = stage.StampSource(&out[len(out)-1], m, 0, arena)
					continue
				}
			}
		}
		field, reason := "", err.Error()
		var rj *normalize.Reject
		if errors.As(err, &rj) {
			field, reason = rj.Field, rj.Reason
		}
		dl, err := h.enc.deadletter(topics.Deadletter, *m, field, reason)
		if err != nil {
			return err
		}
		out, sources = append(out, dl), append(sources, i)
		rejects++
		h.env.Metrics.Rejects.WithLabelValues(NormalizeStageName, rejectLabel(field)).Inc()
	}
	// A record the broker refuses sends its raw record to the deadletter;
	// a refused deadletter record is replaced the same way, and only a
	// second refusal stops the stage.
	refused, err := stage.ProduceOrDeadLetter(ctx, h.env.Producer, out, sources, b.Messages, h)
	if err != nil {
		return err
	}
	if refused > 0 {
		h.env.Metrics.Rejects.WithLabelValues(NormalizeStageName, "refused").Add(float64(refused))
	}
	m := h.env.Metrics
	m.RecordsIn.WithLabelValues(NormalizeStageName).Add(float64(len(b.Messages)))
	m.RecordsOut.WithLabelValues(NormalizeStageName, topics.EventsByDevice).Add(float64(len(out) - rejects))
	m.RecordsOut.WithLabelValues(NormalizeStageName, topics.Deadletter).Add(float64(rejects))
	m.ObserveBatch(NormalizeStageName, b, start)
	return nil
}

// DeadLetter sends a raw record whose normalized form the broker refused
// to the deadletter (stage.DeadLetterer).
func (h *normalizeHandler) DeadLetter(input kafka.Message, reason string) (kafka.Message, error) {
	return h.enc.deadletter(h.env.Config.Topics.Deadletter, input, "", reason)
}

// rejectLabel bounds the label's values: field names are a fixed set, and
// a record unreadable as a whole has none.
func rejectLabel(field string) string {
	if field == "" {
		return "record"
	}
	return field
}
