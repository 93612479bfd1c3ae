package stage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

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
	// KeepRevoked, when positive, is how long the store of a partition
	// this copy gave up stays on disk before it is deleted, unless the
	// partition comes back meanwhile (config state_keep_revoked); zero
	// keeps it until it does.
	KeepRevoked time.Duration
	Brokers     []string      // for the changelog; default Consumer.Brokers
	Dialer      *kafka.Dialer // TLS/SASL; default Consumer.Dialer
	Producer    Producer
	Logic       Logic
	Metrics     *Metrics
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
	// WatchEnds: the consumer checks every TickEvery which input
	// partitions have been processed to their end, for Tick.CaughtUp.
	WatchEnds bool
	// MarksOnRelease: the Logic holds records back (Result.Holding), so
	// the source marks only drop repeats of what was applied, and move
	// past a Result's Inputs, the records applied now, rather than past
	// every record a batch brings.
	MarksOnRelease bool
	// ForwardSource: the Logic only routes records on (the sink's
	// fan-out), so each output keeps the source header its input carries
	// rather than taking the input's own position: the stage after drops
	// repeats by the first stage's positions, whether the router or the
	// stage before it wrote them again. An input without the header gives
	// its outputs its own position.
	ForwardSource bool
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
	// removals are the pending deletions of revoked partitions' stores
	// (KeepRevoked); closed: Close ran, no more deletions.
	removals map[int]*time.Timer
	closed   bool
}

type topicPartition struct {
	topic     string
	partition int
}

// input is what the Processor knows of an assigned input partition.
type input struct {
	mu         sync.Mutex // a stateless stage's one batch or tick at a time
	streamTime time.Time
	lag        int64 // after the last batch; -1 before the first
	// backlog is lag+1 for readers outside the batch (Backlog); 0 before
	// the first batch.
	backlog  atomic.Int64
	caughtUp time.Time
}

// owned is what the Processor holds of a partition number it owns. The
// input topics of one partition number share it.
type owned struct {
	mu     sync.Mutex // one batch at a time; held while opening
	refs   int        // input partitions assigned
	store  state.Store
	marks  *SourceMarks // the source marks in store, kept in memory
	seq    int64        // of the last changelog write (RestoreRebuild)
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
	p := &Processor{cfg: cfg, stores: make(map[int]*owned), inputs: make(map[topicPartition]*input), removals: make(map[int]*time.Timer)}
	if cfg.Consumer.GroupID != "" {
		cc := cfg.Consumer
		if cc.Logger == nil {
			cc.Logger = cfg.Logger
		}
		if cfg.WatchEnds {
			cc.EndCheckEvery = cfg.TickEvery
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

// CaughtUp is the consumer's word that every record of the partition
// had been processed at at (stream.EndWatcher).
func (p *Processor) CaughtUp(topic string, part int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in := p.inputs[topicPartition{topic, part}]; in != nil && at.After(in.caughtUp) {
		in.caughtUp = at
	}
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
