package stage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// Logic is the pure part of a stateful stage.
//
// Contract: Process is called for one partition at a time per store, and
// must return the same Result for the same (state, msgs) — outputs are
// deduplicated downstream by that determinism. It must not write st: the
// runtime applies Result.Writes after the outputs are acknowledged.
type Logic interface {
	Process(st state.Store, partition int, msgs []kafka.Message) (Result, error)
}

// Result is what a batch produced.
type Result struct {
	// Outputs carry their Topic and Key.
	Outputs []kafka.Message
	// Sources[i] is the index, in the msgs given to Process, of the input
	// that Outputs[i] came from: the runtime stamps each output with that
	// input's position (SourceHeader). A stage writes one input's outputs
	// to any one topic in order.
	Sources []int
	// Writes are the state changes, at most one per key.
	Writes []state.Write
	// Rejected counts input records sent to a deadletter, by field.
	Rejected map[string]int
}

// Producer is what the runtime needs of stream.Producer.
type Producer interface {
	Produce(ctx context.Context, msgs ...kafka.Message) error
}

// InputOffsetName is the Store offset holding the next input offset the
// state reflects.
const InputOffsetName = "input"

// inputOffsetHeader carries, on every changelog record, the next input
// offset of the batch that wrote it: the changelog's last record then says
// how far the state it holds goes.
const inputOffsetHeader = "postbackd-input-offset"

// StatefulConfig configures a Stateful stage.
type StatefulConfig struct {
	Stage          string // metric label and state subdirectory
	ChangelogTopic string
	StateDir       string // each partition's store is in StateDir/<Stage>/<partition>
	Brokers        []string
	Dialer         *kafka.Dialer // TLS/SASL; nil for plain TCP
	Producer       Producer
	Logic          Logic
	Metrics        *Metrics
	Readiness      *Readiness
	Logger         *zap.Logger
	Badger         state.BadgerOptions
	// CacheEntries bounds each partition's read cache of state values
	// (default 50,000: 5-12 MB of device states per partition, so a copy
	// owning 24 stage partitions stays within a few hundred MB).
	CacheEntries int
	// MaxMessageBytes is the largest record the stage may write (default
	// DefaultMaxMessageBytes). When Logic is a DeadLetterer, an input with
	// a larger output goes to the deadletter instead of stopping the stage.
	MaxMessageBytes int
	// OpenStore opens a partition's store; default Badger in the state dir.
	// A test seam.
	OpenStore func(dir string) (state.Store, error)
}

