package stage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// Assigned opens the partition's store (or shares it with the stage's
// other input topics), brings it up to date with the changelog, and
// resumes from the offset stored with the state.
func (p *Processor) Assigned(ctx context.Context, topic string, part int) (int64, error) {
	if !p.cfg.stateful() {
		p.track(topic, part)
		p.cfg.Progress.Assigned(topic, part)
		return stream.CommittedOffset, nil
	}
	p.mu.Lock()
	o := p.stores[part]
	if o == nil {
		o = &owned{}
		p.stores[part] = o
	}
	o.refs++
	p.cancelRemoval(part)
	p.mu.Unlock()

	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store == nil {
		if err := p.open(ctx, topic, part, o); err != nil {
			p.release(part, o)
			return 0, err
		}
	}
	off, ok, err := o.store.Offset(p.offsetName(topic))
	if err != nil {
		p.release(part, o)
		return 0, fmt.Errorf("%s partition %d: read offset: %w", p.cfg.Name, part, err)
	}
	p.track(topic, part)
	p.cfg.Progress.Assigned(topic, part)
	switch {
	case ok:
		return off, nil
	case p.cfg.MarksOnRelease:
		// The group's committed offset may lie past records a copy held
		// and never applied (the consumer commits each batch's end). With
		// no state anywhere, not even on the changelog, nothing was ever
		// applied: all of the partition is still to do.
		return stream.FirstOffset, nil
	}
	return stream.CommittedOffset, nil
}

// track notes an assigned input partition, for ticks and stream time.
func (p *Processor) track(topic string, part int) {
	p.mu.Lock()
	p.inputs[topicPartition{topic, part}] = &input{lag: -1}
	p.mu.Unlock()
	if po, ok := p.cfg.Logic.(PartitionOwner); ok {
		po.PartitionAssigned(topic, part)
	}
}

// open opens and restores o's store; o.mu is held.
func (p *Processor) open(ctx context.Context, topic string, part int, o *owned) error {
	p.cfg.Readiness.MarkRestoring(p.cfg.Name, part, true)
	defer p.cfg.Readiness.MarkRestoring(p.cfg.Name, part, false)
	log := p.cfg.Logger.With(zap.String("stage", p.cfg.Name), zap.String("topic", topic), zap.Int("partition", part))
	var (
		st  state.Store
		err error
	)
	if p.cfg.Restore == RestoreCatchUp {
		st, err = p.catchUp(ctx, part, log)
	} else {
		st, err = p.rebuild(ctx, part, log)
	}
	if err != nil {
		return err
	}
	m, err := LoadSourceMarks(st, p.cfg.MarksKey)
	if err != nil {
		st.Close()
		return fmt.Errorf("%s partition %d: %w", p.cfg.Name, part, err)
	}
	seq, _, err := st.Offset(writeSeqName)
	if err != nil {
		st.Close()
		return fmt.Errorf("%s partition %d: read write sequence: %w", p.cfg.Name, part, err)
	}
	o.store, o.marks, o.seq = st, m, seq
	p.cfg.Metrics.OwnedPartitions.WithLabelValues(p.cfg.Name).Inc()
	return nil
}

// current reports whether a local store at input offset local holds the
// changelog's last write: by its write sequence when the changelog has
// one, else (a changelog of an older version) by its input offset.
func current(st state.Store, local int64, t tail) bool {
	if !t.hasSeq {
		return local >= t.inputOffset
	}
	seq, ok, err := st.Offset(writeSeqName)
	return err == nil && ok && seq >= t.seq
}

