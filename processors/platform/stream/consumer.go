package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ConsumerConfig holds the deployment settings of a Consumer.
type ConsumerConfig struct {
	Brokers []string
	// Dialer carries TLS/SASL settings; nil means kafka.DefaultDialer.
	Dialer  *kafka.Dialer
	GroupID string
	// Topics are consumed together by the group (normalize reads both raw
	// topics with one Consumer).
	Topics []string

	// MaxBatchRecords is the most records handed to one Process. Default
	// 1000.
	MaxBatchRecords int
	// MaxBatchWait is how long a batch waits to fill up once it has a
	// record. A batch is handed over earlier when it has caught up with the
	// partition's end. Default 50ms.
	MaxBatchWait time.Duration
	// FetchMaxBytes is the most bytes one fetch returns per partition.
	// Default 1 MiB.
	FetchMaxBytes int
	// FetchMaxWait is how long the broker holds a fetch of a caught-up
	// partition; it also bounds how long giving up a partition waits for
	// the fetch in flight. Default 250ms.
	FetchMaxWait time.Duration
	// CommitInterval is how often finished batches' offsets are committed
	// to the group; they are also committed whenever partitions are given
	// up. Default 1s.
	CommitInterval time.Duration

	// Group membership timings, small so that a member that leaves or dies
	// is replaced quickly. Defaults 1s, 10s, 10s, 1s.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration
	// WatchPartitionChanges rebalances the group when a topic's partition
	// count changes (checked every PartitionWatchInterval, default 5s).
	// Off by default: keyed state does not survive a partition change.
	WatchPartitionChanges  bool
	PartitionWatchInterval time.Duration

	// StartOffset is where a partition the group has no committed offset
	// for starts when the handler asks for CommittedOffset: FirstOffset
	// (default: nothing is missed) or LastOffset (only what comes next).
	StartOffset int64

	// EndCheckEvery, when set and the Handler is an EndWatcher, is how
	// often the Consumer reads the assigned partitions' end offsets to
	// tell the Handler which ones it has caught up with.
	EndCheckEvery time.Duration
	// Pause, when set, holds back the fetching of the topics it pauses.
	Pause *Pause

	// DrainTimeout bounds how long Run waits, after its context is
	// cancelled, for the batches in flight; then their context is
	// cancelled. Default 30s.
	DrainTimeout time.Duration
	Logger       *zap.Logger

	// UserData, when set, is read at every join of the group and sent as
	// this member's metadata, which any client reads back with
	// GroupOwner: the pipeline puts its admin API's address there, so
	// that a copy can forward a state query to the partition's owner.
	UserData func() []byte
}

func (c *ConsumerConfig) setDefaults() {
	if c.StartOffset == 0 {
		c.StartOffset = FirstOffset
	}
	setDefault(&c.MaxBatchRecords, 1000)
	setDefault(&c.MaxBatchWait, 50*time.Millisecond)
	setDefault(&c.FetchMaxBytes, 1<<20)
	setDefault(&c.FetchMaxWait, 250*time.Millisecond)
	setDefault(&c.CommitInterval, time.Second)
	setDefault(&c.HeartbeatInterval, time.Second)
	setDefault(&c.SessionTimeout, 10*time.Second)
	setDefault(&c.RebalanceTimeout, 10*time.Second)
	setDefault(&c.JoinGroupBackoff, time.Second)
	setDefault(&c.PartitionWatchInterval, 5*time.Second)
	setDefault(&c.DrainTimeout, 30*time.Second)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate reports a config NewConsumer cannot use.
func (c *ConsumerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: consumer: no brokers", ErrInvalidConfig)
	case c.GroupID == "":
		return fmt.Errorf("%w: consumer: no group id", ErrInvalidConfig)
	case len(c.Topics) == 0:
		return fmt.Errorf("%w: consumer: no topics", ErrInvalidConfig)
	case c.MaxBatchRecords < 1, c.MaxBatchWait < 0, c.FetchMaxBytes < 1, c.FetchMaxWait <= 0,
		c.CommitInterval <= 0, c.HeartbeatInterval <= 0, c.DrainTimeout <= 0, c.EndCheckEvery < 0:
		return fmt.Errorf("%w: consumer: setting out of range", ErrInvalidConfig)
	case c.StartOffset != FirstOffset && c.StartOffset != LastOffset:
		return fmt.Errorf("%w: consumer: start offset must be FirstOffset or LastOffset", ErrInvalidConfig)
	case c.HeartbeatInterval*3 > c.SessionTimeout:
		return fmt.Errorf("%w: consumer: heartbeat interval must be at most a third of the session timeout", ErrInvalidConfig)
	}
	for _, t := range c.Topics {
		if t == "" {
			return fmt.Errorf("%w: consumer: empty topic name", ErrInvalidConfig)
		}
	}
	return nil
}

