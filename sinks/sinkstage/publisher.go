package sinkstage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
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
//
// No single record may stop the sink: a record the broker refuses for good
// (too large, invalid), or that cannot be encoded, is replaced by a
// smaller one that says so, and the stream goes on; only a failure that is
// not a record's own (a closed or failed producer) is returned. A
// delivery-log entry becomes a stub with the broker's error; a retry goes
// to the delivery deadletter instead (with a deadlettered entry in the
// delivery log); a deadletter becomes a stub that identifies the postback
// (its full record stays on the classified topic). Each replacement is
// counted (postbackd_rejects_total{stage="sink",field="refused_<kind>"}),
// and a stub refused as well is logged and counted as lost_<kind>.
type publisher struct {
	producer stage.Producer
	topics   config.Topics
	json     bool // delivery log in JSON (the classified topic's format) rather than Avro
	// logID, when set, is the registry id of the DeliveryLog schema: the
	// delivery log is Confluent-framed.
	logID   int
	log     *zap.Logger
	metrics *stage.Metrics
}

var _ partner.Publisher = (*publisher)(nil)

// deadLetterRecord is the value of a delivery deadletter record.
type deadLetterRecord struct {
	partner.Job
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Trimmed: the record is a stub (its full form was refused by the
	// broker); Job.Record holds only the fields that identify it.
	Trimmed bool `json:"trimmed,omitempty"`
}

func (p *publisher) PublishLog(ctx context.Context, entries []partner.DeliveryLogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, len(entries))
	var at []int // msgs[k] is entries[at[k]], once an entry is left out
	var unencodable []refusal
	for i := range entries {
		m, err := p.logMessage(&entries[i])
		if err != nil {
			if at == nil {
				at = make([]int, len(msgs), len(entries))
				for k := range at {
					at[k] = k
				}
			}
			unencodable = append(unencodable, refusal{i, err})
			continue
		}
		msgs = append(msgs, m)
		if at != nil {
			at = append(at, i)
		}
	}
	refused, err := produce(ctx, p.producer, msgs)
	if err != nil {
		return err
	}
	for _, r := range refused {
		i := r.i
		if at != nil {
			i = at[i]
		}
		if err := p.logStub(ctx, entries[i], "delivery-log entry refused by the broker: "+r.err.Error()); err != nil {
			return err
		}
	}
	for _, r := range unencodable {
		if err := p.logStub(ctx, entries[r.i], "delivery-log entry not encodable: "+r.err.Error()); err != nil {
			return err
		}
	}
	return nil
}

func (p *publisher) logMessage(e *partner.DeliveryLogEntry) (kafka.Message, error) {
	var (
		v   []byte
		err error
	)
	switch {
	case p.json:
		v, err = schemas.AppendDeliveryLogJSON(nil, e)
	case p.logID > 0:
		v = schemas.EncodeDeliveryLogConfluent(nil, p.logID, e)
	default:
		v, err = schemas.EncodeDeliveryLog(nil, e)
	}
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encode delivery log: %w", err)
	}
	return kafka.Message{Topic: p.topics.DeliveryLog, Key: []byte(e.PostbackID), Value: v}, nil
}

// logStub publishes a stub of an entry that could not be written: the
// entry without its URL and answer, its error why. Only a failure that is
// not the stub's own is returned.
func (p *publisher) logStub(ctx context.Context, e partner.DeliveryLogEntry, why string) error {
	p.log.Warn("delivery-log entry replaced by a stub", zap.String("postback_id", e.PostbackID),
		zap.String("partner", e.Partner), zap.String("why", why))
	e.URL, e.Response, e.Method = "", "", ""
	e.Error = partner.BoundText(why, partner.MaxErrorBytes)
	m, err := p.logMessage(&e)
	if err == nil {
		err = p.produceLast(ctx, "delivery_log", m)
	}
	if err != nil && !errors.Is(err, errProduce) {
		p.log.Error("stub delivery-log entry not written", zap.String("postback_id", e.PostbackID), zap.Error(err))
		return nil
	}
	return err
}

func (p *publisher) ScheduleRetry(ctx context.Context, tier int, job partner.Job) error {
	var why string
	v, err := json.Marshal(job)
	if err != nil {
		why = "retry not encodable: " + err.Error()
	} else {
		refused, err := produce(ctx, p.producer, []kafka.Message{{Topic: RetryTopic(p.topics, tier), Key: []byte(job.Record.PostbackID), Value: v}})
		if err != nil || len(refused) == 0 {
			return err
		}
		why = "retry refused by the broker: " + refused[0].err.Error()
	}
	p.log.Warn("retry not written; the postback goes to the delivery deadletter", zap.String("postback_id", job.Record.PostbackID),
		zap.String("partner", job.Partner), zap.Int("tier", tier+1), zap.String("why", why))
	p.metrics.Rejects.WithLabelValues(StageName, "refused_retry").Inc()
	if err := p.DeadLetter(ctx, job, why); err != nil {
		return err
	}
	// The batch's entry says retry_scheduled; this one says what happened.
	return p.PublishLog(ctx, []partner.DeliveryLogEntry{{PostbackID: job.Record.PostbackID, Partner: job.Partner,
		Rule: job.Rule, Attempt: job.Attempt, Tier: job.Tier, Outcome: partner.OutcomeDeadLettered,
		Error: partner.BoundText(why, partner.MaxErrorBytes), At: time.Now()}})
}

