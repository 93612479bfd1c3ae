package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/normalize"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
)

// normalizeStage validates raw clicks and events and re-keys them by
// device_id onto events.by-device; refused records go to the deadletter
// topic with their reason, and nothing else is lost. It holds no state:
// after a crash it re-reads from the group's committed offset, and the
// device stage drops the repeats by their source position.
func normalizeStage(cfg *config.Config) stage.Stage {
	t := cfg.Topics
	return stage.Stage{
		Name:   Normalize,
		Reads:  []stream.TopicSpec{stage.Topic(cfg, t.RawClicks), stage.Topic(cfg, t.RawEvents), stage.PrivacyTopic(cfg, t.PrivacyRequests)},
		Writes: []stream.TopicSpec{byDeviceTopic(cfg), stage.Topic(cfg, t.Deadletter)},
		Build: func(env stage.Env) (stage.Runner, error) {
			nc := normalize.Config{Logger: env.Logger, MaxClockSkew: MaxClockSkew(cfg), MaxRecordBytes: cfg.MaxRecordBytes}
			if env.Schemas != nil {
				nc.Resolver = env.Schemas.Resolve
			}
			n, err := normalize.New(nc)
			if err != nil {
				return nil, err
			}
			counts := func(ctx context.Context, topics ...string) (map[string]int, error) {
				return stream.PartitionCounts(ctx, stream.TopicsConfig{Brokers: cfg.Kafka.Brokers, Dialer: env.Dialer, Logger: env.Logger}, topics...)
			}
			logic := &normalizeLogic{normalizer: n, deadLetters: deadLetters{enc: encoder(cfg, env.Schemas), topic: t.Deadletter}, out: t.EventsByDevice, requests: t.PrivacyRequests,
				partitions: func(ctx context.Context) (int, error) {
					c, err := counts(ctx, t.EventsByDevice)
					return c[t.EventsByDevice], err
				}}
			if !cfg.Merge.On() {
				return env.Processor(Normalize, stage.Config{Logic: logic}, t.RawClicks, t.RawEvents, t.PrivacyRequests)
			}
			m := cfg.Merge
			wm := newWatermarks(t.EventsByDevice, m.ProducerAllowance.D(), m.WatermarkInterval.D(), counts)
			return env.Processor(Normalize, stage.Config{
				Logic: &watermarkingNormalize{normalizeLogic: logic, wm: wm}, TickEvery: m.WatermarkInterval.D(), WatchEnds: true,
			}, t.RawClicks, t.RawEvents, t.PrivacyRequests)
		},
	}
}

type normalizeLogic struct {
	normalizer *normalize.Normalizer
	deadLetters
	out      string
	requests string // privacy.requests
	// partitions is events.by-device's partition count: a user's erasure
	// goes to every partition.
	partitions func(ctx context.Context) (int, error)
}

func (l *normalizeLogic) Process(ctx context.Context, in stage.Input) (stage.Result, error) {
	return l.process(ctx, in, time.Now())
}

func (l *normalizeLogic) process(ctx context.Context, in stage.Input, now time.Time) (stage.Result, error) {
	if in.Topic == l.requests {
		return l.erasures(ctx, in, now)
	}
	res := stage.Result{Outputs: make([]kafka.Message, 0, len(in.Messages)), Sources: make([]int, 0, len(in.Messages))}
	for i := range in.Messages {
		m := &in.Messages[i]
		// The record's Kafka timestamp is its arrival time.
		n, err := l.normalizer.Normalize(m.Value, m.Time)
		if err == nil {
			var v []byte
			if v, err = schemas.EncodeInput(nil, &n); err == nil {
				// The arrival time goes on as the record's timestamp: the
				// device stage merges by it.
				res.Outputs = append(res.Outputs, kafka.Message{Topic: l.out, Key: []byte(n.DeviceID()), Value: v, Time: mergeTime(m.Time, now)})
				res.Sources = append(res.Sources, i)
				continue
			}
		}
		if errors.Is(err, schemas.ErrRegistryUnavailable) {
			// Not the record's fault: the batch fails, and with it the
			// stage, rather than dead letter the records of an outage.
			return res, err
		}
		if err := l.reject(&res, m, i, err, rejectLabel); err != nil {
			return res, err
		}
	}
	return res, nil
}