// rebuild opens the partition's store and restores it from the changelog
// when it is missing or behind (RestoreRebuild).
func (p *Processor) rebuild(ctx context.Context, part int, log *zap.Logger) (state.Store, error) {
	dir := p.partitionDir(part)
	st, err := p.cfg.OpenStore(dir, part)
	if err != nil {
		return nil, fmt.Errorf("%s partition %d: open state: %w", p.cfg.Name, part, err)
	}
	local, hasLocal, err := st.Offset(inputOffsetName)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s partition %d: read offset: %w", p.cfg.Name, part, err)
	}
	var tail tail
	err = stream.Retry(ctx, changelogRetryFor, func() (err error) {
		tail, err = changelogTail(ctx, p.cfg.Dialer, p.cfg.Brokers, p.cfg.ChangelogTopic, part)
		return err
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s partition %d: %w", p.cfg.Name, part, err)
	}
	switch {
	case tail.empty() && hasLocal:
		// The changelog was lost or recreated; local state is all there is.
		log.Warn("changelog empty, keeping local state", zap.Int64("offset", local))
		return st, nil
	case tail.empty():
		log.Info("no state yet, starting from the group's committed offset")
		return st, nil
	case hasLocal && current(st, local, tail):
		log.Info("local state is current", zap.Int64("offset", local), zap.Int64("changelog_end", tail.end))
		return st, nil
	}
	// Missing, or behind what another copy (or a crash after produce) left
	// in the changelog: rebuild from it.
	if err := st.Close(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("%s partition %d: clear stale state: %w", p.cfg.Name, part, err)
	}
	if st, err = p.cfg.OpenStore(dir, part); err != nil {
		return nil, fmt.Errorf("%s partition %d: open state: %w", p.cfg.Name, part, err)
	}
	start := time.Now()
	var n int64
	lbl := partitionLabel(part)
	err = stream.Retry(ctx, changelogRetryFor, func() (err error) {
		n, err = restore(ctx, restoreTarget{
			store: st, dialer: p.cfg.Dialer, brokers: p.cfg.Brokers,
			topic: p.cfg.ChangelogTopic, partition: part, tail: tail,
			progress: func(done, remaining int64) {
				p.cfg.Metrics.RestoreRecords.WithLabelValues(p.cfg.Name, lbl).Add(float64(done))
				p.cfg.Metrics.RestoreRemain.WithLabelValues(p.cfg.Name, lbl).Set(float64(remaining))
			},
		})
		return err
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s partition %d: restore: %w", p.cfg.Name, part, err)
	}
	elapsed := time.Since(start)
	log.Info("restored state from changelog", zap.Int64("records", n), zap.Duration("took", elapsed),
		zap.Float64("records_per_sec", float64(n)/elapsed.Seconds()), zap.Int64("offset", tail.inputOffset))
	return st, nil
}

// catchUp opens the partition's store and applies what the changelog
// gained since the store last read it (RestoreCatchUp): the writes
// commute, so applying the store's own writes again changes nothing.
func (p *Processor) catchUp(ctx context.Context, part int, log *zap.Logger) (state.Store, error) {
	dir := p.partitionDir(part)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st, err := p.cfg.OpenStore(dir, part)
	if err != nil {
		return nil, fmt.Errorf("%s partition %d: open state: %w", p.cfg.Name, part, err)
	}
	from, _, err := st.Offset(changelogPosName)
	if err == nil {
		var end, n int64
		start := time.Now()
		end, n, err = CatchUp(ctx, p.cfg.Dialer, p.cfg.Brokers, p.cfg.ChangelogTopic, part, from,
			&keyFilter{Store: st, prefix: p.cfg.CatchUpPrefix})
		if err == nil {
			var b state.Batch
			b.SetOffset(changelogPosName, end)
			err = st.Apply(&b)
			log.Info("state caught up with changelog", zap.Int64("records", n), zap.Duration("took", time.Since(start)))
		}
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s partition %d: %w", p.cfg.Name, part, err)
	}
	return st, nil
}

func (p *Processor) owned(part int) (*owned, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.stores[part]
	if !ok || o.store == nil {
		return nil, fmt.Errorf("%w: %s partition %d", ErrNotOwned, p.cfg.Name, part)
	}
	return o, nil
}

// Revoked releases the input partition; the store closes when the last
// input topic of its partition number is revoked. Its files stay, so a
// later assignment resumes from them when they are still current.
func (p *Processor) Revoked(_ context.Context, topic string, part int) {
	p.cfg.Progress.Revoked(topic, part)
	p.mu.Lock()
	in := p.inputs[topicPartition{topic, part}]
	delete(p.inputs, topicPartition{topic, part})
	p.mu.Unlock()
	po, _ := p.cfg.Logic.(PartitionOwner)
	if !p.cfg.stateful() {
		if po != nil && in != nil {
			in.mu.Lock() // after a tick in flight
			po.PartitionRevoked(topic, part)
			in.mu.Unlock()
		}
		return
	}
	p.mu.Lock()
	o, ok := p.stores[part]
	p.mu.Unlock()
	if ok {
		o.mu.Lock() // after a tick in flight
		if po != nil {
			po.PartitionRevoked(topic, part)
		}
		p.release(part, o)
		o.mu.Unlock()
	}
}

// release drops one reference to o, closing its store with the last; o.mu
// is held.
func (p *Processor) release(part int, o *owned) {
	p.mu.Lock()
	o.refs--
	last := o.refs <= 0
	if last && p.stores[part] == o {
		delete(p.stores, part)
	}
	p.mu.Unlock()
	if !last || o.store == nil {
		return
	}
	p.cfg.Metrics.OwnedPartitions.WithLabelValues(p.cfg.Name).Dec()
	if err := o.store.Close(); err != nil && !errors.Is(err, state.ErrClosed) {
		p.cfg.Logger.Warn("closing state", zap.String("stage", p.cfg.Name), zap.Int("partition", part), zap.Error(err))
	}
	o.store = nil
	p.scheduleRemoval(part)
}

// cancelRemoval keeps the store of a partition back before its deletion
// (scheduleRemoval); p.mu is held.
func (p *Processor) cancelRemoval(part int) {
	if t := p.removals[part]; t != nil {
		t.Stop()
		delete(p.removals, part)
	}
}

// scheduleRemoval deletes the store of a partition given up, once it has
// stayed away KeepRevoked: its new owner has it now, and whatever that
// owner deletes (an erasure, an expired device) must not live on here.
// The deletion holds p.mu, so a partition assigned again meanwhile either
// cancels it or finds its directory gone and rebuilds from the changelog.
func (p *Processor) scheduleRemoval(part int) {
	if p.cfg.KeepRevoked <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.stores[part] != nil {
		return
	}
	if t := p.removals[part]; t != nil {
		t.Stop()
	}
	dir := p.partitionDir(part)
	p.removals[part] = time.AfterFunc(p.cfg.KeepRevoked, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed || p.stores[part] != nil {
			return
		}
		delete(p.removals, part)
		if err := os.RemoveAll(dir); err != nil {
			p.cfg.Logger.Warn("deleting the state of a partition given up", zap.String("stage", p.cfg.Name), zap.Int("partition", part), zap.Error(err))
			return
		}
		p.cfg.Logger.Info("deleted the state of a partition given up", zap.String("stage", p.cfg.Name), zap.Int("partition", part), zap.Duration("after", p.cfg.KeepRevoked))
	})
}

// Close releases every store still open (after the consumer stopped).
func (p *Processor) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for part, t := range p.removals {
		t.Stop()
		delete(p.removals, part)
	}
	var errs []error
	for part, o := range p.stores {
		if o.store != nil {
			p.cfg.Metrics.OwnedPartitions.WithLabelValues(p.cfg.Name).Dec()
			if err := o.store.Close(); err != nil && !errors.Is(err, state.ErrClosed) {
				errs = append(errs, err)
			}
			o.store = nil
		}
		delete(p.stores, part)
	}
	return errors.Join(errs...)
}
