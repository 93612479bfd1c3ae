package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ProducerConfig holds the deployment settings of a Producer.
type ProducerConfig struct {
	Brokers []string
	// Dialer carries TLS/SASL settings; nil means plain TCP.
	Dialer *kafka.Dialer
	// BatchTimeout is how long a partition's batch waits for more records
	// before it is sent. Produce blocks for at most about this long on top
	// of the round trip when its records do not fill a batch. Default 2ms.
	BatchTimeout time.Duration
	// BatchSize is the most records per partition per produce request.
	// Default 1000: a stage's batch rarely sends more to one partition, and
	// kafka-go reserves room for BatchSize records in every partition's
	// batch, so 10000 spent much of the pipeline's CPU zeroing memory
	// (docs/ARCHITECTURE.md, "Measurements").
	BatchSize int
	// BatchBytes is the most bytes per partition per request. Default 1 MiB,
	// the broker's default message.max.bytes. A single record larger than
	// this is refused before it is sent (see ProduceError).
	BatchBytes int64
	// Compression of record batches: none, gzip, snappy, lz4 or zstd.
	// Default lz4: the fastest of them on the pass-through benchmark for
	// ~300-byte JSON-like values (docs/ARCHITECTURE.md, "Measurements").
	Compression string
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often a request failing with a retriable error is
	// tried. 0, the default and what a stage must use, means for as long
	// as the Producer is open. With a positive value the Producer fails
	// for good (ErrProducerFailed) when the attempts run out, rather than
	// go on writing the records queued behind the ones it gave up on.
	MaxAttempts int
	// RetryBackoff is the longest wait between two attempts of a request;
	// waits start at 100 ms and double up to it. Default 1s.
	RetryBackoff time.Duration
	// CloseTimeout bounds how long Close waits for records not yet
	// acknowledged (say, while the broker is away) before it abandons
	// them. Default 10s.
	CloseTimeout time.Duration
	// ProbeInterval is how often the broker is asked for its API versions
	// once Health or Ready has been called, so that an outage shows while
	// nothing is produced. Default 5s.
	ProbeInterval time.Duration
	Logger        *zap.Logger
}

func (c *ProducerConfig) setDefaults() {
	setDefault(&c.BatchTimeout, 2*time.Millisecond)
	setDefault(&c.BatchSize, 1000)
	setDefault(&c.BatchBytes, 1<<20)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.RetryBackoff, time.Second)
	setDefault(&c.CloseTimeout, 10*time.Second)
	setDefault(&c.ProbeInterval, 5*time.Second)
	setDefault(&c.Compression, "lz4")
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

var compressionCodecs = map[string]kafka.Compression{
	"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

// Validate reports a config NewProducer cannot use.
func (c *ProducerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: producer: no brokers", ErrInvalidConfig)
	case c.BatchTimeout < 0, c.BatchSize < 0, c.BatchBytes < 0, c.WriteTimeout < 0, c.MaxAttempts < 0,
		c.RetryBackoff < 0, c.CloseTimeout < 0, c.ProbeInterval < 0:
		return fmt.Errorf("%w: producer: negative setting", ErrInvalidConfig)
	}
	if _, ok := compressionCodecs[c.Compression]; !ok {
		return fmt.Errorf("%w: producer: unknown compression %q", ErrInvalidConfig, c.Compression)
	}
	return nil
}