func (p *publisher) DeadLetter(ctx context.Context, job partner.Job, reason string) error {
	reason = partner.BoundText(reason, partner.MaxReasonBytes)
	var why string
	m, err := p.deadLetterMessage(deadLetterRecord{Job: job, Reason: reason, At: time.Now().UTC()})
	if err != nil {
		why = "full deadletter not encodable: " + err.Error()
	} else {
		refused, err := produce(ctx, p.producer, []kafka.Message{m})
		if err != nil || len(refused) == 0 {
			return err
		}
		why = "full deadletter refused by the broker: " + refused[0].err.Error()
	}
	p.log.Warn("deadletter replaced by a stub", zap.String("postback_id", job.Record.PostbackID),
		zap.String("partner", job.Partner), zap.String("why", why))
	stub := deadLetterRecord{Job: job, At: time.Now().UTC(), Trimmed: true,
		Reason: partner.BoundText(reason+"; "+why, partner.MaxReasonBytes)}
	stub.Record = identity(job.Record)
	if m, err = p.deadLetterMessage(stub); err == nil {
		err = p.produceLast(ctx, "deadletter", m)
	}
	if err != nil && !errors.Is(err, errProduce) {
		p.log.Error("stub deadletter not written", zap.String("postback_id", job.Record.PostbackID), zap.Error(err))
		return nil
	}
	return err
}

func (p *publisher) deadLetterMessage(d deadLetterRecord) (kafka.Message, error) {
	v, err := json.Marshal(d)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encode deadletter: %w", err)
	}
	return kafka.Message{
		Topic: p.topics.DeliveryDeadletter, Key: []byte(d.Record.PostbackID), Value: v,
		Headers: []kafka.Header{{Key: HeaderDeadletterReason, Value: []byte(d.Reason)}},
	}, nil
}

// identityBytes bounds each field of a stub deadletter's record.
const identityBytes = 256

// identity is the part of a record that finds it again on the classified
// topic, each field bounded.
func identity(r schemas.Classified) schemas.Classified {
	b := func(s string) string { return partner.BoundText(s, identityBytes) }
	id := schemas.Classified{
		PostbackID: b(r.PostbackID), Type: b(r.Type), EventID: b(r.EventID), AppID: b(r.AppID),
		Platform: b(r.Platform), DeviceID: b(r.DeviceID), UserID: b(r.UserID),
	}
	if y := r.EventTS.Year(); y >= 0 && y <= 9999 { // what JSON can encode
		id.EventTS = r.EventTS
	}
	return id
}

// errProduce wraps a failure to produce that is not a record's own: the
// one error about a stub its caller must return.
var errProduce = errors.New("sinkstage: produce")

// produceLast writes a stub, the last resort for a record that could not
// be written. A stub refused too is counted and reported as an error that
// does not wrap errProduce; a failure to produce wraps errProduce.
func (p *publisher) produceLast(ctx context.Context, kind string, m kafka.Message) error {
	p.metrics.Rejects.WithLabelValues(StageName, "refused_"+kind).Inc()
	refused, err := produce(ctx, p.producer, []kafka.Message{m})
	if err != nil {
		return fmt.Errorf("%w: %w", errProduce, err)
	}
	if len(refused) > 0 {
		p.metrics.Rejects.WithLabelValues(StageName, "lost_"+kind).Inc()
		return fmt.Errorf("stub refused as well: %w", refused[0].err)
	}
	return nil
}

// lost reports a record refused for good that has no stub: a changelog
// mark (a key and a small value: the broker should never refuse one).
// The mark stays in the local store.
func (p *publisher) lost(kind string, m kafka.Message, why error) {
	p.metrics.Rejects.WithLabelValues(StageName, "lost_"+kind).Inc()
	p.log.Error("record refused by the broker and dropped", zap.String("topic", m.Topic), zap.ByteString("key", m.Key[:min(len(m.Key), identityBytes)]), zap.Error(why))
}

// refusal is a record the broker refused for good: its index and why.
type refusal struct {
	i   int
	err error
}

// produce writes msgs with p and waits for their acks. It returns the
// records refused for good (stream.ProduceError: too large for the
// producer's batch_bytes or the broker's message.max.bytes, or invalid),
// each with its error, every other record written; err is any other
// failure (ctx ended, the producer closed or failed), for the caller to
// stop on. While the broker is away, Produce waits for it.
func produce(ctx context.Context, p stage.Producer, msgs []kafka.Message) ([]refusal, error) {
	err := p.Produce(ctx, msgs...)
	if err == nil {
		return nil, nil
	}
	var pe *stream.ProduceError
	if !errors.As(err, &pe) {
		return nil, err
	}
	refused := make([]refusal, 0, len(pe.Failed))
	for _, f := range pe.Failed {
		if f.Index < 0 || f.Index >= len(msgs) {
			return nil, err
		}
		refused = append(refused, refusal{f.Index, f.Err})
	}
	return refused, nil
}
