package arrival

import (
	"container/heap"
	"time"
)

// Source is one source partition.
type Source struct {
	Topic     string
	Partition int
}

// Key orders records: arrival time, then topic rank (clicks before
// events at equal times), then partition and offset (each topic's own
// order).
type Key struct {
	Arrival   time.Time
	Rank      int
	Partition int
	Offset    int64
}

// Less reports whether k orders before o.
func (k Key) Less(o Key) bool {
	switch {
	case !k.Arrival.Equal(o.Arrival):
		return k.Arrival.Before(o.Arrival)
	case k.Rank != o.Rank:
		return k.Rank < o.Rank
	case k.Partition != o.Partition:
		return k.Partition < o.Partition
	}
	return k.Offset < o.Offset
}

// Record is one record waiting for its turn: V is what the caller keeps
// with it (the decoded event, the Kafka message).
type Record[V any] struct {
	Source Source
	Key    Key
	Size   int // bytes it holds, for MaxBytes
	V      V

	added time.Time // wall clock, for MaxWait
}

// Config bounds a Merge.
type Config struct {
	// MaxWait is the longest a record waits, in wall-clock time, for a
	// source that neither sends nor advances its watermark (default 30s).
	MaxWait time.Duration
	// MaxRecords and MaxBytes bound what waits (defaults 100,000 records
	// and 64 MiB).
	MaxRecords int
	MaxBytes   int
}

func (c *Config) setDefaults() {
	if c.MaxWait <= 0 {
		c.MaxWait = 30 * time.Second
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = 100_000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 64 << 20
	}
}

// Released says why a record left the Merge.
type Released int

const (
	// InOrder: no source could still send a smaller record.
	InOrder Released = iota
	// Forced: it waited MaxWait, or the Merge was full.
	Forced
	// Late: its key is below one already released.
	Late
)

// Merge is the arrival-time merge of one stage partition. It is not safe
// for concurrent use: the stage's batches and ticks of a partition hold
// its lock.
type Merge[V any] struct {
	cfg      Config
	expected map[string]int // topic -> partitions
	sources  map[Source]*source[V]
	heads    headHeap[V] // the sources with records, by their first record's key
	records  int
	bytes    int
	last     Key // the last record released
	released bool
}

type source[V any] struct {
	id        Source
	queue     []Record[V]
	watermark time.Time
	index     int // in heads, or -1
}

// New returns an empty Merge.
func New[V any](cfg Config) *Merge[V] {
	cfg.setDefaults()
	return &Merge[V]{cfg: cfg, expected: make(map[string]int), sources: make(map[Source]*source[V])}
}

// Expect declares that topic has partitions partitions, each a source
// that must be heard from (a record or a watermark) before anything later
// than what it sent is released in order. A topic's count only grows.
// Zero declares a topic whose count is not known yet: nothing is released
// in order until it is.
func (m *Merge[V]) Expect(topic string, partitions int) {
	if n, ok := m.expected[topic]; !ok || partitions > n {
		m.expected[topic] = partitions
	}
}

// Heads calls fn with the first waiting record of each source that has
// one: a source's records wait in the order they were added, so these
// hold the earliest position of each.
func (m *Merge[V]) Heads(fn func(*Record[V])) {
	for _, s := range m.heads {
		fn(&s.queue[0])
	}
}

func (m *Merge[V]) source(id Source) *source[V] {
	s := m.sources[id]
	if s == nil {
		s = &source[V]{id: id, index: -1}
		m.sources[id] = s
	}
	return s
}

// Add puts r in its source's queue, noting now (wall clock) for MaxWait,
// and reports whether it did: a record at or below the offset of one its
// source already has waiting is a repeat (the upstream stage wrote it
// again after a crash, while the first copy waits), and is dropped. A
// record whose key is below the last one released is late: the next
// Release lets it go as soon as its source's earlier records have gone.
func (m *Merge[V]) Add(r Record[V], now time.Time) bool {
	s := m.source(r.Source)
	if n := len(s.queue); n > 0 && r.Key.Offset <= s.queue[n-1].Key.Offset {
		return false
	}
	r.added = now
	s.queue = append(s.queue, r)
	m.records++
	m.bytes += r.Size
	if len(s.queue) == 1 {
		heap.Push(&m.heads, s)
	}
	return true
}

// Watermark records that src will send nothing that arrived before t.
// Watermarks only move forward.
func (m *Merge[V]) Watermark(src Source, t time.Time) {
	if s := m.source(src); t.After(s.watermark) {
		s.watermark = t
	}
}