// messageSource yields one partition's records in offset order; a
// kafka.Reader bound to a partition is one.
type messageSource interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	Close() error
}

// Consumer runs a Handler as one member of a consumer group: it fetches the
// partitions the group assigns to this member, one goroutine per
// partition, and commits the offsets of the batches the Handler finished.
type Consumer struct {
	cfg ConsumerConfig
	h   Handler
	log *zap.Logger
	// lim keeps the warnings of an outage (every reader, the group and
	// the committer fail about once a second) to one per kind per 15 s.
	lim *logLimiter
	// newSource opens a partition at an offset; replaced by tests.
	newSource func(topic string, partition int, offset int64) messageSource
}

// NewConsumer validates cfg and returns a Consumer that drives h. It does
// not connect until Run.
func NewConsumer(cfg ConsumerConfig, h Handler) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: consumer: nil handler", ErrInvalidConfig)
	}
	c := &Consumer{cfg: cfg, h: h, log: cfg.Logger.With(zap.String("group", cfg.GroupID)), lim: newLogLimiter(15 * time.Second)}
	c.newSource = c.readerSource
	return c, nil
}

func (c *Consumer) readerSource(topic string, partition int, offset int64) messageSource {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:       c.cfg.Brokers,
		Dialer:        c.cfg.Dialer,
		Topic:         topic,
		Partition:     partition,
		MinBytes:      1,
		MaxBytes:      c.cfg.FetchMaxBytes,
		MaxWait:       c.cfg.FetchMaxWait,
		QueueCapacity: c.cfg.MaxBatchRecords,
		ErrorLogger:   readerLogger(c.log, c.lim),
	})
	_ = r.SetOffset(offset) // fails only on a closed reader
	return r
}

// Run joins the group and handles partitions until ctx is cancelled or the
// Handler fails. On cancellation it drains: batches in flight finish, their
// offsets are committed, Revoked is called for every partition, and the
// member leaves the group so others take over at once. It then returns
// nil. A Handler error is returned after the same drain.
//
// Nothing the broker does stops Run: a failed fetch is retried (the
// partition resumes after the last record handed to Process), a failed
// commit is tried again at the next interval, and a lost generation (the
// broker away long enough for the session to time out) ends the
// partitions' work and the member joins again, for as long as it takes;
// the partitions then resume at the offsets their Handler returns from
// Assigned. Only a Handler error (and Assigned's) stops the Consumer.
func (c *Consumer) Run(ctx context.Context) error {
	gcfg := kafka.ConsumerGroupConfig{
		ID:                     c.cfg.GroupID,
		Brokers:                c.cfg.Brokers,
		Dialer:                 c.cfg.Dialer,
		Topics:                 c.cfg.Topics,
		HeartbeatInterval:      c.cfg.HeartbeatInterval,
		SessionTimeout:         c.cfg.SessionTimeout,
		RebalanceTimeout:       c.cfg.RebalanceTimeout,
		JoinGroupBackoff:       c.cfg.JoinGroupBackoff,
		WatchPartitionChanges:  c.cfg.WatchPartitionChanges,
		PartitionWatchInterval: c.cfg.PartitionWatchInterval,
		StartOffset:            c.cfg.StartOffset,
		ErrorLogger:            limitedKafkaLogger(c.log, c.lim),
	}
	if c.cfg.UserData != nil {
		gcfg.GroupBalancers = withUserData(c.cfg.UserData, kafka.RangeGroupBalancer{}, kafka.RoundRobinGroupBalancer{})
	}
	if c.log.Core().Enabled(zap.DebugLevel) {
		gcfg.Logger = kafkaLogger(c.log.Debug)
	}
	cg, err := kafka.NewConsumerGroup(gcfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}

	r := &runState{failed: make(chan struct{})}
	// Process must be able to finish its batch after ctx is cancelled, so
	// its context only ends after DrainTimeout.
	procCtx, cancelProc := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProc()
	left := make(chan struct{})
	go func() {
		defer close(left)
		select {
		case <-ctx.Done():
		case <-r.failed:
		}
		r.stop()
		drain := time.AfterFunc(c.cfg.DrainTimeout, cancelProc)
		defer drain.Stop()
		// Closing the group ends the generation: partition goroutines
		// drain and commit; only then does the member leave.
		_ = cg.Close()
	}()

	for {
		gen, err := cg.Next(context.Background())
		if errors.Is(err, kafka.ErrGroupClosed) {
			break
		}
		if err != nil {
			// The group retries by itself after JoinGroupBackoff, for as
			// long as it takes: a broker that is away is waited for.
			c.lim.warn(c.log, "join", "joining group failed; retrying", zap.Error(err))
			continue
		}
		if r.stopping() {
			continue // the group ends this generation and leaves
		}
		c.runGeneration(procCtx, gen, r)
	}
	<-left
	return r.err
}

