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

// Input is one batch as a Logic sees it: the records of one input
// partition that are not repeats, and the partition's store.
type Input struct {
	Store     state.Store // nil in a stage without state
	Topic     string
	Partition int
	Messages  []kafka.Message
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

// changelogPosName is the Store offset up to which a RestoreCatchUp store
// holds its changelog partition's records.
const changelogPosName = "changelog"

// inputOffsetHeader carries, on every changelog record of a
// RestoreRebuild stage, the next input offset of the batch that wrote it:
// the changelog's last record then says how far the state it holds goes.
const inputOffsetHeader = "postbackd-input-offset"

// Config configures a Processor.
type Config struct {
	// Name labels the stage in readiness, logs, lag metrics and its state
	// directory (StateDir/<Name>/<partition>).
	Name string
	// MetricStage is the stage label of the other metrics (default Name).
	MetricStage string
	// Consumer is the stage's consumer group and topics; Run needs it,
	// the stream.Handler methods do not.
	Consumer stream.ConsumerConfig
	// ChangelogTopic is where state writes are mirrored; empty for a
	// stage without state.
	ChangelogTopic string
	Restore        Restore
	// CatchUpPrefix: with RestoreCatchUp, the keys a store keeps of the
	// changelog (which several stores may share).
	CatchUpPrefix []byte
	// MarksKey is the store key of the source marks (default
	// "\x00postbackd/source-marks"), and Marked says which input topics
	// they apply to (default all).
	MarksKey []byte
	Marked   func(topic string) bool
	StateDir string
	Brokers  []string      // for the changelog; default Consumer.Brokers
	Dialer   *kafka.Dialer // TLS/SASL; default Consumer.Dialer
	Producer Producer
	Logic    Logic
	Metrics  *Metrics
	// Readiness is told when partitions restore; Progress what was read.
	Readiness *Readiness
	Progress  Progress
	Logger    *zap.Logger
	Badger    state.BadgerOptions
	// CacheEntries bounds each partition's read cache of state values
	// (default 50,000: 5-12 MB of device states per partition, so a copy
	// owning 24 stage partitions stays within a few hundred MB).
	CacheEntries int
	// MaxMessageBytes is the largest record the stage may write (default
	// DefaultMaxMessageBytes). When Logic is a DeadLetterer, an input with
	// a larger output goes to the deadletter instead of stopping the stage.
	MaxMessageBytes int
	// OpenStore opens a partition's store; default Badger in the state
	// dir behind a read cache.
	OpenStore func(dir string, partition int) (state.Store, error)
	// ChangelogRefused is told of a changelog record the broker refused
	// for good; nil stops the stage instead.
	ChangelogRefused func(m kafka.Message, err error)
	// TickEvery is how often a Ticker Logic's Tick runs per owned input
	// partition (default 1s).
	TickEvery time.Duration
	// MarksOnRelease: the Logic holds records back (Result.Holding), so
	// the source marks only drop repeats of what was applied, and move
	// past a Result's Inputs, the records applied now, rather than past
	// every record a batch brings.
	MarksOnRelease bool
}

func (c *Config) stateful() bool { return c.ChangelogTopic != "" }

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.MetricStage == "" {
		c.MetricStage = c.Name
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Readiness == nil {
		c.Readiness = NewReadiness()
	}
	if c.Progress == nil {
		c.Progress = countProgress{m: c.Metrics, stage: c.MetricStage}
	}
	if c.MarksKey == nil {
		c.MarksKey = marksKey
	}
	if c.Marked == nil {
		c.Marked = func(string) bool { return true }
	}
	if len(c.Brokers) == 0 {
		c.Brokers = c.Consumer.Brokers
	}
	if c.Dialer == nil {
		c.Dialer = c.Consumer.Dialer
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = 50_000
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.TickEvery <= 0 {
		c.TickEvery = time.Second
	}
	if c.OpenStore == nil {
		opts := c.Badger
		if opts.Logger == nil {
			opts.Logger = c.Logger
		}
		if opts.LevelZeroTables == 0 {
			opts.LevelZeroTables = state.RewrittenLevelZeroTables // a stage rewrites its keys
		}
		c.OpenStore = func(dir string, _ int) (state.Store, error) {
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

// Validate reports a config New cannot use.
func (c *Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: stage name missing", ErrInvalidConfig)
	case c.Producer == nil || c.Logic == nil:
		return fmt.Errorf("%w: %s: producer and logic required", ErrInvalidConfig, c.Name)
	case !c.stateful():
		return nil
	case c.StateDir == "":
		return fmt.Errorf("%w: %s: state dir missing", ErrInvalidConfig, c.Name)
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: %s: no brokers", ErrInvalidConfig, c.Name)
	case c.Restore == RestoreRebuild && len(c.Consumer.Topics) > 1:
		return fmt.Errorf("%w: %s: a rebuilt store has one input topic, not %d", ErrInvalidConfig, c.Name, len(c.Consumer.Topics))
	}
	return nil
}

// Processor runs a stage's Logic over the partitions its consumer group
// assigns: per partition a store (for a stateful stage), restored on
// assignment, the source marks that drop repeats, and per batch the
// order of docs/ARCHITECTURE.md ("Delivery semantics"): outputs acknowledged,
// then changelog records acknowledged, then state and input offset in one
// store transaction. It is the stream.Handler of its consumer.
type Processor struct {
	cfg      Config
	consumer *stream.Consumer // nil without Config.Consumer.GroupID
	mu       sync.Mutex
	stores   map[int]*owned
	inputs   map[topicPartition]*input // assigned input partitions
}

type topicPartition struct {
	topic     string
	partition int
}

// input is what the Processor knows of an assigned input partition.
type input struct {
	mu         sync.Mutex // a stateless stage's one batch or tick at a time
	streamTime time.Time
}

// owned is what the Processor holds of a partition number it owns. The
// input topics of one partition number share it.
type owned struct {
	mu     sync.Mutex // one batch at a time; held while opening
	refs   int        // input partitions assigned
	store  state.Store
	marks  *SourceMarks // the source marks in store, kept in memory
	arena  []byte       // for the source headers of a batch's outputs
	counts []int        // outputs per input, while stamping
}

var _ stream.Handler = (*Processor)(nil)

// New validates cfg and builds the Processor and, when cfg.Consumer has a
// group, its consumer.
func New(cfg Config) (*Processor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, stores: make(map[int]*owned), inputs: make(map[topicPartition]*input)}
	if cfg.Consumer.GroupID != "" {
		cc := cfg.Consumer
		if cc.Logger == nil {
			cc.Logger = cfg.Logger
		}
		c, err := stream.NewConsumer(cc, p)
		if err != nil {
			return nil, err
		}
		p.consumer = c
	}
	return p, nil
}

// Run consumes until ctx is cancelled, drains the batch in flight, and
// closes the stores.
func (p *Processor) Run(ctx context.Context) error {
	err := p.Consume(ctx)
	return errors.Join(err, p.Close())
}

// Consume is Run without closing the stores, for a stage that has work of
// its own to finish first (the sink's running deliveries).
func (p *Processor) Consume(ctx context.Context) error {
	if p.consumer == nil {
		return fmt.Errorf("%w: %s: no consumer group", ErrInvalidConfig, p.cfg.Name)
	}
	if _, ok := p.cfg.Logic.(Ticker); !ok {
		return p.consumer.Run(ctx)
	}
	// A failing Tick stops the consumer, as a failing batch does.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(p.cfg.TickEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := p.TickAll(ctx, now); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err := p.consumer.Run(ctx)
	cancel(nil)
	<-ticked
	if cause := context.Cause(ctx); err == nil || errors.Is(err, context.Canceled) {
		if cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
	}
	return err
}

func (p *Processor) partitionDir(part int) string {
	return filepath.Join(p.cfg.StateDir, p.cfg.Name, strconv.Itoa(part))
}

func (p *Processor) offsetName(topic string) string {
	if p.cfg.Restore == RestoreCatchUp {
		return "in:" + topic
	}
	return inputOffsetName
}

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
	if !ok {
		return stream.CommittedOffset, nil
	}
	return off, nil
}

// track notes an assigned input partition, for ticks and stream time.
func (p *Processor) track(topic string, part int) {
	p.mu.Lock()
	p.inputs[topicPartition{topic, part}] = &input{}
	p.mu.Unlock()
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
	o.store, o.marks = st, m
	p.cfg.Metrics.OwnedPartitions.WithLabelValues(p.cfg.Name).Inc()
	return nil
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
	case hasLocal && local >= tail.inputOffset:
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

// maxTxnRecords bounds the input records whose state goes into one store
// transaction: a transaction must fit Badger's limit (a share of a
// memtable), and a record writes at most one state value of a few hundred
// bytes.
const maxTxnRecords = 1000

// Process runs a batch in parts of at most maxTxnRecords records: each
// part's outputs and changelog records are produced and acknowledged, then
// its state and input offset are applied in one transaction.
func (p *Processor) Process(ctx context.Context, b stream.Batch) error {
	if h, ok := p.cfg.Logic.(Holder); ok {
		if err := h.Hold(ctx, b); err != nil {
			return err
		}
	}
	msgs := b.Messages
	for len(msgs) > 0 {
		part := b
		part.Messages = msgs[:min(len(msgs), maxTxnRecords)]
		msgs = msgs[len(part.Messages):]
		if err := p.process(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

func (p *Processor) process(ctx context.Context, b stream.Batch) error {
	start := time.Now()
	o, ip, unlock, err := p.lock(b.Topic, b.Partition, true)
	if err != nil {
		return err
	}
	defer unlock()
	msgs, repeats := p.dropRepeats(o, b)
	in := Input{Store: o.store, Topic: b.Topic, Partition: b.Partition, Messages: msgs}
	res, err := p.cfg.Logic.Process(ctx, in)
	if err != nil {
		return fmt.Errorf("%s partition %d: %w", p.cfg.Name, b.Partition, err)
	}
	if err := p.write(ctx, o, &res, msgs, b.Topic, b.Partition, b.NextOffset()); err != nil {
		return fmt.Errorf("%s partition %d: %w", p.cfg.Name, b.Partition, err)
	}
	for i := range b.Messages {
		if t := b.Messages[i].Time; t.After(ip.streamTime) {
			ip.streamTime = t
		}
	}
	p.observe(b, &res, repeats, start)
	return nil
}

// lock takes what a batch or tick of the input partition holds: its
// store (a stateful stage's, shared by the stage's input topics), or the
// input partition itself in a stateless stage, whose outputs need no
// store (a tick and a batch of it must not interleave). A tick (assigned
// false) of a partition no longer assigned gets ErrNotOwned.
func (p *Processor) lock(topic string, part int, batch bool) (*owned, *input, func(), error) {
	p.mu.Lock()
	in := p.inputs[topicPartition{topic, part}]
	if in == nil && batch { // a batch without Assigned: a test's
		in = &input{}
		p.inputs[topicPartition{topic, part}] = in
	}
	p.mu.Unlock()
	if in == nil {
		return nil, nil, nil, fmt.Errorf("%w: %s %s/%d", ErrNotOwned, p.cfg.Name, topic, part)
	}
	if !p.cfg.stateful() {
		in.mu.Lock()
		return &owned{}, in, in.mu.Unlock, nil
	}
	o, err := p.owned(part)
	if err != nil {
		return nil, nil, nil, err
	}
	o.mu.Lock()
	return o, in, o.mu.Unlock, nil
}

// write produces a Result's outputs and, in a stateful stage, commits it;
// next is the input offset to store, or -1 for none (a tick's).
func (p *Processor) write(ctx context.Context, o *owned, res *Result, msgs []kafka.Message, topic string, part int, next int64) error {
	if len(res.Sources) != len(res.Outputs) {
		return fmt.Errorf("logic gave %d sources for %d outputs", len(res.Sources), len(res.Outputs))
	}
	if res.Inputs != nil {
		msgs = res.Inputs
	}
	for _, src := range res.Sources {
		if src != NoSource && (src < 0 || src >= len(msgs)) {
			return fmt.Errorf("logic gave source %d of %d inputs", src, len(msgs))
		}
	}
	if err := p.produceOutputs(ctx, o, res, msgs); err != nil {
		return err
	}
	if !p.cfg.stateful() {
		return nil
	}
	if p.cfg.MarksOnRelease && o.marks != nil && p.cfg.Marked(topic) {
		o.marks.advanceTo(res.Inputs)
	}
	if res.Holding {
		next = res.HoldFrom
	}
	return p.commit(ctx, o, res, topic, part, next)
}

// TickAll runs a Ticker Logic's Tick once for every owned input partition
// (Consume calls it every Config.TickEvery; a test may call it itself).
func (p *Processor) TickAll(ctx context.Context, now time.Time) error {
	tk, ok := p.cfg.Logic.(Ticker)
	if !ok {
		return nil
	}
	p.mu.Lock()
	parts := make([]topicPartition, 0, len(p.inputs))
	for tp := range p.inputs {
		parts = append(parts, tp)
	}
	p.mu.Unlock()
	for _, tp := range parts {
		if err := p.tick(ctx, tk, tp, now); err != nil {
			return fmt.Errorf("%s partition %d: tick: %w", p.cfg.Name, tp.partition, err)
		}
	}
	return nil
}

func (p *Processor) tick(ctx context.Context, tk Ticker, tp topicPartition, now time.Time) error {
	o, ip, unlock, err := p.lock(tp.topic, tp.partition, false)
	if errors.Is(err, ErrNotOwned) {
		return nil // revoked meanwhile
	}
	if err != nil {
		return err
	}
	defer unlock()
	res, err := tk.Tick(ctx, Tick{Store: o.store, Topic: tp.topic, Partition: tp.partition, Now: now, StreamTime: ip.streamTime})
	if err != nil {
		return err
	}
	if err := p.write(ctx, o, &res, nil, tp.topic, tp.partition, -1); err != nil {
		return err
	}
	countOutputs(p.cfg.Metrics, p.cfg.MetricStage, res.Outputs)
	return nil
}

// dropRepeats drops the records an upstream stage wrote again after its
// own crash, before they touch state. The marks only move in memory here;
// they reach the store with this batch's state (and only with a batch of
// a marked topic: commit), and a failed batch of that topic is never
// retried in this process (the stage stops), so memory and store cannot
// part.
func (p *Processor) dropRepeats(o *owned, b stream.Batch) ([]kafka.Message, int) {
	if o.marks == nil || !p.cfg.Marked(b.Topic) {
		return b.Messages, 0
	}
	msgs, repeats, far, farSource := o.marks.filter(b.Messages, !p.cfg.MarksOnRelease)
	if far > 0 {
		p.cfg.Logger.Warn("dropped records far below the source position already applied: was an input topic recreated? (docs/OPERATING.md)",
			zap.String("stage", p.cfg.Name), zap.Int("partition", b.Partition), zap.Int("records", far),
			zap.String("source_topic", farSource.Topic), zap.Int("source_partition", farSource.Partition), zap.Int64("source_offset", farSource.Offset))
	}
	return msgs, repeats
}

// produceOutputs stamps the outputs with their sources and produces them:
// an output larger than the broker takes, or one it refuses, sends its
// input to the deadletter when the Logic is a DeadLetterer.
func (p *Processor) produceOutputs(ctx context.Context, o *owned, res *Result, msgs []kafka.Message) error {
	if len(res.Outputs) == 0 {
		return nil
	}
	dl, _ := p.cfg.Logic.(DeadLetterer)
	if dl != nil {
		var refused int
		var err error
		if res.Outputs, res.Sources, refused, err = guardSizes(res.Outputs, res.Sources, msgs, p.cfg.MaxMessageBytes, dl); err != nil {
			return err
		}
		addRejects(res, "size", refused)
	}
	o.arena, o.counts = stampSources(res.Outputs, res.Sources, msgs, o.arena[:0], o.counts)
	refused, err := produceOrDeadLetter(ctx, p.cfg.Producer, res.Outputs, res.Sources, msgs, dl)
	addRejects(res, "refused", refused)
	return err
}

// commit writes the batch's state: changelog records first, acknowledged,
// then state, marks and input offset in one transaction. Outputs went
// before: a new owner resumes after the input offset on the changelog's
// last record, so that record must never exist for a batch whose outputs
// were not all acknowledged. One Produce for both could land the
// changelog and lose outputs to a crash in between, and the new owner
// would skip them.
func (p *Processor) commit(ctx context.Context, o *owned, res *Result, topic string, part int, next int64) error {
	// Only a batch of a marked topic writes the marks: its own filter moved
	// them. A batch of another topic of the same store (a sink's retry
	// tier) must not commit marks that a failed batch of the marked topic
	// left in memory, or that batch's records would be dropped as repeats
	// when they are read again.
	if p.cfg.Marked(topic) {
		if w, ok := o.marks.write(); ok {
			res.Writes = append(res.Writes, w)
		}
	}
	if len(res.Writes) == 0 && next < 0 {
		return nil
	}
	if len(res.Writes) > 0 {
		var headers []kafka.Header
		if p.cfg.Restore == RestoreRebuild {
			// A tick's writes carry the input offset the state already
			// reflects: the changelog's last record must always say it.
			at, ok := next, next >= 0
			if !ok {
				var err error
				if at, ok, err = o.store.Offset(inputOffsetName); err != nil {
					return fmt.Errorf("read offset: %w", err)
				}
			}
			if ok {
				var hdr [8]byte
				binary.BigEndian.PutUint64(hdr[:], uint64(at))
				headers = []kafka.Header{{Key: inputOffsetHeader, Value: hdr[:]}}
			}
		}
		changelog := make([]kafka.Message, len(res.Writes))
		for i, w := range res.Writes {
			changelog[i] = stream.AtPartition(kafka.Message{
				Topic: p.cfg.ChangelogTopic, Key: w.Key, Value: w.Value, Headers: headers,
			}, part)
		}
		if err := p.produceChangelog(ctx, changelog); err != nil {
			return fmt.Errorf("changelog: %w", err)
		}
	}
	batch := state.Batch{Writes: res.Writes}
	if next >= 0 {
		batch.SetOffset(p.offsetName(topic), next)
	}
	if err := o.store.Apply(&batch); err != nil {
		return fmt.Errorf("apply state: %w", err)
	}
	return nil
}

func (p *Processor) produceChangelog(ctx context.Context, msgs []kafka.Message) error {
	err := p.cfg.Producer.Produce(ctx, msgs...)
	var pe *stream.ProduceError
	if err == nil || p.cfg.ChangelogRefused == nil || !errors.As(err, &pe) {
		return err
	}
	for _, f := range pe.Failed {
		if f.Index < 0 || f.Index >= len(msgs) {
			return err // not a refusal of these records
		}
		p.cfg.ChangelogRefused(msgs[f.Index], f.Err)
	}
	return nil
}

func (p *Processor) observe(b stream.Batch, res *Result, repeats int, start time.Time) {
	m, stage := p.cfg.Metrics, p.cfg.MetricStage
	p.cfg.Progress.Processed(b.Topic, b.Partition, len(b.Messages), repeats)
	countOutputs(m, stage, res.Outputs)
	for field, n := range res.Rejected {
		m.Rejects.WithLabelValues(stage, field).Add(float64(n))
	}
	m.Lag.WithLabelValues(p.cfg.Name, b.Topic, partitionLabel(b.Partition)).Set(float64(b.Lag()))
	m.BatchRecords.WithLabelValues(stage).Observe(float64(len(b.Messages)))
	m.BatchSeconds.WithLabelValues(stage).Observe(time.Since(start).Seconds())
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

// countProgress is the default Progress.
type countProgress struct {
	m     *Metrics
	stage string
}

func (countProgress) Assigned(string, int) {}
func (countProgress) Revoked(string, int)  {}
func (c countProgress) Processed(_ string, _ int, records, repeats int) {
	c.m.RecordsIn.WithLabelValues(c.stage).Add(float64(records))
	if repeats > 0 {
		c.m.Repeats.WithLabelValues(c.stage).Add(float64(repeats))
	}
}

// Revoked releases the input partition; the store closes when the last
// input topic of its partition number is revoked. Its files stay, so a
// later assignment resumes from them when they are still current.
func (p *Processor) Revoked(_ context.Context, topic string, part int) {
	p.cfg.Progress.Revoked(topic, part)
	p.mu.Lock()
	delete(p.inputs, topicPartition{topic, part})
	p.mu.Unlock()
	if !p.cfg.stateful() {
		return
	}
	p.mu.Lock()
	o, ok := p.stores[part]
	p.mu.Unlock()
	if ok {
		o.mu.Lock()
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
}

// Close releases every store still open (after the consumer stopped).
func (p *Processor) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
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
