package sinkstage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/state"
)

// partStore is a partition's dedup store as partner.Sink.Process sees it:
// a partner.Recorder, so that each delivery is recorded as it ends rather
// than with its batch. A SIGKILL then repeats at most the calls in flight
// (the partner's concurrency): a worker starts its next call only once its
// last delivery's mark is on the changelog, acknowledged (what a copy
// restoring the partition on an empty disk reads), and in the store (what
// a restart on the same disk reads first).
//
// Deliveries that end while a mark is being written wait and go together
// in the next round (group commit), so that one changelog produce and one
// store write serve every worker of the partition that finished
// meanwhile. Their delivery-log entries are not waited for: they go to
// the delivery log in the background (logQueue), and the batch waits for
// them before its offset is stored, so that a kill loses from the log
// only entries of deliveries that had just ended.
type partStore struct {
	state.Store
	partition int
	pub       *publisher // the rounds' (no linger)
	changelog string
	log       *zap.Logger
	logs      logQueue
	forget    func(state.Store) // the Sink's, of what it keeps per store

	applyMu sync.Mutex // one writer at a time: rounds and the batch's own Apply

	mu    sync.Mutex
	busy  bool         // a round is being written
	queue []*recordReq // waiting for the next round
}

var (
	_ partner.Recorder = (*partStore)(nil)
	_ state.BulkLoader = (*partStore)(nil)
)

// recordReq is one delivery waiting to be recorded; done gets the
// round's result, or errLead when its Record is to write the next round.
type recordReq struct {
	writes []state.Write
	done   chan error
}

var errLead = fmt.Errorf("sinkstage: lead the next round")

// Record makes a delivery's dedup writes durable and queues its log
// entries (partner.Recorder). The first caller while no round runs writes
// one for itself and everything queued meanwhile; the next queued caller
// then writes the following round.
func (ps *partStore) Record(ctx context.Context, writes []state.Write, entries []partner.DeliveryLogEntry) error {
	if err := ps.mark(ctx, writes); err != nil {
		return err
	}
	ps.logs.add(entries)
	return nil
}

// mark writes the marks in a round, its own or another caller's.
func (ps *partStore) mark(ctx context.Context, writes []state.Write) error {
	req := &recordReq{writes: writes, done: make(chan error, 1)}
	ps.mu.Lock()
	if ps.busy {
		ps.queue = append(ps.queue, req)
		ps.mu.Unlock()
		// No select on ctx: a queued request must be there when it is
		// told to lead, and every round ends (its leader's ctx is the
		// Sink's, which ends every round on Close).
		if err := <-req.done; err != errLead {
			return err
		}
		ps.mu.Lock()
	}
	ps.busy = true
	round := append([]*recordReq{req}, ps.queue...)
	ps.queue = nil
	ps.mu.Unlock()

	err := ps.round(ctx, round)
	for _, r := range round[1:] {
		r.done <- err
	}
	ps.mu.Lock()
	if len(ps.queue) > 0 {
		next := ps.queue[0]
		ps.queue = ps.queue[1:]
		next.done <- errLead
	} else {
		ps.busy = false
	}
	ps.mu.Unlock()
	return err
}

// round writes the requests' marks to the changelog, waits for the acks,
// then applies them to the store.
func (ps *partStore) round(ctx context.Context, reqs []*recordReq) error {
	n := 0
	for _, r := range reqs {
		n += len(r.writes)
	}
	writes := make([]state.Write, 0, n)
	for _, r := range reqs {
		writes = append(writes, r.writes...)
	}
	if len(writes) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, n)
	for _, w := range writes {
		msgs = append(msgs, stream.AtPartition(kafka.Message{Topic: ps.changelog, Key: w.Key, Value: w.Value}, ps.partition))
	}
	// While the broker is away the producer waits for it, and so does
	// every worker of the partition: no call is made that a crash could
	// repeat.
	refused, err := produce(ctx, ps.pub.producer, msgs)
	if err != nil {
		return err
	}
	for _, r := range refused {
		ps.pub.lost("changelog", msgs[r.i], r.err)
	}
	return ps.Apply(&state.Batch{Writes: writes})
}

