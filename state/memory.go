package state

import (
	"bytes"
	"sort"
	"sync"
)

// Memory is a Store held in a map, for tests and for replays small enough
// to fit in memory. Values are copied in and out so that a caller reusing
// its buffers cannot change what the store holds.
type Memory struct {
	mu      sync.RWMutex
	values  map[string][]byte
	offsets map[string]int64
	closed  bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory {
	return &Memory{values: make(map[string][]byte), offsets: make(map[string]int64)}
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (m *Memory) Get(key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	v, ok := m.values[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Apply writes b; holding the lock for the whole batch is what makes it
// atomic for readers.
func (m *Memory) Apply(b *Batch) error {
	if err := checkKeys(b); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, w := range b.Writes {
		if w.Value == nil {
			delete(m.values, string(w.Key))
			continue
		}
		m.values[string(w.Key)] = bytes.Clone(w.Value)
	}
	for name, off := range b.Offsets {
		m.offsets[name] = off
	}
	return nil
}

// Offset returns the offset stored under name, and false when there is none.
func (m *Memory) Offset(name string) (int64, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, false, ErrClosed
	}
	off, ok := m.offsets[name]
	return off, ok, nil
}

// Iterate calls fn for every key and value in key order, on a snapshot taken
// under the lock, so fn may itself call Get.
func (m *Memory) Iterate(fn func(key, value []byte) error) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	keys := make([]string, 0, len(m.values))
	for k := range m.values {
		keys = append(keys, k)
	}
	vals := make(map[string][]byte, len(m.values))
	for k, v := range m.values {
		vals[k] = v
	}
	m.mu.RUnlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn([]byte(k), bytes.Clone(vals[k])); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the map; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	m.values, m.offsets = nil, nil
	return nil
}
