package partner

import (
	"context"
	"time"

	"github.com/postbackd/postbackd/schemas"
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