// Producer writes records to any topic and waits until the brokers have
// acknowledged every one (acks=all). Records carry their topic; a record
// goes to the partition its key hashes to with Kafka's murmur2 (the Java
// client's default partitioner), or to the one chosen with AtPartition.
// Records with a nil key are spread at random.
//
// Produce is safe for concurrent use: the partition goroutines of a
// Consumer share one Producer.
//
// # Order, and why retriable errors are retried without end
//
// The stages downstream skip a record whose (source partition, offset,
// index) is at or below the highest they applied (docs/ARCHITECTURE.md,
// "Delivery semantics"). That is only safe if, on every destination
// partition, no record lands while an earlier record of the same Produce
// call, or of an earlier call from the same goroutine, is dropped: the
// earlier one, sent again later, would sit below the mark and be skipped,
// lost for good. kafka-go's writer sends one partition's batches in order
// from one goroutine, but after MaxAttempts it drops a batch and sends
// the next. So the Producer never gives up on a retriable error (the
// network, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT,
// ...): while the broker is away, producing pauses, and Produce blocks
// until the records are acknowledged or ctx ends. Records in flight when
// ctx ends stay queued and are still written, ahead of anything produced
// later.
//
// A record the broker refuses for what it is (too large, invalid) comes
// back at once as a *ProduceError naming it; the rest of the call is
// written in order. Any other refusal (authorization, an unsupported
// request) would hit every record: the Producer then stops sending
// altogether, so nothing lands behind the records it lost, and every
// Produce returns ErrProducerFailed; the process must exit and restart.
type Producer struct {
	cfg       ProducerConfig
	log       *zap.Logger
	w         *kafka.Writer
	transport *kafka.Transport
	client    *kafka.Client // through rt: isolation and the broker probe
	rt        *produceTransport
	health    *brokerHealth

	failed    atomic.Pointer[error] // set once: ErrProducerFailed
	aborted   atomic.Bool           // Close gave up waiting
	stopping  chan struct{}         // closed when failed or aborted
	stopOnce  sync.Once
	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
	probeOnce sync.Once
}

// NewProducer validates cfg and returns a Producer. It does not connect
// until the first Produce (or Health, which starts the broker probe).
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newProducer(cfg, nil), nil
}

// newProducer builds the Producer over inner, or over a kafka.Transport
// when inner is nil (tests pass a fake broker).
func newProducer(cfg ProducerConfig, inner kafka.RoundTripper) *Producer {
	p := &Producer{
		cfg: cfg, log: cfg.Logger, health: newBrokerHealth(cfg.Logger),
		stopping: make(chan struct{}), closing: make(chan struct{}),
	}
	if inner == nil {
		p.transport = newTransport(cfg.Dialer, 0)
		inner = p.transport
	}
	p.rt = &produceTransport{inner: inner, health: p.health, stopped: p.stopErr, stopping: p.stopping, backoff: cfg.RetryBackoff}
	maxAttempts := cfg.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = math.MaxInt
	}
	addr := kafka.TCP(cfg.Brokers...)
	p.client = &kafka.Client{Addr: addr, Transport: p.rt, Timeout: cfg.WriteTimeout}
	p.w = &kafka.Writer{
		Addr:         addr,
		Balancer:     partitionBalancer{byKey: &kafka.Murmur2Balancer{}},
		MaxAttempts:  maxAttempts,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		// produceTransport waits between attempts; kafka-go's back-off
		// (attempt² × min) would overflow on a long outage.
		WriteBackoffMin: time.Nanosecond,
		WriteBackoffMax: time.Nanosecond,
		RequiredAcks:    kafka.RequireAll,
		Compression:     compressionCodecs[cfg.Compression],
		// every failed attempt; produceTransport logs what matters
		ErrorLogger: kafkaLogger(cfg.Logger.Debug),
		Transport:   p.rt,
		Completion:  p.complete,
	}
	return p
}

// Outcomes of one message, kept in its slot.
const (
	slotPending uint8 = iota
	slotWritten
	slotRefused
	slotFatal
)

// slot travels with a message through kafka-go's writer (in WriterData)
// and carries the message's explicit partition in and its outcome out.
type slot struct {
	partition int // AtPartition's choice, or -1
	state     uint8
	err       error
}

func setSlot(m *kafka.Message, state uint8, err error) {
	if s, ok := m.WriterData.(*slot); ok {
		s.state, s.err = state, err
	}
}

// call is one Produce call's messages on their way.
type call struct {
	n        int
	msgs     []kafka.Message // the ones to send, WriterData set to their slot
	index    []int           // index in the call of msgs[i]
	slots    []slot
	failed   []MessageError
	fatal    error
	explicit bool
}

// maxRecordBytes is kafka-go's measure of a message against BatchBytes
// (kafka.Message.totalSize, not exported): a larger message makes
// WriteMessages fail for the whole call.
func maxRecordBytes(m *kafka.Message) int64 {
	n := int64(4+1+1+8) + int64(4+len(m.Key)) + int64(4+len(m.Value))
	n += int64(varIntLen(len(m.Headers)))
	for _, h := range m.Headers {
		n += int64(varIntLen(len(h.Key))+len(h.Key)) + int64(varIntLen(len(h.Value))+len(h.Value))
	}
	return n
}