// runState is what the goroutines of one Run share.
type runState struct {
	mu       sync.Mutex
	err      error
	failed   chan struct{}
	stopped  bool
	failOnce sync.Once
}

func (r *runState) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.failOnce.Do(func() { close(r.failed) })
}

func (r *runState) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

func (r *runState) stopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// runGeneration handles gen's assignments and returns once every partition
// goroutine has exited and the final offsets are committed.
func (c *Consumer) runGeneration(procCtx context.Context, gen *kafka.Generation, r *runState) {
	log := c.log.With(zap.Int32("generation", gen.ID), zap.String("member", gen.MemberID))
	log.Info("generation started", zap.Any("assignments", assignedPartitions(gen)))
	marks := newOffsetMarks()
	ps := &positions{}
	if w, ok := c.h.(EndWatcher); ok && c.cfg.EndCheckEvery > 0 {
		gen.Start(func(genCtx context.Context) { c.watchEnds(genCtx, w, ps) })
	}
	var partitions sync.WaitGroup
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			partitions.Add(1)
			gen.Start(func(genCtx context.Context) {
				defer partitions.Done()
				if err := c.runPartition(genCtx, procCtx, topic, pa, marks, ps); err != nil {
					log.Error("partition failed, stopping consumer", zap.String("topic", topic), zap.Int("partition", pa.ID), zap.Error(err))
					r.fail(err)
					// Returning would end the generation and make the group
					// rejoin; wait until the group closes it and leaves.
					<-genCtx.Done()
				}
			})
		}
	}
	committed := make(chan struct{})
	gen.Start(func(genCtx context.Context) {
		defer close(committed)
		tick := time.NewTicker(c.cfg.CommitInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				c.commit(log, gen, marks)
			case <-genCtx.Done():
				partitions.Wait()
				c.commit(log, gen, marks)
				return
			}
		}
	})
	<-committed
	log.Info("generation ended")
}

func (c *Consumer) commit(log *zap.Logger, gen *kafka.Generation, marks *offsetMarks) {
	offsets := marks.take()
	if offsets == nil {
		return
	}
	if err := gen.CommitOffsets(offsets); err != nil {
		// the records will be handled again by whoever owns the partition
		// next; kept for the next attempt in this generation
		marks.restore(offsets)
		c.lim.warn(log, "commit", "committing offsets failed; kept for the next attempt", zap.Error(err))
	}
}

func assignedPartitions(gen *kafka.Generation) map[string][]int {
	out := make(map[string][]int, len(gen.Assignments))
	for topic, pas := range gen.Assignments {
		for _, pa := range pas {
			out[topic] = append(out[topic], pa.ID)
		}
	}
	return out
}