// Len is how many records wait, and Bytes their size.
func (m *Merge[V]) Len() int   { return m.records }
func (m *Merge[V]) Bytes() int { return m.bytes }

// Low is the arrival time before which every expected source has
// promised nothing more (the merge's watermark), and whether every one
// has been heard from.
func (m *Merge[V]) Low() (time.Time, bool) {
	var low time.Time
	first := true
	for topic, n := range m.expected {
		if n == 0 {
			return time.Time{}, false
		}
		for p := range n {
			s := m.sources[Source{topic, p}]
			if s == nil {
				return time.Time{}, false
			}
			t := s.watermark
			if len(s.queue) > 0 && s.queue[0].Key.Arrival.After(t) {
				t = s.queue[0].Key.Arrival
			}
			if first || t.Before(low) {
				low, first = t, false
			}
		}
	}
	return low, !first
}

// Release appends to out, in order, every record it may release at now
// and why each went, and returns them.
func (m *Merge[V]) Release(now time.Time, out []Record[V], why []Released) ([]Record[V], []Released) {
	out, why, _ = m.ReleaseAtMost(now, 0, out, why)
	return out, why
}

// ReleaseAtMost is Release of at most n records (n <= 0: no limit); more
// says it stopped at n with records it could still release.
func (m *Merge[V]) ReleaseAtMost(now time.Time, n int, out []Record[V], why []Released) (_ []Record[V], _ []Released, more bool) {
	start := len(out)
	for len(m.heads) > 0 {
		if n > 0 && len(out)-start >= n {
			return out, why, m.releasable(now)
		}
		s := m.heads[0]
		r := s.queue[0]
		reason := InOrder
		if m.released && r.Key.Less(m.last) {
			// Late: it cannot go in order any more, so it goes now (its
			// source's earlier records have gone: it heads its queue).
			m.pop(s)
			out, why = append(out, r), append(why, Late)
			continue
		}
		if !m.safe(s, r.Key) {
			if now.Sub(m.oldest()) < m.cfg.MaxWait && m.records <= m.cfg.MaxRecords && m.bytes <= m.cfg.MaxBytes {
				break
			}
			reason = Forced
		}
		m.pop(s)
		m.last, m.released = r.Key, true
		out, why = append(out, r), append(why, reason)
	}
	return out, why, false
}

// releasable reports whether Release would release a record at now.
func (m *Merge[V]) releasable(now time.Time) bool {
	if len(m.heads) == 0 {
		return false
	}
	s := m.heads[0]
	k := s.queue[0].Key
	return (m.released && k.Less(m.last)) || m.safe(s, k) ||
		now.Sub(m.oldest()) >= m.cfg.MaxWait || m.records > m.cfg.MaxRecords || m.bytes > m.cfg.MaxBytes
}

// safe reports whether no expected source other than head can still
// send a record with a key below k: each has a waiting record (every
// waiting head is at least k, since k is the smallest) or a watermark
// past k's arrival. A source of a topic no Expect named does not hold
// the merge back.
func (m *Merge[V]) safe(head *source[V], k Key) bool {
	for topic, n := range m.expected {
		if n == 0 {
			return false
		}
		for p := range n {
			s := m.sources[Source{topic, p}]
			switch {
			case s == head:
			case s == nil:
				return false
			case len(s.queue) > 0:
			case !s.watermark.After(k.Arrival):
				return false
			}
		}
	}
	return true
}

// oldest is the wall-clock time the longest-waiting record was added.
func (m *Merge[V]) oldest() time.Time {
	var t time.Time
	for _, s := range m.heads {
		if a := s.queue[0].added; t.IsZero() || a.Before(t) {
			t = a
		}
	}
	return t
}

func (m *Merge[V]) pop(s *source[V]) {
	r := s.queue[0]
	s.queue[0] = Record[V]{}
	s.queue = s.queue[1:]
	m.records--
	m.bytes -= r.Size
	if len(s.queue) == 0 {
		heap.Remove(&m.heads, s.index)
		s.queue = nil
		return
	}
	heap.Fix(&m.heads, s.index)
}

// headHeap orders sources by their first waiting record.
type headHeap[V any] []*source[V]

func (h headHeap[V]) Len() int           { return len(h) }
func (h headHeap[V]) Less(i, j int) bool { return h[i].queue[0].Key.Less(h[j].queue[0].Key) }
func (h headHeap[V]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *headHeap[V]) Push(x any) {
	s := x.(*source[V])
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *headHeap[V]) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	s.index = -1
	*h = old[:len(old)-1]
	return s
}
