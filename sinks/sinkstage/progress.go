package sinkstage

import (
	"strconv"
	"sync"

	"github.com/postbackd/postbackd/processors/platform/stage"
)

// progress counts the sink stage's records read (RecordsIn{stage="sink"})
// once per record, although every partner's group reads every retry
// tier's record: a record counts when each group of this process that
// owns its partition has processed it (the least of their counts). The
// metric keeps its meaning, records of the classified and retry topics the
// stage has fully read; a partner's jobs are a hand-off inside the stage,
// not counted.
type progress struct {
	metrics *stage.Metrics
	mu      sync.Mutex
	parts   map[string]*partProgress // topic/partition
}

type partProgress struct {
	counted int64           // added to the metric so far
	groups  map[any]*counts // per group: the fan-out, or a partner's handler
}

type counts struct {
	n      int64 // records processed since the process started
	active bool  // the handler owns the partition now
}

func newProgress(m *stage.Metrics) *progress {
	return &progress{metrics: m, parts: make(map[string]*partProgress)}
}

func (pr *progress) part(h any, topic string, p int) *counts {
	k := topic + "/" + strconv.Itoa(p)
	pp := pr.parts[k]
	if pp == nil {
		pp = &partProgress{groups: make(map[any]*counts)}
		pr.parts[k] = pp
	}
	c := pp.groups[h]
	if c == nil {
		c = &counts{}
		pp.groups[h] = c
	}
	return c
}

func (pr *progress) assigned(h any, topic string, p int) {
	pr.mu.Lock()
	pr.part(h, topic, p).active = true
	pr.mu.Unlock()
}

// revoked leaves the partition's count to the groups that still own it: a
// group whose partition went to another process must not hold it back.
func (pr *progress) revoked(h any, topic string, p int) {
	pr.mu.Lock()
	pr.part(h, topic, p).active = false
	pr.mu.Unlock()
}

func (pr *progress) processed(h any, topic string, p, n int) {
	if hd, ok := h.(*handler); ok && topic == hd.jobsTopic {
		return
	}
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
