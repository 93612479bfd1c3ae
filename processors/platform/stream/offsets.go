package stream

import "sync"

// offsetMarks collects the next offsets of finished batches of one
// generation, for the committer to send in one request per interval.
type offsetMarks struct {
	mu    sync.Mutex
	dirty map[string]map[int]int64
}

func newOffsetMarks() *offsetMarks {
	return &offsetMarks{dirty: make(map[string]map[int]int64)}
}

func (m *offsetMarks) mark(topic string, partition int, next int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.dirty[topic]
	if ps == nil {
		ps = make(map[int]int64)
		m.dirty[topic] = ps
	}
	ps[partition] = next
}

// take returns the marks since the last take, or nil when there are none.
func (m *offsetMarks) take() map[string]map[int]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.dirty) == 0 {
		return nil
	}
	out := m.dirty
	m.dirty = make(map[string]map[int]int64)
	return out
}

// restore puts back marks a failed commit did not store, unless a newer
// mark for the same partition arrived meanwhile.
func (m *offsetMarks) restore(offsets map[string]map[int]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for topic, ps := range offsets {
		cur := m.dirty[topic]
		if cur == nil {
			cur = make(map[int]int64)
			m.dirty[topic] = cur
		}
		for p, off := range ps {
			if _, newer := cur[p]; !newer {
				cur[p] = off
			}
		}
	}
}
