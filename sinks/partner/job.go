package partner

import (
	"context"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// Job is one postback to deliver: a classified record fresh from the
// classified topic (Partner "": every partner's rules are tried), or one
// partner's delivery coming back from a retry tier or a resend. It carries
// everything needed to resume; the wiring serializes it into the retry-tier
// topics as it is.
type Job struct {
	Record  schemas.Classified `json:"record"`
	Partner string             `json:"partner,omitempty"` // "": a fresh record
	Rule    int                `json:"rule"`              // index in the partner's rules
	Attempt int                `json:"attempt"`           // HTTP tries spent so far
	Tier    int                `json:"tier"`              // retry tiers used so far
	Due     time.Time          `json:"due,omitzero"`      // when a retry may run
	Resend  bool               `json:"resend,omitempty"`  // bypass dedup (admin resend)
	// Arrival is when the record's event arrived (its raw record's
	// timestamp, carried by the postbackd-arrival header): the start of
	// the end-to-end latency; zero when unknown.
	Arrival time.Time `json:"arrival,omitzero"`
}

// Publisher hands the sink's outputs to Kafka; the stage wiring implements
// it, tests use a fake.
//
// Contract: every method returns only after the records are acknowledged
// (RequireAll), so that Process can report a batch done. Methods may be
// called concurrently: by Process for different partitions and by
// deliveries that finish after their batch (handed off at batch_wait),
// which only call PublishLog.
type Publisher interface {
	// PublishLog produces delivery-log entries, in order.
	PublishLog(ctx context.Context, entries []DeliveryLogEntry) error
	// ScheduleRetry produces job to the retry-tier topic number tier (an
	// index into Config.Retry.Tiers, whose delay the job's consumer
	// waits out: it hands the job back to Process not before job.Due).
	// The job must come back on the partition it left from (key it by
	// job.Record.PostbackID, as the classified topic is), since that
	// partition's store holds its dedup record.
	ScheduleRetry(ctx context.Context, tier int, job Job) error
	// DeadLetter produces job to the delivery deadletter topic with the
	// reason it failed for good.
	DeadLetter(ctx context.Context, job Job, reason string) error
}

// Recorder is an optional interface of the store handed to Sink.Process.
// A store that has it gets each successful delivery as soon as it ends,
// from the worker that made it and before that worker starts its next
// call: so at most a partner's concurrency of calls are ever delivered
// and not yet recorded, and a crash repeats no more than those. Without
// it, the dedup writes come back from Process and the entries go out
// with the batch's (a crash then repeats the whole batch).
type Recorder interface {
	// Record makes one delivery's dedup writes durable, both where a copy
	// taking the partition over on an empty disk finds them (the
	// changelog, acknowledged) and in the store itself, and takes its
	// delivery-log entries to publish; it returns when the writes are
	// durable (the entries may follow). It is called concurrently, by
	// every worker delivering for the store. On error the delivery goes
	// with its batch as without a Recorder.
	Record(ctx context.Context, writes []state.Write, entries []DeliveryLogEntry) error
}
