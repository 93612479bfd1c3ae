package sinkstage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// Bulk redrive (DELIVERY.md, "Bulk redrive"): postbacks of one partner,
// picked from the delivery deadletter or the classified topic, are handed
// back to the running sink as jobs on retry tier 1, due at once. The
// partner's own consumer group then delivers them like any retry: at the
// partner's rate limit and concurrency, through its breaker, with a fresh
// retry schedule, each logged in the delivery log, and skipped as
// skipped_duplicate when its dedup mark says it was delivered (unless
// forced). A redrive run twice sends nothing the second time: the plan
// leaves out what the sink changelog says was delivered, and the sink
// drops what slips through.

// Where a redrive takes its postbacks from.
const (
	RedriveFromDeadletter = "deadletter"
	RedriveFromClassified = "classified"
)

// Outcomes a redrive from the classified topic selects by, besides the
// delivery log's own: failed is every outcome that is neither delivered
// nor skipped_* (the postback's latest entry says it was not delivered
// and is still being, or no longer, retried), none a postback the
// delivery log has no entry of for the partner.
const (
	RedriveOutcomeFailed = "failed"
	RedriveOutcomeNone   = "none"
)

// RedriveRequest selects the postbacks a redrive sends again.
type RedriveRequest struct {
	Partner string `json:"partner"`
	// From is RedriveFromDeadletter (the default) or RedriveFromClassified.
	From string `json:"from,omitempty"`
	// Types: record types; empty: every type.
	Types []string `json:"types,omitempty"`
	// Outcomes (from the classified topic only): the postback's latest
	// delivery-log outcome for the partner must be one of these
	// (schemas.Outcomes, failed or none); empty: any, including none.
	Outcomes []string `json:"outcomes,omitempty"`
	// Since and Until bound when the postback failed (a deadletter's
	// time) or arrived (a classified record's arrival): Since <= t <
	// Until; zero: unbounded.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Force sends postbacks already delivered to the partner too, with
	// the same Idempotency-Key.
	Force bool `json:"force,omitempty"`
	// DryRun plans and sends nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// Validate checks r against the sink's config.
func (r *RedriveRequest) Validate(sc *partner.Config) error {
	var problems []string
	if r.Partner == "" {
		problems = append(problems, "partner: required")
	} else if !slices.ContainsFunc(sc.Partners, func(p partner.PartnerConfig) bool { return p.ID == r.Partner }) {
		problems = append(problems, fmt.Sprintf("partner: %q is not configured", r.Partner))
	}
	switch r.From {
	case "", RedriveFromDeadletter:
		if len(r.Outcomes) > 0 && (len(r.Outcomes) > 1 || r.Outcomes[0] != schemas.OutcomeDeadLettered) {
			problems = append(problems, "outcomes: the deadletter holds deadlettered postbacks only; select other outcomes with from: classified")
		}
	case RedriveFromClassified:
	default:
		problems = append(problems, fmt.Sprintf("from: %q, want %s or %s", r.From, RedriveFromDeadletter, RedriveFromClassified))
	}
	for _, t := range r.Types {
		if !schemas.IsRecordType(t) {
			problems = append(problems, fmt.Sprintf("types: %q is not a record type", t))
		}
	}
	for _, o := range r.Outcomes {
		if !schemas.IsOutcome(o) && o != RedriveOutcomeFailed && o != RedriveOutcomeNone {
			problems = append(problems, fmt.Sprintf("outcomes: %q, want one of %s, %s, %s", o, strings.Join(schemas.Outcomes[:], ", "), RedriveOutcomeFailed, RedriveOutcomeNone))
		}
	}
	if !r.Since.IsZero() && !r.Until.IsZero() && !r.Until.After(r.Since) {
		problems = append(problems, "until: not after since")
	}
	if len(sc.Retry.Tiers) == 0 {
		problems = append(problems, "sink.retry.tiers: a redrive goes through retry tier 1, and none is configured")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: redrive: %s", partner.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

func (r *RedriveRequest) from() string {
	if r.From == "" {
		return RedriveFromDeadletter
	}
	return r.From
}

func (r *RedriveRequest) inWindow(t time.Time) bool {
	return (r.Since.IsZero() || !t.Before(r.Since)) && (r.Until.IsZero() || t.Before(r.Until))
}

// RedriveItem is one postback a redrive sends.
type RedriveItem struct {
	PostbackID string    `json:"postback_id"`
	Type       string    `json:"type"`
	EventTS    time.Time `json:"event_ts"`
	Rule       int       `json:"rule"`
	// Why it is redriven: the deadletter's reason, or the latest
	// delivery-log outcome (none: no entry).
	Why string    `json:"why,omitempty"`
	At  time.Time `json:"at"` // when it failed (deadletter) or arrived (classified)
	// Delivered: the sink changelog says it was delivered (sent only
	// with Force).
	Delivered bool `json:"delivered,omitempty"`

	job       partner.Job
	partition int // of the classified topic; -1: key it by postback_id
}

// RedrivePlan is what a redrive sends, and what it leaves out and why.
type RedrivePlan struct {
	Request RedriveRequest `json:"request"`
	Send    []RedriveItem  `json:"send"`
	// Scanned records of the source; Matched the partner's that pass the
	// filters (each postback once).
	Scanned int `json:"scanned"`
	Matched int `json:"matched"`
	// Left out: delivered already (without Force), taken by no rule of
	// the partner's current config, suppressed by its privacy rules, and
	// deadletter stubs whose full record is only on the classified topic
	// (redrive them from there).
	SkippedDelivered int `json:"skipped_delivered"`
	SkippedNoRule    int `json:"skipped_no_rule"`
	SkippedPrivacy   int `json:"skipped_privacy"`
	SkippedTrimmed   int `json:"skipped_trimmed"`
	// Undecodable source records, skipped.
	Undecodable int `json:"undecodable"`
}

// RedriveEnv is where a redrive reads and writes.
type RedriveEnv struct {
	Config  *config.Config
	Sink    partner.Config
	Dialer  *kafka.Dialer      // TLS/SASL; nil for plain TCP
	Schemas *registry.Registry // for Confluent-framed records; nil without a registry
}

func (e *RedriveEnv) scan(topic string, since time.Time) stream.ScanConfig {
	return stream.ScanConfig{Brokers: e.Config.Kafka.Brokers, Dialer: e.Dialer, Topic: topic, Since: since}
}

// PlanRedrive reads the source and the sink changelog and returns what
// the request would send. It sends nothing.
func PlanRedrive(ctx context.Context, env RedriveEnv, req RedriveRequest) (*RedrivePlan, error) {
	if err := req.Validate(&env.Sink); err != nil {
		return nil, err
	}
	router, err := partner.NewRouter(env.Sink)
	if err != nil {
		return nil, err
	}
	plan := &RedrivePlan{Request: req}
	byID := make(map[string]int) // postback_id -> index in plan.Send
	add := func(it RedriveItem) {
		if i, ok := byID[it.PostbackID]; ok {
			plan.Send[i] = it // the latest failure wins
			return
		}
		byID[it.PostbackID] = len(plan.Send)
		plan.Send = append(plan.Send, it)
	}
	switch req.from() {
	case RedriveFromDeadletter:
		err = env.scan(env.Config.Topics.DeliveryDeadletter, req.Since).Scan(ctx, func(m kafka.Message) error {
			plan.Scanned++
			var d deadLetterRecord
			if json.Unmarshal(m.Value, &d) != nil || checkPostbackID(d.Record.PostbackID) != nil {
				plan.Undecodable++
				return nil
			}
			if d.Partner != req.Partner || !req.inWindow(d.At) || !typeIn(req.Types, d.Record.Type) {
				return nil
			}
			if d.Trimmed {
				plan.SkippedTrimmed++
				return nil
			}
			add(RedriveItem{PostbackID: d.Record.PostbackID, Type: d.Record.Type, EventTS: d.Record.EventTS, Why: d.Reason, At: d.At,
				job: d.Job, partition: -1})
			return nil
		})
	case RedriveFromClassified:
		var latest map[string]string
		if len(req.Outcomes) > 0 {
			if latest, err = latestOutcomes(ctx, &env, req.Partner, req.Since); err != nil {
				return nil, err
			}
		}
		err = env.scan(env.Config.Topics.Classified, req.Since).Scan(ctx, func(m kafka.Message) error {
			plan.Scanned++
			rec, err := decodeClassified(m.Value, env.Schemas)
			if err != nil || checkPostbackID(rec.PostbackID) != nil {
				plan.Undecodable++
				return nil
			}
			arrival := stage.Arrival(&m)
			if arrival.IsZero() {
				arrival = m.Time
			}
			if !req.inWindow(arrival) || !typeIn(req.Types, rec.Type) {
				return nil
			}
			why := RedriveOutcomeNone
			if o, ok := latest[rec.PostbackID]; ok {
				why = o
			}
			if len(req.Outcomes) > 0 && !outcomeIn(req.Outcomes, why) {
				return nil
			}
			add(RedriveItem{PostbackID: rec.PostbackID, Type: rec.Type, EventTS: rec.EventTS, Why: why, At: arrival,
				job: partner.Job{Record: rec, Partner: req.Partner, Arrival: stage.Arrival(&m)}, partition: m.Partition})
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("redrive: read %s: %w", req.from(), err)
	}
	plan.Matched = len(plan.Send)

	delivered, err := deliveredOf(ctx, &env, req.Partner, byID)
	if err != nil {
		return nil, err
	}
	kept := plan.Send[:0]
	for _, it := range plan.Send {
		e := explainFor(router, req.Partner, &it.job.Record)
		switch {
		case e.Rule < 0:
			plan.SkippedNoRule++
			continue
		case strings.HasPrefix(e.Reason, partner.ExplainPrivacy):
			plan.SkippedPrivacy++
			continue
		case delivered[it.PostbackID] && !req.Force:
			plan.SkippedDelivered++
			continue
		}
		it.Rule, it.Delivered = e.Rule, delivered[it.PostbackID]
		kept = append(kept, it)
	}
	plan.Send = kept
	return plan, nil
}

// explainFor is the Router's explanation of rec for one partner.
func explainFor(r *partner.Router, partnerID string, rec *schemas.Classified) partner.Explanation {
	for _, e := range r.Explain(rec) {
		if e.Partner == partnerID {
			return e
		}
	}
	return partner.Explanation{Partner: partnerID, Rule: -1, Reason: partner.ExplainNoRule}
}

func typeIn(types []string, t string) bool { return len(types) == 0 || slices.Contains(types, t) }

func outcomeIn(outcomes []string, o string) bool {
	for _, want := range outcomes {
		switch {
		case want == o:
			return true
		case want == RedriveOutcomeFailed && o != RedriveOutcomeNone && o != schemas.OutcomeDelivered && !strings.HasPrefix(o, "skipped_"):
			return true
		}
	}
	return false
}

// latestOutcomes reads the delivery log (from since on) and returns each
// postback's latest outcome for the partner. Every entry of a postback
// is on one partition (keyed by postback_id), so offset order is the
// order they were written in.
func latestOutcomes(ctx context.Context, env *RedriveEnv, partnerID string, since time.Time) (map[string]string, error) {
	latest := make(map[string]string)
	err := env.scan(env.Config.Topics.DeliveryLog, since).Scan(ctx, func(m kafka.Message) error {
		e, err := decodeDeliveryLog(m.Value, env.Schemas)
		if err == nil && e.Partner == partnerID {
			latest[e.PostbackID] = e.Outcome
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redrive: read the delivery log: %w", err)
	}
	return latest, nil
}

// deliveredOf reads the sink changelog and returns which of ids it says
// were delivered to the partner: a mark d/<partner>/<postback_id> whose
// latest value is not a tombstone.
func deliveredOf(ctx context.Context, env *RedriveEnv, partnerID string, ids map[string]int) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(ids) == 0 {
		return out, nil
	}
	prefix := string(partner.DedupKey(partnerID, ""))
	err := env.scan(env.Config.Topics.SinkChangelog, time.Time{}).Scan(ctx, func(m kafka.Message) error {
		id, ok := strings.CutPrefix(string(m.Key), prefix)
		if !ok {
			return nil
		}
		if _, want := ids[id]; want {
			out[id] = m.Value != nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redrive: read the sink changelog: %w", err)
	}
	for id, d := range out {
		if !d {
			delete(out, id)
		}
	}
	return out, nil
}

// decodeDeliveryLog decodes a delivery-log entry in any form the sink
// writes it: JSON, single-object Avro or Confluent-framed.
func decodeDeliveryLog(v []byte, reg *registry.Registry) (schemas.DeliveryLog, error) {
	return decodeAny(v, reg, schemas.DecodeDeliveryLogJSON, schemas.DecodeDeliveryLogConfluent, schemas.DecodeDeliveryLog)
}

// redriveChunk is how many jobs a redrive produces in one call.
const redriveChunk = 500

// Queue hands the plan's postbacks to the sink: each a job on retry tier
// 1, due now, with a fresh retry schedule (and Resend when forced). A job
// from the classified topic goes to that record's partition number, one
// from the deadletter is keyed by its postback_id as the sink's own
// retries are: so each lands where its dedup mark is. queued is called
// after each chunk with the count so far.
func (p *RedrivePlan) Queue(ctx context.Context, env RedriveEnv, producer stage.Producer, queued func(n int)) error {
	if p.Request.DryRun {
		return errors.New("redrive: a dry run queues nothing")
	}
	topic := RetryTopic(env.Config.Topics, 0)
	now := time.Now().UTC()
	msgs := make([]kafka.Message, 0, min(len(p.Send), redriveChunk))
	for i, it := range p.Send {
		j := it.job
		j.Partner, j.Rule, j.Attempt, j.Tier, j.Due, j.Resend = p.Request.Partner, it.Rule, 0, 0, now, p.Request.Force
		v, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("redrive: encode job %s: %w", it.PostbackID, err)
		}
		m := kafka.Message{Topic: topic, Key: []byte(it.PostbackID), Value: v}
		if it.partition >= 0 {
			m = stream.AtPartition(m, it.partition)
		}
		msgs = append(msgs, m)
		if len(msgs) == cap(msgs) || i == len(p.Send)-1 {
			if err := producer.Produce(ctx, msgs...); err != nil {
				return fmt.Errorf("redrive: queue on %s: %w", topic, err)
			}
			msgs = msgs[:0]
			if queued != nil {
				queued(i + 1)
			}
		}
	}
	return nil
}

// RedriveProgress counts the final outcomes of a redrive's postbacks so
// far, from the delivery log.
type RedriveProgress struct {
	Total     int `json:"total"`
	Delivered int `json:"delivered"`
	// Skipped: skipped_duplicate (delivered meanwhile), skipped_no_rule,
	// skipped_privacy.
	Skipped      int `json:"skipped"`
	DeadLettered int `json:"deadlettered"`
	// Retrying: failed again and scheduled on a retry tier (or parked):
	// not final yet.
	Retrying int `json:"retrying"`
}

// Done reports whether every postback has a final outcome.
func (p RedriveProgress) Done() bool { return p.Delivered+p.Skipped+p.DeadLettered >= p.Total }

// DeliveryLogEnds is where the delivery log ends now: call it before
// Queue, and Watch from there.
func DeliveryLogEnds(ctx context.Context, env RedriveEnv) (map[int]int64, error) {
	return env.scan(env.Config.Topics.DeliveryLog, time.Time{}).Ends(ctx)
}

// Watch follows the delivery log from the offsets in from (DeliveryLogEnds
// before Queue) and reports each change of the plan's outcomes to
// progress, until every postback has a final outcome (delivered,
// skipped_*, deadlettered) or ctx ends. Only the partner's entries of
// the plan's postbacks count, the latest of each.
func (p *RedrivePlan) Watch(ctx context.Context, env RedriveEnv, from map[int]int64, progress func(RedriveProgress)) (RedriveProgress, error) {
	want := make(map[string]bool, len(p.Send))
	for _, it := range p.Send {
		want[it.PostbackID] = true
	}
	var (
		mu     sync.Mutex
		latest = make(map[string]string, len(want))
		cur    = RedriveProgress{Total: len(want)}
	)
	count := func() RedriveProgress {
		c := RedriveProgress{Total: len(want)}
		for _, o := range latest {
			switch {
			case o == schemas.OutcomeDelivered:
				c.Delivered++
			case strings.HasPrefix(o, "skipped_"):
				c.Skipped++
			case o == schemas.OutcomeDeadLettered:
				c.DeadLettered++
			default:
				c.Retrying++
			}
		}
		return c
	}
	if len(want) == 0 {
		return cur, nil
	}
	err := env.scan(env.Config.Topics.DeliveryLog, time.Time{}).Follow(ctx, from, func(m kafka.Message) error {
		e, err := decodeDeliveryLog(m.Value, env.Schemas)
		if err != nil || e.Partner != p.Request.Partner || !want[e.PostbackID] {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		latest[e.PostbackID] = e.Outcome
		if c := count(); c != cur {
			cur = c
			if progress != nil {
				progress(c)
			}
			if c.Done() {
				return stream.ErrStopFollow
			}
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	return cur, err
}
