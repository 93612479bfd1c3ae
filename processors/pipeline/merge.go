package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/arrival"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/state"
)

// mergingDevice is the device stage with the arrival-time merge on
// (docs/ARCHITECTURE.md, "Arrival order"): per partition of
// events.by-device, an arrival.Merge of the raw partitions' records,
// told by normalize's watermark records how far each raw partition got.
// A batch adds its records and watermarks, and classifies what the merge
// releases; a tick releases what waited merge.max_wait.
//
// Crash safety: nothing held is in state. A Result stores as the input
// offset the lowest offset of a record still held (Holding), and the
// source marks move only past the records classified (MarksOnRelease),
// so a new owner reads the held records again, and drops as repeats what
// was classified after them.
type mergingDevice struct {
	*deviceLogic
	cfg   arrival.Config
	ranks map[string]int // raw topic -> rank: clicks before events at equal times
	// requests is privacy.requests: its records (erasures, through
	// normalize) are merged by arrival after the raw records of the same
	// time, but the topic is not a source the merge waits for.
	requests string
	metrics  *stage.Metrics

	mu    sync.Mutex
	parts map[int]*mergePart
}

// mergePart is one partition's merge; batches and ticks of the partition
// hold its store's lock, so only the map needs mu.
type mergePart struct {
	m      *arrival.Merge[kafka.Message]
	readTo int64 // the offset after the last record read; -1 before the first
	label  string
	// scratch for Release
	out []arrival.Record[kafka.Message]
	why []arrival.Released
}

func newMergingDevice(l *deviceLogic, cfg *config.Config, m *stage.Metrics) *mergingDevice {
	mc := cfg.Merge
	return &mergingDevice{
		deviceLogic: l,
		cfg:         arrival.Config{MaxWait: mc.MaxWait.D(), MaxRecords: mc.MaxRecords, MaxBytes: mc.MaxBytes},
		ranks:       map[string]int{cfg.Topics.RawClicks: 0, cfg.Topics.RawEvents: 1},
		requests:    cfg.Topics.PrivacyRequests,
		metrics:     m,
		parts:       make(map[int]*mergePart),
	}
}

func (d *mergingDevice) part(p int) *mergePart {
	d.mu.Lock()
	defer d.mu.Unlock()
	mp := d.parts[p]
	if mp == nil {
		mp = &mergePart{m: arrival.New[kafka.Message](d.cfg), readTo: -1, label: strconv.Itoa(p)}
		for topic := range d.ranks {
			mp.m.Expect(topic, 0) // counts come with the watermarks
		}
		d.parts[p] = mp
	}
	return mp
}

// PartitionAssigned starts the partition's merge empty: whatever an
// earlier assignment held is read again from the stored offset.
func (d *mergingDevice) PartitionAssigned(_ string, p int) {
	d.mu.Lock()
	delete(d.parts, p)
	d.mu.Unlock()
	if d.sweep != nil {
		d.sweep.forget(p)
	}
}

func (d *mergingDevice) PartitionRevoked(_ string, p int) {
	d.mu.Lock()
	delete(d.parts, p)
	d.mu.Unlock()
	if d.sweep != nil {
		d.sweep.forget(p)
	}
	l := strconv.Itoa(p)
	d.metrics.MergeRecords.DeleteLabelValues(Device, l)
	d.metrics.MergeBytes.DeleteLabelValues(Device, l)
	d.metrics.MergeWatermark.DeleteLabelValues(Device, l)
}

// maxRawPartitions bounds the partition count a watermark may declare:
// far above any raw topic's, far below what would make the merge wait
// for absurd numbers of sources.
const maxRawPartitions = 10_000

func (d *mergingDevice) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	mp := d.part(in.Partition)
	now := time.Now()
	var refused, direct []kafka.Message
	var reasons []string
	control := 0
	for i := range in.Messages {
		m := in.Messages[i]
		if v, ok := stage.Header(&m, arrival.WatermarkHeader); ok {
			w, err := arrival.ParseWatermark(v)
			if err == nil && w.Partitions > maxRawPartitions {
				err = fmt.Errorf("watermark of %d partitions, more than %d", w.Partitions, maxRawPartitions)
			}
			if err != nil {
				refused, reasons = append(refused, m), append(reasons, fmt.Errorf("%w: %w", ErrCorrupt, err).Error())
				continue
			}
			control++
			if _, merged := d.ranks[w.Source.Topic]; !merged {
				continue // a topic this stage does not merge (a normalize of another config)
			}
			mp.m.Expect(w.Source.Topic, w.Partitions)
			mp.m.Watermark(w.Source, w.At)
			continue
		}
		src, ok := d.rawSource(&m)
		if !ok {
			direct = append(direct, m) // not from normalize: classified as it comes
			continue
		}
		rank := d.ranks[src.Topic]
		if src.Topic == d.requests {
			rank = len(d.ranks)
		}
		mp.m.Add(arrival.Record[kafka.Message]{
			Source: arrival.Source{Topic: src.Topic, Partition: src.Partition},
			Key:    arrival.Key{Arrival: m.Time, Rank: rank, Partition: src.Partition, Offset: src.Offset},
			Size:   heldSize(&m),
			V:      m,
		}, now)
	}
	mp.readTo = in.NextOffset
	res, err := d.release(in.Store, mp, now, refused, reasons, direct)
	res.Control = control
	return res, err
}