func varIntLen(n int) int {
	u := uint64(int64(n)<<1) ^ uint64(int64(n)>>63)
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

func (p *Producer) newCall(msgs []kafka.Message) *call {
	c := &call{n: len(msgs), msgs: make([]kafka.Message, 0, len(msgs)), index: make([]int, 0, len(msgs)), slots: make([]slot, len(msgs))}
	for i := range msgs {
		if size := maxRecordBytes(&msgs[i]); size > p.cfg.BatchBytes {
			c.failed = append(c.failed, MessageError{Index: i, Err: fmt.Errorf("%w: %d bytes, more than the producer's BatchBytes (%d)",
				kafka.MessageSizeTooLarge, size, p.cfg.BatchBytes)})
			continue
		}
		s := &c.slots[i]
		s.partition = -1
		if ep, ok := msgs[i].WriterData.(explicitPartition); ok {
			s.partition = int(ep)
			c.explicit = true
		}
		m := msgs[i]
		m.WriterData = s
		c.msgs = append(c.msgs, m)
		c.index = append(c.index, i)
	}
	if len(c.failed) > 0 {
		p.health.refused.Add(uint64(len(c.failed)))
	}
	return c
}

// collect reads the outcome of each message the writer reported failed.
func (c *call) collect(werr kafka.WriteErrors) {
	for i, err := range werr {
		if err == nil || i >= len(c.msgs) {
			continue
		}
		s := c.msgs[i].WriterData.(*slot)
		switch s.state {
		case slotWritten:
		case slotRefused:
			c.failed = append(c.failed, MessageError{Index: c.index[i], Err: s.err})
		default:
			if c.fatal == nil {
				c.fatal = cmpErr(s.err, err)
			}
		}
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (c *call) result() error {
	if c.fatal != nil {
		return fmt.Errorf("%w: %d records: %w", ErrProduce, c.n, c.fatal)
	}
	if len(c.failed) == 0 {
		return nil
	}
	slices.SortFunc(c.failed, func(a, b MessageError) int { return a.Index - b.Index })
	return &ProduceError{Messages: c.n, Failed: c.failed}
}

// Produce writes msgs, which may go to several topics and partitions at
// once, and returns when every one is acknowledged or refused for good.
// It returns:
//
//   - nil: every message was written.
//   - a *ProduceError: the messages it lists were refused for what they
//     are (too large, invalid) and will never be written; every other
//     message was written, in order per partition.
//   - any other error (wrapping ErrProduce): ctx ended, the Producer was
//     closed, or it failed (ErrProducerFailed). Which messages were
//     written is unknown, and records of the call may still be written
//     after Produce returned, in order, ahead of anything produced later.
//     Retrying the whole call is safe: outputs are deterministic and
//     repeats are skipped downstream.
//
// While the broker is unreachable or answers with retriable errors,
// Produce blocks (see Producer). msgs are not modified and not kept.
func (p *Producer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := p.stopErr(); err != nil {
		return fmt.Errorf("%w: %d records: %w", ErrProduce, len(msgs), err)
	}
	c := p.newCall(msgs)
	if len(c.msgs) > 0 {
		if err := p.write(ctx, c); err != nil {
			return err
		}
	}
	return c.result()
}

// write sends c's messages, retrying failures that happen before the
// writer queued anything (the topic's metadata cannot be had while the
// broker is away).
func (p *Producer) write(ctx context.Context, c *call) error {
	wait := 100 * time.Millisecond
	for {
		err := p.checkPartitions(ctx, c)
		if err == nil {
			err = p.w.WriteMessages(ctx, c.msgs...)
			if err == nil {
				return nil
			}
			var werr kafka.WriteErrors
			if errors.As(err, &werr) {
				c.collect(werr)
				return nil
			}
		}
		var np noSuchPartition
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("%w: %d records: %w", ErrProduce, c.n, ctx.Err())
		case errors.Is(err, io.ErrClosedPipe):
			return fmt.Errorf("%w: %d records: %w", ErrProduce, c.n, ErrProducerClosed)
		case errors.As(err, &np):
			return fmt.Errorf("%w: %w", ErrProduce, err)
		case classify(err) != classRetry:
			return fmt.Errorf("%w: %d records: %w", ErrProduce, c.n, err)
		}
		p.health.observe(nil, err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
		case <-p.closing:
			timer.Stop()
			return fmt.Errorf("%w: %d records: %w", ErrProduce, c.n, ErrProducerClosed)
		}
		wait = min(2*wait, p.cfg.RetryBackoff)
	}
}

type noSuchPartition struct {
	topic         string
	partition, of int
}

func (e noSuchPartition) Error() string {
	return fmt.Sprintf("topic %s has no partition %d (it has %d)", e.topic, e.partition, e.of)
}

// checkPartitions makes sure every AtPartition message names a partition
// its topic has: kafka-go would send the others to a partition the broker
// does not know, which reads as retriable (UNKNOWN_TOPIC_OR_PARTITION) and
// would pause producing for good. The metadata comes from the transport's
// cache.
func (p *Producer) checkPartitions(ctx context.Context, c *call) error {
	if !c.explicit {
		return nil
	}
	var topics []string
	for i := range c.msgs {
		if s := c.msgs[i].WriterData.(*slot); s.partition >= 0 && !slices.Contains(topics, c.msgs[i].Topic) {
			topics = append(topics, c.msgs[i].Topic)
		}
	}
	meta, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err
	}
	count := make(map[string]int, len(meta.Topics))
	for _, t := range meta.Topics {
		if t.Error != nil {
			return t.Error
		}
		count[t.Name] = len(t.Partitions)
	}
	for i := range c.msgs {
		s := c.msgs[i].WriterData.(*slot)
		if n, ok := count[c.msgs[i].Topic]; ok && s.partition >= n {
			return noSuchPartition{c.msgs[i].Topic, s.partition, n}
		}
	}
	return nil
}

// complete is the writer's Completion: it runs on the partition's
// goroutine after each batch, before the next batch of the partition is
// sent. For a batch the broker refused as a whole for a record's sake, it
// finds the refused records and writes the others, so that they still
// land before anything later.
func (p *Producer) complete(msgs []kafka.Message, err error) {
	if err == nil {
		return
	}
	var c classified
	if classify(err) == classRecord && errors.As(err, &c) {
		if len(msgs) == 1 {
			p.refuse(&msgs[0], c.err)
			return
		}
		p.isolate(c.topic, c.partition, msgs)
		return
	}
	err = p.fail(err)
	for i := range msgs {
		setSlot(&msgs[i], slotFatal, err)
	}
}

func (p *Producer) refuse(m *kafka.Message, err error) {
	p.health.refused.Add(1)
	setSlot(m, slotRefused, err)
}

// isolate writes msgs, which the broker refused together, in two halves,
// and each refused half again in halves, down to the single records to
// blame, left to right so that the order of the records written holds.
func (p *Producer) isolate(topic string, partition int, msgs []kafka.Message) {
	half := len(msgs) / 2
	for _, part := range [][]kafka.Message{msgs[:half], msgs[half:]} {
		err := p.stopErr()
		if err == nil {
			err = p.produceDirect(topic, partition, part)
		}
		var c classified
		switch {
		case err == nil:
			for i := range part {
				setSlot(&part[i], slotWritten, nil)
			}
		case classify(err) == classRecord && len(part) == 1 && errors.As(err, &c):
			p.refuse(&part[0], c.err)
		case classify(err) == classRecord:
			p.isolate(topic, partition, part)
		default:
			err = p.fail(err)
			for i := range part {
				setSlot(&part[i], slotFatal, err)
			}
		}
	}
}

// produceDirect sends msgs to topic/partition in one request, trying again
// while the error is retriable and the Producer is sending.
func (p *Producer) produceDirect(topic string, partition int, msgs []kafka.Message) error {
	records := make([]kafka.Record, len(msgs))
	for {
		for i, m := range msgs {
			records[i] = kafka.Record{Time: m.Time, Key: bytesOrNil(m.Key), Value: bytesOrNil(m.Value), Headers: m.Headers}
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.WriteTimeout)
		res, err := p.client.Produce(ctx, &kafka.ProduceRequest{
			Topic: topic, Partition: partition, RequiredAcks: kafka.RequireAll,
			Compression: compressionCodecs[p.cfg.Compression], Records: kafka.NewRecordReader(records...),
		})
		cancel()
		if err == nil && res != nil {
			err = res.Error
		}
		if err == nil || classify(err) != classRetry {
			return err
		}
		if stop := p.stopErr(); stop != nil {
			return stop
		}
	}
}

func bytesOrNil(b []byte) kafka.Bytes {
	if b == nil {
		return nil
	}
	return kafka.NewBytes(b)
}

// fail stops all sending for good after err, a failure that is not a
// record's own: nothing may land behind the records it lost. It returns
// the error to report for the records err hit.
func (p *Producer) fail(err error) error {
	if errors.Is(err, ErrProducerClosed) || errors.Is(err, ErrProducerFailed) {
		return err
	}
	wrapped := fmt.Errorf("%w: %w", ErrProducerFailed, err)
	if p.failed.CompareAndSwap(nil, &wrapped) {
		p.log.Error("producer failed: the broker refused a write for a reason that is not the record's own; nothing more is sent, the process must restart",
			zap.Error(err))
		p.stop()
	}
	return wrapped
}

func (p *Producer) stop() {
	p.stopOnce.Do(func() {
		close(p.stopping)
		p.health.unpauseAll()
	})
}

// stopErr returns why the Producer no longer sends, or nil.
func (p *Producer) stopErr() error {
	if e := p.failed.Load(); e != nil {
		return *e
	}
	if p.aborted.Load() {
		return ErrProducerClosed
	}
	return nil
}

// Stats returns the writer's counters since the last call, for metrics.
func (p *Producer) Stats() kafka.WriterStats { return p.w.Stats() }

// Health reports what the Producer knows about the broker. The first call
// starts a probe that asks the broker for its API versions every
// ProbeInterval until Close, so that an outage also shows while nothing is
// produced.
func (p *Producer) Health() ProducerHealth {
	p.probeOnce.Do(func() { go p.probe() })
	return p.health.snapshot()
}

// Ready says whether the broker answers and records are acknowledged: not
// ready while the broker has been unreachable for DownAfter or some
// partition's records have waited over 5 s for an ack.
func (p *Producer) Ready() (bool, string) {
	if err := p.stopErr(); err != nil {
		return false, err.Error()
	}
	return p.Health().ready(time.Now())
}

func (p *Producer) probe() {
	tick := time.NewTicker(p.cfg.ProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-tick.C:
		}
		// The transport observes the outcome. A failure is asked again at
		// once: a pooled connection the broker closed fails one request,
		// and that is no outage.
		for range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), min(p.cfg.ProbeInterval, 5*time.Second))
			_, err := p.client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
			cancel()
			if err == nil {
				break
			}
		}
	}
}

