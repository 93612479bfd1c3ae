package stream

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// Start offsets Handler.Assigned may return besides an absolute offset.
const (
	// FirstOffset starts at the earliest record still in the partition.
	FirstOffset int64 = kafka.FirstOffset
	// LastOffset starts after the newest record: only new records are seen.
	LastOffset int64 = kafka.LastOffset
	// CommittedOffset starts at the group's committed offset, or at the
	// earliest record when the group has none for the partition.
	CommittedOffset int64 = -3
)

// Handler is implemented by a stage and driven by a Consumer.
//
// Contract: for one partition, calls are sequential: Assigned, then Process
// with batches in offset order, then Revoked. Different partitions are
// handled concurrently, each by its own goroutine, so a Handler must be
// safe for concurrent calls on different partitions. A partition is never
// handled by two generations at once: Revoked for the old owner returns
// before Assigned is called again on this member.
type Handler interface {
	// Assigned is called when this member gains partition of topic. It
	// returns the offset to start from: an absolute offset (for example the
	// one stored with the stage's state), or FirstOffset, LastOffset or
	// CommittedOffset. An error stops the Consumer.
	Assigned(ctx context.Context, topic string, partition int) (startOffset int64, err error)
	// Process handles the records of one partition, in offset order. When
	// it returns nil the batch is done: the Consumer commits b.NextOffset()
	// as the group's offset (periodically, and always before the partition
	// is given up). An error stops the Consumer without committing b.
	//
	// ctx is not cancelled when the Consumer starts draining: the batch in
	// flight is allowed to finish (up to ConsumerConfig.DrainTimeout).
	// b.Messages is reused after Process returns; copy what must outlive
	// the call (Key and Value slices themselves are not reused).
	Process(ctx context.Context, b Batch) error
	// Revoked is called when this member loses the partition (rebalance,
	// shutdown or error), after its last Process returned. It is called
	// exactly once for every Assigned that returned nil.
	Revoked(ctx context.Context, topic string, partition int)
}

// Batch is consecutive records of one partition.
type Batch struct {
	Topic     string
	Partition int
	// Messages are in offset order; never empty.
	Messages []kafka.Message
	// HighWaterMark is the partition's end offset when the last record was
	// fetched: HighWaterMark - NextOffset() is the consumer lag.
	HighWaterMark int64
	// Ended is closed when the generation that fetched the batch ends
	// (a rebalance, or the consumer stopping). A handler that waits before
	// it starts on the batch (a retry tier's due time) stops waiting then
	// and returns its context's error: the batch is not committed, and the
	// partition's next owner fetches it again.
	Ended <-chan struct{}
}

// NextOffset is the offset after the batch's last record: where the
// partition resumes once the batch is done.
func (b Batch) NextOffset() int64 { return b.Messages[len(b.Messages)-1].Offset + 1 }

// Lag is how many records of the partition were not yet fetched when the
// batch was complete.
func (b Batch) Lag() int64 {
	if lag := b.HighWaterMark - b.NextOffset(); lag > 0 {
		return lag
	}
	return 0
}