func (d *mergingDevice) Tick(ctx context.Context, t stage.Tick) (stage.Result, error) {
	mp := d.part(t.Partition)
	res, err := d.release(t.Store, mp, t.Now, nil, nil, nil)
	if err != nil || d.sweep == nil || res.More {
		return res, err
	}
	// The sweep's deletes go with what the release classified; the keys
	// it wrote are live, not idle.
	skip := make(map[string]bool, len(res.Writes))
	for _, w := range res.Writes {
		skip[string(w.Key)] = true
	}
	swept, err := d.sweep.tick(ctx, t, skip)
	if err != nil {
		return res, err
	}
	res.Writes = append(res.Writes, swept.Writes...)
	return res, nil
}

// release sends refused to the deadletter with their reasons, classifies
// direct and then what the merge lets go at now, and says which offset to
// resume from.
func (d *mergingDevice) release(store state.Store, mp *mergePart, now time.Time, refused []kafka.Message, reasons []string, direct []kafka.Message) (stage.Result, error) {
	// At most a store transaction's worth at a time: the Processor asks
	// again at once (More) for the rest.
	var more bool
	mp.out, mp.why, more = mp.m.ReleaseAtMost(now, stage.MaxTxnRecords, mp.out[:0], mp.why[:0])
	inputs := make([]kafka.Message, 0, len(refused)+len(direct)+len(mp.out))
	inputs = append(append(inputs, refused...), direct...)
	var counts [3]int
	for i := range mp.out {
		inputs = append(inputs, mp.out[i].V)
		counts[mp.why[i]]++
		mp.out[i] = arrival.Record[kafka.Message]{}
	}
	if cap(mp.out) > 8192 { // a burst's scratch space is not kept
		mp.out, mp.why = nil, nil
	}
	d.observe(mp, counts)
	res := stage.Result{Inputs: inputs, More: more}
	for i, reason := range reasons {
		dl, err := d.DeadLetter(inputs[i], reason)
		if err != nil {
			return res, err
		}
		res.Outputs, res.Sources = append(res.Outputs, dl), append(res.Sources, i)
		if res.Rejected == nil {
			res.Rejected = make(map[string]int)
		}
		res.Rejected["record"]++
	}
	if err := d.classify(&res, store, inputs[len(refused):], len(refused)); err != nil {
		return res, err
	}
	// Resume from the first record still held, else after the last read.
	from := mp.readTo
	mp.m.Heads(func(r *arrival.Record[kafka.Message]) {
		if r.V.Offset < from || from < 0 {
			from = r.V.Offset
		}
	})
	if from >= 0 {
		res.Holding, res.HoldFrom = true, from
	}
	return res, nil
}

func (d *mergingDevice) observe(mp *mergePart, counts [3]int) {
	m := d.metrics
	m.MergeRecords.WithLabelValues(Device, mp.label).Set(float64(mp.m.Len()))
	m.MergeBytes.WithLabelValues(Device, mp.label).Set(float64(mp.m.Bytes()))
	if low, ok := mp.m.Low(); ok {
		m.MergeWatermark.WithLabelValues(Device, mp.label).Set(float64(low.UnixMilli()) / 1000)
	}
	for reason, n := range counts {
		if n == 0 {
			continue
		}
		m.MergeReleased.WithLabelValues(Device, releasedLabel[reason]).Add(float64(n))
		if arrival.Released(reason) == arrival.Late {
			m.LateRecords.WithLabelValues(Device).Add(float64(n))
		}
	}
}

var releasedLabel = [3]string{arrival.InOrder: "in_order", arrival.Forced: "forced", arrival.Late: "late"}

// rawSource is the raw position a record of events.by-device came from,
// when it came from one of the raw topics (or privacy.requests) through
// normalize.
func (d *mergingDevice) rawSource(m *kafka.Message) (stage.Source, bool) {
	v, ok := stage.SourceOf(m)
	if !ok {
		return stage.Source{}, false
	}
	src, err := stage.ParseSource(v)
	if err != nil {
		return stage.Source{}, false
	}
	_, raw := d.ranks[src.Topic]
	return src, raw || src.Topic == d.requests
}

// heldSize is what a held record costs the merge's byte bound: its
// bytes and the bookkeeping around them.
func heldSize(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 256
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 32
	}
	return n
}