func (c *StatefulConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Readiness == nil {
		c.Readiness = NewReadiness()
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = 50_000
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.OpenStore == nil {
		opts := c.Badger
		if opts.Logger == nil {
			opts.Logger = c.Logger
		}
		if opts.LevelZeroTables == 0 {
			opts.LevelZeroTables = state.RewrittenLevelZeroTables // a stage rewrites its keys
		}
		c.OpenStore = func(dir string) (state.Store, error) {
			b, err := state.OpenBadger(dir, opts)
			if err != nil {
				return nil, err
			}
			// Write-through: the cache changes only after Badger applied a
			// batch, so state and offset still move together.
			return state.NewCached(b, c.CacheEntries), nil
		}
	}
}

// Validate reports a config NewStateful cannot use.
func (c *StatefulConfig) Validate() error {
	switch {
	case c.Stage == "":
		return fmt.Errorf("%w: stage name missing", ErrInvalidConfig)
	case c.ChangelogTopic == "":
		return fmt.Errorf("%w: %s: changelog topic missing", ErrInvalidConfig, c.Stage)
	case c.StateDir == "":
		return fmt.Errorf("%w: %s: state dir missing", ErrInvalidConfig, c.Stage)
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: %s: no brokers", ErrInvalidConfig, c.Stage)
	case c.Producer == nil || c.Logic == nil:
		return fmt.Errorf("%w: %s: producer and logic required", ErrInvalidConfig, c.Stage)
	}
	return nil
}

// Stateful is a stream.Handler running Logic over per-partition stores.
type Stateful struct {
	cfg    StatefulConfig
	mu     sync.Mutex
	stores map[int]*owned
}

// owned is what the runtime holds of a partition it owns.
type owned struct {
	store  state.Store
	marks  *marks // the source marks in store, kept in memory
	arena  []byte // for the source headers of a batch's outputs
	counts []int  // outputs per input, while stamping
}

// NewStateful validates cfg and returns the handler.
func NewStateful(cfg StatefulConfig) (*Stateful, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stateful{cfg: cfg, stores: make(map[int]*owned)}, nil
}

var _ stream.Handler = (*Stateful)(nil)

func (s *Stateful) partitionDir(p int) string {
	return filepath.Join(s.cfg.StateDir, s.cfg.Stage, strconv.Itoa(p))
}

// Assigned opens the partition's store, restores it from the changelog
// when it is missing or behind, and resumes from the offset stored with the
// state.
func (s *Stateful) Assigned(ctx context.Context, topic string, p int) (int64, error) {
	log := s.cfg.Logger.With(zap.String("stage", s.cfg.Stage), zap.String("topic", topic), zap.Int("partition", p))
	s.cfg.Readiness.MarkRestoring(s.cfg.Stage, p, true)
	defer s.cfg.Readiness.MarkRestoring(s.cfg.Stage, p, false)

	dir := s.partitionDir(p)
	st, err := s.cfg.OpenStore(dir)
	if err != nil {
		return 0, fmt.Errorf("%s partition %d: open state: %w", s.cfg.Stage, p, err)
	}
	local, hasLocal, err := st.Offset(InputOffsetName)
	if err != nil {
		st.Close()
		return 0, fmt.Errorf("%s partition %d: read offset: %w", s.cfg.Stage, p, err)
	}
	var tail tail
	err = stream.Retry(ctx, changelogRetryFor, func() (err error) {
		tail, err = changelogTail(ctx, s.cfg.Dialer, s.cfg.Brokers, s.cfg.ChangelogTopic, p)
		return err
	})
	if err != nil {
		st.Close()
		return 0, fmt.Errorf("%s partition %d: %w", s.cfg.Stage, p, err)
	}
	switch {
	case tail.empty() && hasLocal:
		// The changelog was lost or recreated; local state is all there is.
		log.Warn("changelog empty, keeping local state", zap.Int64("offset", local))
	case tail.empty():
		log.Info("no state yet, starting from the group's committed offset")
		if err := s.keep(p, st); err != nil {
			return 0, err
		}
		return stream.CommittedOffset, nil
	case hasLocal && local >= tail.inputOffset:
		log.Info("local state is current", zap.Int64("offset", local), zap.Int64("changelog_end", tail.end))
	default:
		// Missing, or behind what another copy (or a crash after produce)
		// left in the changelog: rebuild from it.
		if err := st.Close(); err != nil {
			return 0, err
		}
		if err := os.RemoveAll(dir); err != nil {
			return 0, fmt.Errorf("%s partition %d: clear stale state: %w", s.cfg.Stage, p, err)
		}
		if st, err = s.cfg.OpenStore(dir); err != nil {
			return 0, fmt.Errorf("%s partition %d: open state: %w", s.cfg.Stage, p, err)
		}
		start := time.Now()
		var n int64
		err = stream.Retry(ctx, changelogRetryFor, func() (err error) {
			n, err = restore(ctx, restoreTarget{
				store: st, dialer: s.cfg.Dialer, brokers: s.cfg.Brokers,
				topic: s.cfg.ChangelogTopic, partition: p, tail: tail,
				progress: func(done, remaining int64) {
					lbl := partitionLabel(p)
					s.cfg.Metrics.RestoreRecords.WithLabelValues(s.cfg.Stage, lbl).Add(float64(done))
					s.cfg.Metrics.RestoreRemain.WithLabelValues(s.cfg.Stage, lbl).Set(float64(remaining))
				},
			})
			return err
		})
		if err != nil {
			st.Close()
			return 0, fmt.Errorf("%s partition %d: restore: %w", s.cfg.Stage, p, err)
		}
		elapsed := time.Since(start)
		log.Info("restored state from changelog", zap.Int64("records", n), zap.Duration("took", elapsed),
			zap.Float64("records_per_sec", float64(n)/elapsed.Seconds()), zap.Int64("offset", tail.inputOffset))
		local, hasLocal = tail.inputOffset, true
	}
	if err := s.keep(p, st); err != nil {
		return 0, err
	}
	if !hasLocal {
		return stream.CommittedOffset, nil
	}
	return local, nil
}

func (s *Stateful) keep(p int, st state.Store) error {
	m, err := loadMarks(st)
	if err != nil {
		st.Close()
		return fmt.Errorf("%s partition %d: %w", s.cfg.Stage, p, err)
	}
	s.mu.Lock()
	s.stores[p] = &owned{store: st, marks: m}
	s.mu.Unlock()
	s.cfg.Metrics.OwnedPartitions.WithLabelValues(s.cfg.Stage).Inc()
	return nil
}

func (s *Stateful) owned(p int) (*owned, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.stores[p]
	if !ok {
		return nil, fmt.Errorf("%w: %s partition %d", ErrNotOwned, s.cfg.Stage, p)
	}
	return o, nil
}

// maxTxnRecords bounds the input records whose state goes into one store
// transaction: a transaction must fit Badger's limit (a share of a
// memtable), and a record writes at most one state value of a few hundred
// bytes.
const maxTxnRecords = 1000

// Process runs a batch in parts of at most maxTxnRecords records: each
// part's outputs and changelog records are produced and acknowledged, then
// its state and input offset are applied in one transaction.
func (s *Stateful) Process(ctx context.Context, b stream.Batch) error {
	msgs := b.Messages
	for len(msgs) > 0 {
		part := b
		part.Messages = msgs[:min(len(msgs), maxTxnRecords)]
		msgs = msgs[len(part.Messages):]
		if err := s.process(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stateful) process(ctx context.Context, b stream.Batch) error {
	start := time.Now()
	o, err := s.owned(b.Partition)
	if err != nil {
		return err
	}
	st := o.store
	// Repeats an upstream stage wrote again after its own crash are
	// dropped before they touch state. The marks only move in memory
	// here; they reach the store with this batch's state, and a failed
	// batch is never retried in this process (the stage stops), so memory
	// and store cannot part.
	msgs, repeats, far, farSource := o.marks.filter(b.Messages)
	if far > 0 {
		s.cfg.Logger.Warn("dropped records far below the source position already applied: was an input topic recreated? (docs/OPERATING.md)",
			zap.String("stage", s.cfg.Stage), zap.Int("partition", b.Partition), zap.Int("records", far),
			zap.String("source_topic", farSource.Topic), zap.Int("source_partition", farSource.Partition), zap.Int64("source_offset", farSource.Offset))
	}
	res, err := s.cfg.Logic.Process(st, b.Partition, msgs)
	if err != nil {
		return fmt.Errorf("%s partition %d: %w", s.cfg.Stage, b.Partition, err)
	}
	if len(res.Sources) != len(res.Outputs) {
		return fmt.Errorf("%s partition %d: logic gave %d sources for %d outputs", s.cfg.Stage, b.Partition, len(res.Sources), len(res.Outputs))
	}
	dl, _ := s.cfg.Logic.(DeadLetterer)
	if dl != nil {
		var refused int
		if res.Outputs, res.Sources, refused, err = GuardSizes(res.Outputs, res.Sources, msgs, s.cfg.MaxMessageBytes, dl); err != nil {
			return fmt.Errorf("%s partition %d: %w", s.cfg.Stage, b.Partition, err)
		}
		addRejects(&res, "size", refused)
	}
	o.arena, o.counts = stampSources(res.Outputs, res.Sources, msgs, o.arena[:0], o.counts)
	if w, ok := o.marks.write(); ok {
		res.Writes = append(res.Writes, w)
	}
	next := b.NextOffset()
	// Outputs first, changelog second: a new owner resumes after the input
	// offset on the changelog's last record, so that record must never
	// exist for a batch whose outputs were not all acknowledged. One
	// Produce for both could land the changelog and lose outputs to a
	// crash in between, and the new owner would skip them.
	if len(res.Outputs) > 0 {
		refused, err := ProduceOrDeadLetter(ctx, s.cfg.Producer, res.Outputs, res.Sources, msgs, dl)
		if err != nil {
			return fmt.Errorf("%s partition %d: %w", s.cfg.Stage, b.Partition, err)
		}
		addRejects(&res, "refused", refused)
	}
	if len(res.Writes) > 0 {
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(next))
		headers := []kafka.Header{{Key: inputOffsetHeader, Value: hdr[:]}}
		changelog := make([]kafka.Message, len(res.Writes))
		for i, w := range res.Writes {
			changelog[i] = stream.AtPartition(kafka.Message{
				Topic: s.cfg.ChangelogTopic, Key: w.Key, Value: w.Value, Headers: headers,
			}, b.Partition)
		}
		if err := s.cfg.Producer.Produce(ctx, changelog...); err != nil {
			return fmt.Errorf("%s partition %d: changelog: %w", s.cfg.Stage, b.Partition, err)
		}
	}
	batch := state.Batch{Writes: res.Writes}
	batch.SetOffset(InputOffsetName, next)
	if err := st.Apply(&batch); err != nil {
		return fmt.Errorf("%s partition %d: apply state: %w", s.cfg.Stage, b.Partition, err)
	}
	m := s.cfg.Metrics
	m.RecordsIn.WithLabelValues(s.cfg.Stage).Add(float64(len(b.Messages)))
	if repeats > 0 {
		m.Repeats.WithLabelValues(s.cfg.Stage).Add(float64(repeats))
	}
	countOutputs(m, s.cfg.Stage, res.Outputs)
	for field, n := range res.Rejected {
		m.Rejects.WithLabelValues(s.cfg.Stage, field).Add(float64(n))
	}
	m.ObserveBatch(s.cfg.Stage, b, start)
	return nil
}

func addRejects(res *Result, field string, n int) {
	if n == 0 {
		return
	}
	if res.Rejected == nil {
		res.Rejected = make(map[string]int)
	}
	res.Rejected[field] += n
}

func countOutputs(m *Metrics, stage string, outputs []kafka.Message) {
	if len(outputs) == 0 {
		return
	}
	topic, n := outputs[0].Topic, 0
	for _, o := range outputs {
		if o.Topic != topic {
			m.RecordsOut.WithLabelValues(stage, topic).Add(float64(n))
			topic, n = o.Topic, 0
		}
		n++
	}
	m.RecordsOut.WithLabelValues(stage, topic).Add(float64(n))
}

// Revoked closes and releases the partition's store; its files stay, so a
// later assignment resumes from them when they are still current.
func (s *Stateful) Revoked(_ context.Context, topic string, p int) {
	s.mu.Lock()
	o, ok := s.stores[p]
	delete(s.stores, p)
	s.mu.Unlock()
	if !ok {
		return
	}
	s.cfg.Metrics.OwnedPartitions.WithLabelValues(s.cfg.Stage).Dec()
	if err := o.store.Close(); err != nil && !errors.Is(err, state.ErrClosed) {
		s.cfg.Logger.Warn("closing state", zap.String("stage", s.cfg.Stage), zap.Int("partition", p), zap.Error(err))
	}
}

// Close releases every store still open (after the consumer stopped).
func (s *Stateful) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for p, o := range s.stores {
		if err := o.store.Close(); err != nil && !errors.Is(err, state.ErrClosed) {
			errs = append(errs, err)
		}
		delete(s.stores, p)
	}
	return errors.Join(errs...)
}
