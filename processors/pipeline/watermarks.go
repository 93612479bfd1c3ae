package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/arrival"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// watermarks is the normalize side of the arrival-time merge
// (docs/ARCHITECTURE.md, "Arrival order"). Every merge.watermark_interval
// it tells every partition of events.by-device, for each raw partition
// this copy owns, the arrival time before which that raw partition will
// send nothing more:
//
//   - the newest arrival time normalize has processed of it (a raw
//     partition's records come in about arrival order; a time in the
//     future counts as the moment it was processed), or, when later,
//     the time at which it had processed every record the partition held
//     (an idle or caught-up partition; the consumer checks its end
//     offset), less merge.producer_allowance in both cases: how much
//     earlier a record appended later may still be stamped.
//
// A watermark record has no value, no source position, and the header
// arrival.WatermarkHeader. One that has not moved is sent again now and
// then (heartbeat), so that a device copy that restarted, and did not
// read the earlier ones, hears from every raw partition soon.
type watermarks struct {
	out       string // events.by-device
	allowance time.Duration
	heartbeat time.Duration
	counts    func(ctx context.Context, topics ...string) (map[string]int, error)

	mu     sync.Mutex
	sent   map[arrival.Source]sentMark
	newest map[arrival.Source]time.Time // the newest merge time processed per raw partition
	// known partition counts, read from the cluster's metadata now and then
	known   map[string]int
	knownAt time.Time
}

type sentMark struct {
	at, when time.Time
}

// countsTTL is how long partition counts are reused before the metadata
// is read again: a topic that gains partitions is noticed that late.
const countsTTL = time.Minute

func newWatermarks(out string, allowance, interval time.Duration, counts func(context.Context, ...string) (map[string]int, error)) *watermarks {
	return &watermarks{
		out: out, allowance: allowance, heartbeat: 5 * interval, counts: counts,
		sent: make(map[arrival.Source]sentMark), newest: make(map[arrival.Source]time.Time),
	}
}

// processed notes the newest merge time of a batch of a raw partition.
func (w *watermarks) processed(topic string, partition int, msgs []kafka.Message, now time.Time) {
	var newest time.Time
	for i := range msgs {
		if t := mergeTime(msgs[i].Time, now); t.After(newest) {
			newest = t
		}
	}
	src := arrival.Source{Topic: topic, Partition: partition}
	w.mu.Lock()
	if newest.After(w.newest[src]) {
		w.newest[src] = newest
	}
	w.mu.Unlock()
}

// tick returns the watermark records for one raw partition, if any.
func (w *watermarks) tick(ctx context.Context, t stage.Tick) (stage.Result, error) {
	src := arrival.Source{Topic: t.Topic, Partition: t.Partition}
	w.mu.Lock()
	last, at := w.sent[src], w.newest[src]
	w.mu.Unlock()
	if t.CaughtUp.After(at) {
		at = t.CaughtUp
	}
	if at.IsZero() {
		return stage.Result{}, nil // nothing processed, never caught up: no promise to make
	}
	at = at.Add(-w.allowance)
	if !at.After(last.at) && t.Now.Sub(last.when) < w.heartbeat {
		return stage.Result{}, nil
	}
	if at.Before(last.at) {
		at = last.at // a watermark never goes back
	}
	counts, ok := w.partitionCounts(ctx, t.Now, t.Topic)
	if !ok {
		return stage.Result{}, nil // the broker is away: the next tick tries again
	}
	hdr := arrival.AppendWatermark(nil, arrival.Watermark{Source: src, Partitions: counts[t.Topic], At: at})
	res := stage.Result{Outputs: make([]kafka.Message, counts[w.out]), Sources: make([]int, counts[w.out])}
	for p := range res.Outputs {
		res.Outputs[p] = stream.AtPartition(kafka.Message{
			Topic: w.out, Headers: []kafka.Header{{Key: arrival.WatermarkHeader, Value: hdr}},
		}, p)
		res.Sources[p] = stage.NoSource
	}
	w.mu.Lock()
	w.sent[src] = sentMark{at: at, when: t.Now}
	w.mu.Unlock()
	return res, nil
}

// forget drops what was sent for a raw partition this copy no longer
// owns: its next owner speaks for it.
func (w *watermarks) forget(topic string, partition int) {
	w.mu.Lock()
	delete(w.sent, arrival.Source{Topic: topic, Partition: partition})
	delete(w.newest, arrival.Source{Topic: topic, Partition: partition})
	w.mu.Unlock()
}

// partitionCounts returns the partition counts of raw and of
// events.by-device, and false when they cannot be read (stale counts are
// used while the metadata cannot be read).
func (w *watermarks) partitionCounts(ctx context.Context, now time.Time, raw string) (map[string]int, bool) {
	w.mu.Lock()
	known, fresh := w.known, now.Sub(w.knownAt) < countsTTL
	w.mu.Unlock()
	if fresh && known[raw] > 0 && known[w.out] > 0 {
		return known, true
	}
	var topics []string
	for name := range known {
		if name != raw && name != w.out {
			topics = append(topics, name)
		}
	}
	counts, err := w.counts(ctx, append(topics, raw, w.out)...)
	if err != nil {
		return known, known[raw] > 0 && known[w.out] > 0
	}
	w.mu.Lock()
	w.known, w.knownAt = counts, now
	w.mu.Unlock()
	return counts, true
}

// watermarkingNormalize is normalize with the merge on: a Ticker that
// sends the watermarks, and a PartitionOwner that forgets those of the
// raw partitions it gives up.
type watermarkingNormalize struct {
	*normalizeLogic
	wm *watermarks
}

func (l *watermarkingNormalize) Process(ctx context.Context, in stage.Input) (stage.Result, error) {
	now := time.Now()
	res, err := l.process(ctx, in, now)
	if err == nil && in.Topic != l.requests {
		l.wm.processed(in.Topic, in.Partition, in.Messages, now)
	}
	return res, err
}

func (l *watermarkingNormalize) Tick(ctx context.Context, t stage.Tick) (stage.Result, error) {
	if t.Topic == l.requests {
		return stage.Result{}, nil // not merged as a source: its records wait for the raw partitions', and hold no one back
	}
	return l.wm.tick(ctx, t)
}

func (l *watermarkingNormalize) PartitionAssigned(topic string, partition int) {
	l.wm.forget(topic, partition)
}

func (l *watermarkingNormalize) PartitionRevoked(topic string, partition int) {
	l.wm.forget(topic, partition)
}