// logFlushOnClose bounds how long closing a store waits for its queued
// delivery-log entries.
const logFlushOnClose = 10 * time.Second

// Close publishes the queued delivery-log entries (up to logFlushOnClose:
// the producer closes after the stage), has the Sink forget the store,
// and closes it.
func (ps *partStore) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), logFlushOnClose)
	defer cancel()
	if err := ps.logs.flush(ctx); err != nil {
		ps.log.Warn("delivery-log entries not published before the store closed", zap.Int("partition", ps.partition), zap.Error(err))
	}
	if ps.forget != nil {
		ps.forget(ps)
	}
	return ps.Store.Close()
}

// Load is the catch-up's bulk path (state.BulkLoader), one writer at a
// time: without it a catch-up would apply each changelog chunk as one
// transaction, more than Badger takes once a partition is some thousands
// of markers behind (found in review).
func (ps *partStore) Load(ws []state.Write) error {
	ps.applyMu.Lock()
	defer ps.applyMu.Unlock()
	if l, ok := ps.Store.(state.BulkLoader); ok {
		return l.Load(ws)
	}
	return ps.Store.Apply(&state.Batch{Writes: ws})
}

// Apply writes to the store, one writer at a time.
func (ps *partStore) Apply(b *state.Batch) error {
	ps.applyMu.Lock()
	defer ps.applyMu.Unlock()
	return ps.Store.Apply(b)
}

// logQueue publishes the delivery-log entries of recorded deliveries in
// the background, in as few produce calls as it can: one drain goroutine
// while there is work, none when idle.
type logQueue struct {
	pub *publisher // the stage's (batches and lingers)

	mu        sync.Mutex
	pending   []partner.DeliveryLogEntry
	queued    int64         // entries ever queued
	published int64         // of them, published
	busy      bool          // a drain runs
	changed   chan struct{} // closed, and replaced, when published moves or a drain fails
	err       error         // the last failed publish's, until flush reports it
}

// add queues entries, starting a drain when none runs.
func (q *logQueue) add(entries []partner.DeliveryLogEntry) {
	if len(entries) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, entries...)
	q.queued += int64(len(entries))
	q.start()
}

// start starts a drain if none runs; q.mu is held.
func (q *logQueue) start() {
	if !q.busy && len(q.pending) > 0 {
		q.busy = true
		go q.drain()
	}
}

// notify wakes the flushes waiting; q.mu is held.
func (q *logQueue) notify() {
	if q.changed != nil {
		close(q.changed)
	}
	q.changed = make(chan struct{})
}

// drain publishes what is queued until nothing is. A failed publish puts
// its entries back and ends the drain; the next add or flush starts one.
func (q *logQueue) drain() {
	for {
		q.mu.Lock()
		entries := q.pending
		q.pending = nil
		if len(entries) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		// Bound to no batch: the entries outlive the call that queued
		// them. While the broker is away this waits for it; closing the
		// producer ends it.
		err := q.pub.PublishLog(context.Background(), entries)
		q.mu.Lock()
		if err != nil {
			q.pending = append(entries, q.pending...)
			q.err, q.busy = err, false
			q.notify()
			q.mu.Unlock()
			return
		}
		q.published += int64(len(entries))
		q.notify()
		q.mu.Unlock()
	}
}

// flush waits until every entry queued before it is published, or ctx
// ends; it reports a publish that failed since the last flush.
func (q *logQueue) flush(ctx context.Context) error {
	q.mu.Lock()
	target := q.queued
	for q.published < target {
		if err := q.err; err != nil {
			q.err = nil
			q.mu.Unlock()
			return fmt.Errorf("delivery log: %w", err)
		}
		q.start()
		if q.changed == nil {
			q.changed = make(chan struct{})
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}
