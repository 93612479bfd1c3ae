package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// EndWatcher is a Handler that wants to know when it has processed every
// record of a partition: a stage merging several inputs by arrival time
// takes a caught-up input as one that will send nothing older than the
// time it was caught up at. With ConsumerConfig.EndCheckEvery set, the
// Consumer asks the broker for the end offsets of the assigned partitions
// that often, and calls CaughtUp for each one whose records Process has
// all returned from.
//
// at is the time taken before the broker was asked: every record the
// partition held at that moment, up to its high watermark, has been
// processed. A record appended later may still carry an earlier
// timestamp (a producer's CreateTime, its linger and retries, or an
// append not yet replicated), and at is this host's clock, not the
// broker's: that is the caller's allowance. A partition assigned to
// start at LastOffset is never reported before its first batch.
type EndWatcher interface {
	CaughtUp(topic string, partition int, at time.Time)
}

// positions are the next offsets Process finished per partition of one
// generation: what the end check compares the partitions' ends with.
type positions struct {
	mu sync.Mutex
	by map[topicPartition]*atomic.Int64
}

// unknownPosition is a partition that starts from its first offset and
// has finished no batch yet: it is caught up when it is empty.
const unknownPosition = FirstOffset

func (ps *positions) track(topic string, partition int, start int64) *atomic.Int64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.by == nil {
		ps.by = make(map[topicPartition]*atomic.Int64)
	}
	v := new(atomic.Int64)
	if start < 0 {
		start = unknownPosition
	}
	v.Store(start)
	ps.by[topicPartition{topic, partition}] = v
	return v
}

func (ps *positions) untrack(topic string, partition int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.by, topicPartition{topic, partition})
}

func (ps *positions) snapshot() map[topicPartition]*atomic.Int64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make(map[topicPartition]*atomic.Int64, len(ps.by))
	for k, v := range ps.by {
		out[k] = v
	}
	return out
}

// watchEnds runs the end check of one generation until genCtx ends.
func (c *Consumer) watchEnds(genCtx context.Context, w EndWatcher, ps *positions) {
	tr := newTransport(c.cfg.Dialer, 0)
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: tr, Timeout: c.cfg.EndCheckEvery * 4}
	t := time.NewTicker(c.cfg.EndCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-genCtx.Done():
			return
		case <-t.C:
		}
		if err := c.checkEnds(genCtx, client, w, ps); err != nil && genCtx.Err() == nil {
			c.lim.warn(c.log, "ends", "reading the partitions' end offsets failed; retrying", zap.Error(err))
		}
	}
}

func (c *Consumer) checkEnds(ctx context.Context, client *kafka.Client, w EndWatcher, ps *positions) error {
	tracked := ps.snapshot()
	if len(tracked) == 0 {
		return nil
	}
	var last, first map[topicPartition]int64
	at := time.Now()
	last, err := listOffsets(ctx, client, tracked, kafka.LastOffset, func(int64) bool { return true })
	if err != nil {
		return err
	}
	// A partition that finished no batch yet is caught up when it is
	// empty: its first offset is its last.
	first, err = listOffsets(ctx, client, tracked, kafka.FirstOffset, func(next int64) bool { return next == unknownPosition })
	if err != nil {
		return err
	}
	for tp, end := range last {
		// Loaded after the answer: a batch finished meanwhile only moves
		// it further.
		next := tracked[tp].Load()
		start, known := first[tp]
		if next >= end || (next == unknownPosition && known && start == end) {
			w.CaughtUp(tp.topic, tp.partition, at)
		}
	}
	return nil
}

// listOffsets asks for the first or last offset (which) of the tracked
// partitions whose position want accepts. One request asks for one kind:
// kafka-go files a partition's answer by the timestamp the broker echoes,
// which is -1 for both kinds.
func listOffsets(ctx context.Context, client *kafka.Client, tracked map[topicPartition]*atomic.Int64, which int64, want func(int64) bool) (map[topicPartition]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: make(map[string][]kafka.OffsetRequest)}
	for tp, pos := range tracked {
		if want(pos.Load()) {
			req.Topics[tp.topic] = append(req.Topics[tp.topic], kafka.OffsetRequest{Partition: tp.partition, Timestamp: which})
		}
	}
	if len(req.Topics) == 0 {
		return nil, nil
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make(map[topicPartition]int64)
	for topic, parts := range res.Topics {
		for _, po := range parts {
			if po.Error != nil || tracked[topicPartition{topic, po.Partition}] == nil {
				continue
			}
			off := po.LastOffset
			if which == kafka.FirstOffset && po.FirstOffset > off {
				off = po.FirstOffset
			}
			out[topicPartition{topic, po.Partition}] = off
		}
	}
	return out, nil
}

// Pause holds back the processing of topics: while a topic is paused, its
// partitions hand no batch to the Handler (the one in flight finishes; one
// fetched meanwhile waits for the resume). It is what
// an operator's pause of a consumer is, and what tests use to hold one
// input's consumers back. The zero value pauses nothing; a Pause is safe
// for concurrent use and may be shared by several Consumers.
type Pause struct {
	mu     sync.Mutex
	topics map[string]chan struct{} // closed on Resume
}

// Topics pauses the fetching of topics.
func (p *Pause) Topics(topics ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.topics == nil {
		p.topics = make(map[string]chan struct{})
	}
	for _, t := range topics {
		if p.topics[t] == nil {
			p.topics[t] = make(chan struct{})
		}
	}
}

// Resume lets paused topics be fetched again.
func (p *Pause) Resume(topics ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range topics {
		if ch := p.topics[t]; ch != nil {
			close(ch)
			delete(p.topics, t)
		}
	}
}

// wait returns once topic is not paused, or ctx ends.
func (p *Pause) wait(ctx context.Context, topic string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	ch := p.topics[topic]
	p.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}
