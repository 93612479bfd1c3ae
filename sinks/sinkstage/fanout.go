package sinkstage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// The fan-out (DELIVERY.md, "One read of the classified topic for all
// partners"): one consumer group, <group_prefix>.sink.fanout, reads the
// classified topic, decodes each record once, evaluates every partner's
// rules (partner.Router), and hands each partner that takes the record a
// job on its own topic, <delivery_jobs>.<partner id>: the classified
// record's bytes as they were, keyed by postback_id (so a postback has the
// same partition number there as in the classified topic and the retry
// tiers, where its partner's dedup store is). Each partner's group reads
// only its jobs topic and the retry tiers, so its cost is its own
// postbacks, and a dead or slow partner holds back nothing but its own
// topic. The fan-out holds no state: it forwards each record's source
// header (stage.Config.ForwardSource), so a partner drops a job the
// fan-out wrote again after a crash, or one of a classified record the
// device or user stage wrote again, by the position of the device or user
// stage's input, as it dropped classified repeats before the fan-out.

// FanoutName is the fan-out's name in groups (<group_prefix>.sink.fanout),
// logs and the readiness report.
const FanoutName = StageName + ".fanout"

// JobsTopic is partner id's jobs topic, <delivery_jobs>.<id>. Characters a
// Kafka topic name cannot hold (anything but ASCII letters, digits, '.',
// '_' and '-') become '_', and the id's hash is appended then, when the id
// holds '.' or '_' (Kafka refuses two topics whose names differ only
// there), and when the name would be too long: two ids never share or
// collide on a topic.
func JobsTopic(t config.Topics, id string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, id)
	name := t.DeliveryJobs + "." + safe
	if safe != id || strings.ContainsAny(id, "._") || len(name) > maxTopicName {
		sum := sha256.Sum256([]byte(id))
		suffix := "-" + hex.EncodeToString(sum[:6])
		name = name[:min(len(name), maxTopicName-len(suffix))] + suffix
	}
	return name
}

// maxTopicName is Kafka's longest topic name.
const maxTopicName = 249

// fanout is the fan-out's stage.Logic.
type fanout struct {
	env        stage.Env
	router     *partner.Router
	jobs       []string // jobs topic per partner, in the router's order
	classified string
	pub        *publisher
}

// Process hands each record of the batch to the partners whose rules take
// it. A record that cannot be decoded is skipped and reported: it cannot
// be delivered, and holding the partition would stop every postback
// behind it.
func (f *fanout) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	var res stage.Result
	var to []int
	for i := range in.Messages {
		m := &in.Messages[i]
		rec, err := decodeClassified(m.Value, f.env.Schemas)
		if err == nil {
			err = checkPostbackID(rec.PostbackID)
		}
		if errors.Is(err, schemas.ErrRegistryUnavailable) {
			return res, err // the registry is away, not the record wrong: the batch fails
		}
		if err != nil {
			f.env.Logger.Error("undecodable record skipped", zap.String("topic", in.Topic), zap.Int("partition", in.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
			f.env.Metrics.Rejects.WithLabelValues(StageName, "record").Inc()
			continue
		}
		to = f.router.Route(&rec, to[:0])
		for _, p := range to {
			// On the classified record's partition number: the partner's
			// store of that number holds its dedup marks and the source
			// marks of what went to it, whatever partitioner wrote the
			// classified topic (checkJobsPartitions makes the counts equal).
			job := kafka.Message{Topic: f.jobs[p], Key: m.Key, Value: m.Value, Headers: jobHeaders(m)}
			res.Outputs = append(res.Outputs, stream.AtPartition(job, m.Partition))
			res.Sources = append(res.Sources, i)
		}
	}
	return res, nil
}

// checkJobsPartitions fails when a jobs topic has not as many partitions
// as the classified topic (an operator created one by hand): a job goes to
// its classified record's partition number.
func checkJobsPartitions(env stage.Env, classified string, jobs []string) error {
	if len(env.Config.Kafka.Brokers) == 0 || len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts, err := stream.PartitionCounts(ctx, stream.TopicsConfig{Brokers: env.Config.Kafka.Brokers, Dialer: env.Dialer, Logger: env.Logger},
		append([]string{classified}, jobs...)...)
	if err != nil {
		return fmt.Errorf("sink: partition counts of the classified and jobs topics: %w", err)
	}
	for _, j := range jobs {
		if counts[j] != counts[classified] {
			return fmt.Errorf("sink: jobs topic %s has %d partitions and the classified topic %s %d: they must be equal (a job goes to its record's partition number)",
				j, counts[j], classified, counts[classified])
		}
	}
	return nil
}

// jobHeaders are the headers of a job made from m: m's own but the source
// header, which the Processor forwards, and the arrival header, from m's
// timestamp when m has none.
func jobHeaders(m *kafka.Message) []kafka.Header {
	hs := make([]kafka.Header, 0, len(m.Headers)+1)
	arrival := false
	for _, h := range m.Headers {
		switch h.Key {
		case stage.SourceHeader:
			continue
		case stage.ArrivalHeader:
			arrival = true
		}
		hs = append(hs, h)
	}
	if !arrival {
		hs = append(hs, stage.ArrivalHeaderOf(m.Time))
	}
	return hs
}

// DeadLetter is the delivery deadletter record of a classified record
// whose job the broker refused for good (stage.DeadLetterer).
func (f *fanout) DeadLetter(input kafka.Message, reason string) (kafka.Message, error) {
	rec, err := decodeClassified(input.Value, f.env.Schemas)
	if err != nil {
		return kafka.Message{}, err
	}
	return f.pub.deadLetterMessage(deadLetterRecord{Job: partner.Job{Record: rec}, At: time.Now().UTC(),
		Reason: partner.BoundText(reason, partner.MaxReasonBytes)})
}