// Close flushes pending records and releases connections. It waits up to
// CloseTimeout for records not yet acknowledged; then (the broker being
// away, say) it logs how long it waited, stops sending, fails the records
// still waiting with ErrProducerClosed, and returns an error wrapping
// ErrProducerClosed. It never blocks for much longer than CloseTimeout +
// WriteTimeout: a stage stopping during an outage must not hang.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.w.Close()
		}()
		timer := time.NewTimer(p.cfg.CloseTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			h := p.health.snapshot()
			p.log.Warn("closing the producer: records still not acknowledged; abandoning them",
				zap.Duration("waited", p.cfg.CloseTimeout), zap.Bool("broker_up", h.BrokerUp),
				zap.Int("paused_partitions", h.PausedPartitions), zap.String("last_error", h.LastError))
			p.aborted.Store(true)
			p.stop()
			p.closeErr = fmt.Errorf("%w: records not acknowledged within %s were abandoned", ErrProducerClosed, p.cfg.CloseTimeout)
			// in flight: at most one request and one wait per partition
			grace := time.NewTimer(p.cfg.WriteTimeout + p.cfg.RetryBackoff + time.Second)
			defer grace.Stop()
			select {
			case <-done:
			case <-grace.C:
				p.log.Error("closing the producer: the writer did not stop; leaving it behind")
			}
		}
		if p.transport != nil {
			p.transport.CloseIdleConnections()
		}
	})
	return p.closeErr
}
