package sinkstage

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/state"
)

// keyFilter is a partner's store as the changelog catch-up sees it: the
// changelog holds every partner's dedup markers, and only keys under
// prefix (that partner's) are kept. Dropping the others is a byte
// comparison per record and keeps each store as small as its partner's
// traffic; keeping them would be harmless but would multiply every
// store's size by the number of partners.
type keyFilter struct {
	state.Store
	prefix []byte
}

var _ state.BulkLoader = (*keyFilter)(nil)

func (f *keyFilter) keep(ws []state.Write) []state.Write {
	out := ws[:0:0]
	for _, w := range ws {
		if bytes.HasPrefix(w.Key, f.prefix) {
			out = append(out, w)
		}
	}
	return out
}

func (f *keyFilter) Apply(b *state.Batch) error {
	fb := state.Batch{Writes: f.keep(b.Writes), Offsets: b.Offsets}
	return f.Store.Apply(&fb)
}

// Load keeps the underlying store's bulk path (CatchUp uses it when the
// store has one).
func (f *keyFilter) Load(ws []state.Write) error {
	ws = f.keep(ws)
	if l, ok := f.Store.(state.BulkLoader); ok {
		return l.Load(ws)
	}
	return f.Store.Apply(&state.Batch{Writes: ws})
}

// progress counts the sink stage's records read (RecordsIn{stage="sink"})
// once per record, although every partner's group reads every record: a
// record counts when each group of this process that owns its partition
// has processed it (the least of their counts). The metric keeps its
// meaning, records of the classified and retry topics the stage has fully
// read, which dev mode compares with what was produced to tell the sink
// has caught up.
type progress struct {
	metrics *stage.Metrics
	mu      sync.Mutex
	parts   map[string]*partProgress // topic/partition
}

type partProgress struct {
	counted int64                // added to the metric so far
	groups  map[*handler]*counts // per partner's handler
}

type counts struct {
	n      int64 // records processed since the process started
	active bool  // the handler owns the partition now
}

func newProgress(m *stage.Metrics) *progress {
	return &progress{metrics: m, parts: make(map[string]*partProgress)}
}

func (pr *progress) part(h *handler, topic string, p int) *counts {
	k := topic + "/" + strconv.Itoa(p)
	pp := pr.parts[k]
	if pp == nil {
		pp = &partProgress{groups: make(map[*handler]*counts)}
		pr.parts[k] = pp
	}
	c := pp.groups[h]
	if c == nil {
		c = &counts{}
		pp.groups[h] = c
	}
	return c
}

func (pr *progress) assigned(h *handler, topic string, p int) {
	pr.mu.Lock()
	pr.part(h, topic, p).active = true
	pr.mu.Unlock()
}

// revoked leaves the partition's count to the groups that still own it: a
// group whose partition went to another process must not hold it back.
func (pr *progress) revoked(h *handler, topic string, p int) {
	pr.mu.Lock()
	pr.part(h, topic, p).active = false
	pr.mu.Unlock()
}

func (pr *progress) processed(h *handler, topic string, p, n int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.part(h, topic, p).n += int64(n)
	pp := pr.parts[topic+"/"+strconv.Itoa(p)]
	least := int64(-1)
	for _, c := range pp.groups {
		if c.active && (least < 0 || c.n < least) {
			least = c.n
		}
	}
	if least > pp.counted {
		pr.metrics.RecordsIn.WithLabelValues(StageName).Add(float64(least - pp.counted))
		pp.counted = least
	}
}
