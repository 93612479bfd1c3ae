package stage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// MaxTxnRecords bounds the input records whose state goes into one store
// transaction: a transaction must fit Badger's limit (a share of a
// memtable), and a record writes at most one state value of a few hundred
// bytes. A Logic that releases records it held applies at most this many
// per Result (Result.More).
const MaxTxnRecords = 1000

// Process runs a batch in parts of at most MaxTxnRecords records: each
// part's outputs and changelog records are produced and acknowledged, then
// its state and input offset are applied in one transaction.
func (p *Processor) Process(ctx context.Context, b stream.Batch) error {
	if h, ok := p.cfg.Logic.(Holder); ok {
		if err := hold(ctx, h, b); err != nil {
			return err
		}
	}
	msgs := b.Messages
	for len(msgs) > 0 {
		part := b
		part.Messages = msgs[:min(len(msgs), MaxTxnRecords)]
		msgs = msgs[len(part.Messages):]
		if err := p.process(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// hold runs h's wait before the batch, which ends when ctx does or when
// the generation that fetched the batch ends (a SIGTERM or a rebalance
// must not wait out a retry tier's hours, or a delayed partner's
// minutes): the batch was not started, and its next owner fetches it
// again.
func hold(ctx context.Context, h Holder, b stream.Batch) error {
	if b.Ended == nil {
		return h.Hold(ctx, b)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-b.Ended:
			cancel()
		case <-stop:
		}
	}()
	return h.Hold(hctx, b)
}

func (p *Processor) process(ctx context.Context, b stream.Batch) error {
	start := time.Now()
	o, ip, unlock, err := p.lock(b.Topic, b.Partition, true)
	if err != nil {
		return err
	}
	defer unlock()
	msgs, repeats := p.dropRepeats(o, b)
	in := Input{Store: o.store, Topic: b.Topic, Partition: b.Partition, Messages: msgs, NextOffset: b.NextOffset()}
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
	ip.lag = b.Lag()
	ip.backlog.Store(ip.lag + 1)
	p.observe(b, &res, repeats, start)
	if err := p.more(ctx, o, ip, b.Topic, b.Partition, res.More); err != nil {
		return fmt.Errorf("%s partition %d: %w", p.cfg.Name, b.Partition, err)
	}
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
		in = &input{lag: -1}
		p.inputs[topicPartition{topic, part}] = in
	}
	p.mu.Unlock()
	if in == nil {
		return nil, nil, nil, fmt.Errorf("%w: %s %s/%d", ErrNotOwned, p.cfg.Name, topic, part)
	}
	if !p.cfg.stateful() {
		in.mu.Lock()
		if !batch {
			p.mu.Lock()
			current := p.inputs[topicPartition{topic, part}] == in
			p.mu.Unlock()
			if !current {
				in.mu.Unlock()
				return nil, nil, nil, fmt.Errorf("%w: %s %s/%d", ErrNotOwned, p.cfg.Name, topic, part)
			}
		}
		return &owned{}, in, in.mu.Unlock, nil
	}
	o, err := p.owned(part)
	if err != nil {
		return nil, nil, nil, err
	}
	o.mu.Lock()
	if !batch {
		// A tick may have waited for the lock while the partition was
		// revoked (its store closed) or even assigned again.
		p.mu.Lock()
		current := p.inputs[topicPartition{topic, part}] == in && p.stores[part] == o
		p.mu.Unlock()
		if !current || o.store == nil {
			o.mu.Unlock()
			return nil, nil, nil, fmt.Errorf("%w: %s %s/%d", ErrNotOwned, p.cfg.Name, topic, part)
		}
	}
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

// more runs a Ticker's Tick again, under the lock already held, for as
// long as its Results say they have more to write (Result.More).
func (p *Processor) more(ctx context.Context, o *owned, ip *input, topic string, part int, more bool) error {
	tk, ok := p.cfg.Logic.(Ticker)
	for ok && more {
		p.mu.Lock()
		caughtUp := ip.caughtUp
		p.mu.Unlock()
		res, err := tk.Tick(ctx, Tick{Store: o.store, Topic: topic, Partition: part, Now: time.Now(), StreamTime: ip.streamTime, Lag: ip.lag, CaughtUp: caughtUp})
		if err != nil {
			return fmt.Errorf("tick: %w", err)
		}
		if err := p.write(ctx, o, &res, nil, topic, part, -1); err != nil {
			return err
		}
		p.count(&res)
		more = res.More
	}
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
	// A stage that holds records reads them again from far back after a
	// restart: its far repeats are its own re-read, not a recreated topic.
	if far > 0 && !p.cfg.MarksOnRelease {
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
	o.arena, o.counts = stampSources(res.Outputs, res.Sources, msgs, o.arena[:0], o.counts, p.cfg.ForwardSource)
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
			var seq [8]byte
			binary.BigEndian.PutUint64(seq[:], uint64(o.seq+1))
			headers = append(headers, kafka.Header{Key: writeSeqHeader, Value: seq[:]})
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
	seq := o.seq
	if len(res.Writes) > 0 && p.cfg.Restore == RestoreRebuild {
		seq++
		batch.SetOffset(writeSeqName, seq)
	}
	if err := o.store.Apply(&batch); err != nil {
		return fmt.Errorf("apply state: %w", err)
	}
	o.seq = seq
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
	if res.Control > 0 {
		m.ControlRecords.WithLabelValues(stage, "in").Add(float64(res.Control))
	}
	p.cfg.Progress.Processed(b.Topic, b.Partition, len(b.Messages)-res.Control, repeats)
	p.count(res)
	m.Lag.WithLabelValues(p.cfg.Name, b.Topic, partitionLabel(b.Partition)).Set(float64(b.Lag()))
	m.BatchRecords.WithLabelValues(stage).Observe(float64(len(b.Messages)))
	m.BatchSeconds.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}

// count adds a Result's outputs and rejects to the stage's metrics.
func (p *Processor) count(res *Result) {
	countOutputs(p.cfg.Metrics, p.cfg.MetricStage, res.Outputs, res.Sources)
	for field, n := range res.Rejected {
		p.cfg.Metrics.Rejects.WithLabelValues(p.cfg.MetricStage, field).Add(float64(n))
	}
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

// countOutputs counts outputs by topic, and those from no input (control
// records) apart: they flow while nothing else does.
func countOutputs(m *Metrics, stage string, outputs []kafka.Message, sources []int) {
	if len(outputs) == 0 {
		return
	}
	topic, n, control := outputs[0].Topic, 0, 0
	for i, o := range outputs {
		if i < len(sources) && sources[i] == NoSource {
			control++
			continue
		}
		if o.Topic != topic {
			m.RecordsOut.WithLabelValues(stage, topic).Add(float64(n))
			topic, n = o.Topic, 0
		}
		n++
	}
	if n > 0 {
		m.RecordsOut.WithLabelValues(stage, topic).Add(float64(n))
	}
	if control > 0 {
		m.ControlRecords.WithLabelValues(stage, "out").Add(float64(control))
	}
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
