package stage

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// Input is one batch as a Logic sees it: the records of one input
// partition that are not repeats, and the partition's store.
type Input struct {
	Store     state.Store // nil in a stage without state
	Topic     string
	Partition int
	Messages  []kafka.Message
	// NextOffset is the offset after the batch's last record (repeats
	// included): where the partition resumes once the batch is done.
	NextOffset int64
}

// Logic is what a stage does with a batch; the Processor does the rest
// (docs/ARCHITECTURE.md, "The stage lifecycle").
//
// Contract: Process is called for one batch of a store at a time. It
// must not write in.Store: the Processor applies Result.Writes after the
// outputs and changelog records are acknowledged. The classification
// stages' Process returns the same Result for the same (state, input), so
// that a replay after a crash writes byte-identical records.
type Logic interface {
	Process(ctx context.Context, in Input) (Result, error)
}

// Holder is a Logic with batches that must wait before they are
// processed (the sink's retry jobs until they are due). Hold runs before
// the store is locked, so a waiting batch of one input topic does not
// hold up another topic's batches of the same store.
type Holder interface {
	Hold(ctx context.Context, b stream.Batch) error
}

// Ticker is a Logic with work to do as time passes, not only when records
// come: a merge releasing what waited long enough, a sweep of idle state,
// a delayed delivery. Tick is called every Config.TickEvery for each input
// partition the Processor owns, under the store's lock like a batch, and
// its Result is written as a batch's is (outputs, then changelog, then
// state; no input offset moves). An error stops the stage.
type Ticker interface {
	Tick(ctx context.Context, t Tick) (Result, error)
}

// Tick is one timer call for one owned input partition.
type Tick struct {
	Store     state.Store // nil in a stage without state
	Topic     string
	Partition int
	// Now is the wall-clock time of the call. StreamTime is the highest
	// record timestamp this Processor has processed of the partition since
	// it was assigned (zero before its first batch): time as the stream
	// tells it, which a backlog moves faster than the clock.
	Now, StreamTime time.Time
	// Lag is the partition's consumer lag after its last batch: 0 when
	// that batch reached the end of the partition, -1 before its first
	// batch. It may be stale: records may have come since.
	Lag int64
	// CaughtUp, with Config.WatchEnds, is the latest time at which every
	// record the partition held had been processed (zero while never):
	// a merge takes the partition as one that will send nothing that
	// arrived before it, but for its producers' allowance.
	CaughtUp time.Time
}

// PartitionOwner is a Logic that keeps something per input partition
// outside the store (records held back for a merge): it is told when the
// Processor gains a partition, before its first batch or tick, and when
// it loses it, after its last, so that it never carries what it kept
// into a later assignment of the same partition.
type PartitionOwner interface {
	PartitionAssigned(topic string, partition int)
	PartitionRevoked(topic string, partition int)
}

// NoSource is the Result.Sources entry of an output that comes from no
// input record (a Tick's, or a control record): it carries no source
// position, and an output the broker refuses for good stops the stage,
// since there is no input to send to the deadletter.
const NoSource = -1

// Result is what a batch produced.
type Result struct {
	// Outputs carry their Topic and Key.
	Outputs []kafka.Message
	// Sources[i] is the index, in the Input's Messages (or in Inputs), of
	// the input that Outputs[i] came from, or NoSource: the Processor
	// stamps each output with that input's position (SourceHeader). A stage
	// writes one input's outputs to any one topic in order.
	Sources []int
	// Inputs, when set, are the records Sources index into instead of the
	// Input's Messages: those of earlier batches that a Logic kept and
	// releases now (a Tick has no Messages of its own). With
	// Config.MarksOnRelease they are what the source marks move past.
	Inputs []kafka.Message
	// Holding says the Logic sets the input offset stored with the state:
	// HoldFrom, the offset of the lowest record it holds back for a later
	// batch or tick (or, once a Tick released them all, the offset after
	// the last record it read), instead of the batch's next offset. After
	// a crash the held records are read again; those applied meanwhile
	// are dropped by the source marks.
	Holding  bool
	HoldFrom int64
	// Writes are the state changes, at most one per key.
	Writes []state.Write
	// Rejected counts input records sent to a deadletter, by field.
	Rejected map[string]int
	// More, from a Ticker, says it has more to write now than one store
	// transaction takes (at most MaxTxnRecords inputs): the Processor calls
	// Tick again at once, under the same lock, until a Result says no more.
	More bool
	// Control counts the batch's control records (watermarks): they are
	// counted apart from the records read, as the Result's outputs from no
	// input are from those written.
	Control int
}

// Producer is what a stage needs of stream.Producer.
type Producer interface {
	Produce(ctx context.Context, msgs ...kafka.Message) error
}

// Progress is told which input partitions a Processor owns and what it
// has processed of them. The default counts postbackd_records_in_total
// and postbackd_repeats_skipped_total; the sink, whose partners' groups
// all read the same records, counts each record once instead.
type Progress interface {
	Assigned(topic string, partition int)
	Revoked(topic string, partition int)
	// Processed: records read (repeats included) and repeats dropped.
	Processed(topic string, partition, records, repeats int)
}

// Restore says how a stateful stage brings a partition's store up to
// date when it is assigned.
type Restore int

const (
	// RestoreRebuild compares the store's input offset with the one on
	// the changelog's last record, and rebuilds the store from the whole
	// changelog when it is missing or behind. The stage reads one topic.
	RestoreRebuild Restore = iota
	// RestoreCatchUp applies the changelog from where the store last
	// read it to its end, keeping only keys under CatchUpPrefix: for
	// state whose writes commute (the sink's delivered markers). The
	// stage may read several topics into the same store, each with its
	// own offset.
	RestoreCatchUp
)

// inputOffsetName is the Store offset holding the next input offset the
// state of a RestoreRebuild stage reflects.
const inputOffsetName = "input"

// writeSeqName is the Store offset holding the sequence number of the
// last changelog write of a RestoreRebuild store, and writeSeqHeader
// carries it on every changelog record: a store is current when it has
// the changelog's last write, which its input offset alone cannot tell
// once a stage holds records (the offset then stays put while another
// copy classifies).
const (
	writeSeqName   = "changelog-seq"
	writeSeqHeader = "postbackd-changelog-seq"
)

// changelogPosName is the Store offset up to which a RestoreCatchUp store
// holds its changelog partition's records.
const changelogPosName = "changelog"

// inputOffsetHeader carries, on every changelog record of a
// RestoreRebuild stage, the next input offset of the batch that wrote it:
// the changelog's last record then says how far the state it holds goes.
const inputOffsetHeader = "postbackd-input-offset"
