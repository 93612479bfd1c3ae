package stage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// changelogRetryFor bounds how long changelog reads are retried. A topic
// just created, or a leader just moved, answers "not leader" for a moment,
// and a broker that is restarting does not answer at all for as long as
// its restart takes (tens of seconds, more on a busy machine); none of it
// may fail the partition (and with it the consumer and the process). A
// partition is assigned only after the group was joined, so the broker was
// there a moment ago: five minutes covers a restart with room to spare,
// while a changelog that stays unreadable still fails the stage in the
// end rather than hold its partitions silently. Failures that waiting
// cannot mend (a record without its offset header, the store refusing a
// write) are marked stream.Permanent and fail at once.
const changelogRetryFor = 5 * time.Minute

// restoreChunk is how many changelog records go into one store
// transaction: large enough to amortize the commit, small enough that
// memory stays bounded whatever the changelog's size.
const restoreChunk = 16384

// tail is what the end of a changelog partition says.
type tail struct {
	first, end  int64 // first offset and high watermark
	inputOffset int64 // next input offset of the batch that wrote the last record
	seq         int64 // its write sequence, when hasSeq
	hasSeq      bool
}

func (t tail) empty() bool { return t.end <= t.first }

func dialLeader(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string, p int) (*kafka.Conn, error) {
	if dialer == nil {
		dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	var errs []error
	for _, b := range brokers {
		conn, err := dialer.DialLeader(ctx, "tcp", b, topic, p)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %s partition %d: no leader reachable: %w", ErrChangelog, topic, p, errors.Join(errs...))
}

// changelogTail reads the offsets of a changelog partition and the input
// offset recorded on its last record.
func changelogTail(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string, p int) (tail, error) {
	conn, err := dialLeader(ctx, dialer, brokers, topic, p)
	if err != nil {
		return tail{}, err
	}
	defer conn.Close()
	first, end, err := conn.ReadOffsets()
	if err != nil {
		return tail{}, fmt.Errorf("%w: %s partition %d: offsets: %w", ErrChangelog, topic, p, err)
	}
	t := tail{first: first, end: end}
	if t.empty() {
		return t, nil
	}
	// The last record of a log is never compacted away, so it is there.
	if _, err := conn.Seek(end-1, kafka.SeekAbsolute); err != nil {
		return tail{}, fmt.Errorf("%w: %s partition %d: seek: %w", ErrChangelog, topic, p, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	} else {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	batch := conn.ReadBatch(1, 1<<20)
	defer batch.Close()
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			return tail{}, fmt.Errorf("%w: %s partition %d: read last record: %w", ErrChangelog, topic, p, err)
		}
		if m.Offset < end-1 {
			continue
		}
		off, ok := headerOffset(m.Headers)
		if !ok {
			return tail{}, stream.Permanent(fmt.Errorf("%w: %s partition %d offset %d: no %s header", ErrChangelog, topic, p, m.Offset, inputOffsetHeader))
		}
		t.inputOffset = off
		t.seq, t.hasSeq = headerInt(m.Headers, writeSeqHeader)
		return t, nil
	}
}

func headerOffset(headers []kafka.Header) (int64, bool) {
	return headerInt(headers, inputOffsetHeader)
}

func headerInt(headers []kafka.Header, key string) (int64, bool) {
	for _, h := range headers {
		if h.Key == key && len(h.Value) == 8 {
			return int64(binary.BigEndian.Uint64(h.Value)), true
		}
	}
	return 0, false
}

type restoreTarget struct {
	store     state.Store
	dialer    *kafka.Dialer
	brokers   []string
	topic     string
	partition int
	tail      tail
	progress  func(done, remaining int64)
}

// restore replays the changelog partition from its first record to the
// tail into an empty store, and stores the tail's input offset last: a
// restore cut short leaves no offset, and the next owner starts over on an
// empty store. It returns how many records it applied.
func restore(ctx context.Context, t restoreTarget) (int64, error) {
	n, err := loadRange(ctx, t)
	if err != nil {
		return n, err
	}
	var b state.Batch
	b.SetOffset(inputOffsetName, t.tail.inputOffset)
	if t.tail.hasSeq {
		b.SetOffset(writeSeqName, t.tail.seq)
	}
	return n, stream.Permanent(t.store.Apply(&b))
}

// CatchUp applies the records of a changelog partition from offset from
// to its current end onto st, and returns that end offset and how many
// records it applied. It suits state whose writes commute, such as the
// sink's delivered-postback markers: re-reading a store's own writes
// changes nothing.
func CatchUp(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string, p int, from int64, st state.Store) (end, n int64, err error) {
	var first int64
	err = stream.Retry(ctx, changelogRetryFor, func() error {
		conn, err := dialLeader(ctx, dialer, brokers, topic, p)
		if err != nil {
			return err
		}
		defer conn.Close()
		if first, end, err = conn.ReadOffsets(); err != nil {
			return fmt.Errorf("%w: %s partition %d: offsets: %w", ErrChangelog, topic, p, err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if from > first {
		first = from
	}
	if first >= end {
		return end, 0, nil
	}
	n, err = loadRange(ctx, restoreTarget{store: st, dialer: dialer, brokers: brokers, topic: topic, partition: p, tail: tail{first: first, end: end}})
	return end, n, err
}

// loadRange reads the changelog records in [t.tail.first, t.tail.end)
// into t.store. One goroutine reads chunks while this one writes the
// previous chunk, so the network and the disk work at once; at most three
// chunks are in memory.
func loadRange(ctx context.Context, t restoreTarget) (int64, error) {
	conn, err := dialLeader(ctx, t.dialer, t.brokers, t.topic, t.partition)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Seek(t.tail.first, kafka.SeekAbsolute); err != nil {
		return 0, fmt.Errorf("%w: seek: %w", ErrChangelog, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan restoreChunkRead, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		readErr <- readChangelog(ctx, conn, t, chunks)
	}()

	loader, bulk := t.store.(state.BulkLoader)
	var n int64
	for c := range chunks {
		var err error
		if bulk {
			err = loader.Load(c.writes)
		} else {
			err = applySplit(t.store, c.writes, nil)
		}
		if err != nil {
			cancel()
			for range chunks { // let the reader finish
			}
			return n, stream.Permanent(err) // the store, not the broker
		}
		n += int64(len(c.writes))
		if t.progress != nil {
			t.progress(int64(len(c.writes)), t.tail.end-c.next)
		}
	}
	return n, <-readErr
}

type restoreChunkRead struct {
	writes []state.Write
	next   int64 // offset after the chunk's last record
}

// readChangelog reads the partition up to the tail in chunks of
// restoreChunk records.
func readChangelog(ctx context.Context, conn *kafka.Conn, t restoreTarget, out chan<- restoreChunkRead) error {
	next := t.tail.first
	chunk := make([]state.Write, 0, restoreChunk)
	send := func() error {
		select {
		case out <- restoreChunkRead{writes: chunk, next: next}:
			chunk = make([]state.Write, 0, restoreChunk)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stalls := 0
	for next < t.tail.end {
		if err := ctx.Err(); err != nil {
			return err
		}
		before := next
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		for {
			m, err := batch.ReadMessage()
			if err != nil || m.Offset >= t.tail.end {
				break
			}
			next = m.Offset + 1
			chunk = append(chunk, state.Write{Key: m.Key, Value: m.Value}) // nil value: a tombstone, a delete
			if len(chunk) >= restoreChunk {
				if err := send(); err != nil {
					batch.Close()
					return err
				}
			}
		}
		if err := batch.Close(); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: read: %w", ErrChangelog, err)
		}
		if off := batch.Offset(); off > next {
			next = off // compacted gaps
		}
		if next == before {
			if stalls++; stalls > 20 {
				return fmt.Errorf("%w: %s partition %d: no progress at offset %d of %d", ErrChangelog, t.topic, t.partition, next, t.tail.end)
			}
			continue
		}
		stalls = 0
	}
	if len(chunk) > 0 {
		return send()
	}
	return nil
}

// applySplit applies writes (and then offsets) in as many transactions as
// the store takes, halving a batch it refuses as too large.
func applySplit(st state.Store, writes []state.Write, offsets map[string]int64) error {
	b := state.Batch{Writes: writes, Offsets: offsets}
	err := st.Apply(&b)
	if !errors.Is(err, state.ErrBatchTooLarge) || len(writes) < 2 {
		return err
	}
	half := len(writes) / 2
	if err := applySplit(st, writes[:half], nil); err != nil {
		return err
	}
	return applySplit(st, writes[half:], offsets)
}

// keyFilter is a store as a RestoreCatchUp catch-up sees it: the
// changelog may hold the state of several stores (the sink's one per
// partner), and only keys under prefix are kept. Dropping the others is a
// byte comparison per record and keeps each store as small as its own
// traffic.
type keyFilter struct {
	state.Store
	prefix []byte
}

var _ state.BulkLoader = (*keyFilter)(nil)

func (f *keyFilter) keep(ws []state.Write) []state.Write {
	out := ws[:0:0]
	for _, w := range ws {
		if bytes.HasPrefix(w.Key, f.prefix) {
			out = append(out, w)
		}
	}
	return out
}

func (f *keyFilter) Apply(b *state.Batch) error {
	fb := state.Batch{Writes: f.keep(b.Writes), Offsets: b.Offsets}
	return f.Store.Apply(&fb)
}

// Load keeps the underlying store's bulk path (CatchUp uses it when the
// store has one).
func (f *keyFilter) Load(ws []state.Write) error {
	ws = f.keep(ws)
	if l, ok := f.Store.(state.BulkLoader); ok {
		return l.Load(ws)
	}
	// A chunk is more than one transaction may hold of some states.
	return applySplit(f.Store, ws, nil)
}