// reject sends input i (m) to the deadletter with why (its field and
// reason when it is a normalize.Reject), counted in res.Rejected under
// label(field).
func (l *normalizeLogic) reject(res *stage.Result, m *kafka.Message, i int, why error, label func(field string) string) error {
	field, reason := "", why.Error()
	var rj *normalize.Reject
	if errors.As(why, &rj) {
		field, reason = rj.Field, rj.Reason
	}
	dl, err := l.enc.deadletter(l.topic, *m, field, reason)
	if err != nil {
		return err
	}
	res.Outputs, res.Sources = append(res.Outputs, dl), append(res.Sources, i)
	if res.Rejected == nil {
		res.Rejected = make(map[string]int)
	}
	res.Rejected[label(field)]++
	return nil
}

// erasures checks the erasure requests of privacy.requests and hands each
// on to events.by-device, keyed by the id it names and stamped with its
// arrival, marked schemas.ErasureHeader and with its own position
// (schemas.ErasureCopyHeader); a malformed one goes to the deadletter with
// its field and reason. A device's request goes to the device's
// partition, where its events are. A user's events come from any device,
// so a user's request goes to every partition: each copy follows the
// events that arrived before it on its partition through the merge and
// on to events.by-user, and the user stage erases the user at each copy,
// so that a partition behind the others cannot bring the user back.
func (l *normalizeLogic) erasures(ctx context.Context, in stage.Input, now time.Time) (stage.Result, error) {
	res := stage.Result{Outputs: make([]kafka.Message, 0, len(in.Messages)), Sources: make([]int, 0, len(in.Messages))}
	for i := range in.Messages {
		m := &in.Messages[i]
		at := mergeTime(m.Time, now)
		req, err := normalize.Erasure(m.Value, at)
		if err == nil {
			v, _ := json.Marshal(req) // strings and a time: cannot fail
			hdr := []kafka.Header{{Key: schemas.ErasureHeader, Value: []byte(req.Kind())},
				{Key: schemas.ErasureCopyHeader, Value: fmt.Appendf(nil, "%s/%d/%d", in.Topic, in.Partition, m.Offset)}}
			out := kafka.Message{Topic: l.out, Key: []byte(req.ID()), Value: v, Time: at, Headers: hdr}
			if req.Kind() == schemas.ErasureDevice || l.partitions == nil {
				res.Outputs, res.Sources = append(res.Outputs, out), append(res.Sources, i)
				continue
			}
			n, err := l.partitions(ctx)
			if err != nil || n < 1 {
				// The broker is away: the batch fails and comes again.
				return res, fmt.Errorf("partitions of %s: %d, %w", l.out, n, err)
			}
			for p := range n {
				res.Outputs, res.Sources = append(res.Outputs, stream.AtPartition(out, p)), append(res.Sources, i)
			}
			continue
		}
		if err := l.reject(&res, m, i, err, func(string) string { return "erasure" }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// mergeTime is the arrival time the device stage merges a record by: its
// Kafka timestamp, or now for one in the future or before 2000 (a wrong
// producer clock): a record stamped in 2150 must not wait for every raw
// partition to reach 2150, nor, released by force, make every record
// after it late.
func mergeTime(t, now time.Time) time.Time {
	if t.After(now) || t.Before(schemas.MinTS) {
		return now
	}
	return t
}

// byDeviceTopic is the spec of events.by-device: its records' timestamps
// are the raw records' arrival times, which the device stage merges by,
// so a broker whose default is LogAppendTime must not overwrite them.
func byDeviceTopic(cfg *config.Config) stream.TopicSpec {
	s := stage.Topic(cfg, cfg.Topics.EventsByDevice)
	s.Config = map[string]string{"message.timestamp.type": "CreateTime"}
	return s
}

// rejectLabel bounds the label's values: field names are a fixed set, and
// a record unreadable as a whole has none.
func rejectLabel(field string) string {
	if field == "" {
		return "record"
	}
	return field
}
