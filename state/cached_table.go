package state

import "hash/maphash"

// clockTable is a fixed-capacity map from key to value (or to "absent")
// with CLOCK eviction: one reference bit per slot, a hand sweeping the
// slots. It costs a map lookup and a bit store per hit, where an LRU list
// would also move a node. Not safe for concurrent use; Cached locks it.
//
// The index is keyed by a 64-bit hash of the key, checked against the
// slot's key: a map of strings compares every probed key through a
// pointer, which made the lookup a tenth of the device stage's CPU with a
// partition's 100,000 devices. Keys whose hash another key already holds
// (about one pair in 10^10 for 100,000 keys) go to overflow, by value.
type clockTable struct {
	seed     maphash.Seed
	hashOf   func(key []byte) uint64 // nil: maphash; tests force collisions
	index    map[uint64]int32
	overflow map[string]int32
	slots    []clockSlot
	max      int
	hand     int
	bytes    int64 // keys plus value capacities, for Stats
	dirty    int   // slots with dirty set

	// spill, when set, is called before a dirty slot would be evicted; it
	// must write every dirty slot somewhere and clear their dirty bits.
	spill func() error
}

type clockSlot struct {
	key     string
	hash    uint64 // maphash of key
	val     []byte // owned by the table; nil for an absent key
	present bool   // false: a negative entry, the key is known absent
	ref     bool   // used since the hand last passed
	dirty   bool   // written here and not yet to the inner store
}

func newClockTable(max int) *clockTable {
	return &clockTable{seed: maphash.MakeSeed(), index: make(map[uint64]int32, min(max, 1<<16)), max: max}
}

// find returns the slot index of key and its hash; ok is false when key
// has no slot.
func (t *clockTable) find(key []byte) (i int32, h uint64, ok bool) {
	if t.hashOf != nil {
		h = t.hashOf(key)
	} else {
		h = maphash.Bytes(t.seed, key)
	}
	if i, ok = t.index[h]; ok && t.slots[i].key == string(key) {
		return i, h, true
	}
	if t.overflow != nil {
		i, ok = t.overflow[string(key)]
		return i, h, ok
	}
	return 0, h, false
}

// link makes slot i findable under its key.
func (t *clockTable) link(i int32) {
	s := &t.slots[i]
	if j, taken := t.index[s.hash]; taken && int(j) != int(i) {
		if t.overflow == nil {
			t.overflow = make(map[string]int32)
		}
		t.overflow[s.key] = i
		return
	}
	t.index[s.hash] = i
}

// unlink undoes link for slot i.
func (t *clockTable) unlink(i int32) {
	s := &t.slots[i]
	if j, ok := t.index[s.hash]; ok && j == i {
		delete(t.index, s.hash)
		return
	}
	delete(t.overflow, s.key)
}

// get returns the slot of key, marking it used, or nil.
func (t *clockTable) get(key []byte) *clockSlot {
	i, _, ok := t.find(key)
	if !ok {
		return nil
	}
	s := &t.slots[i]
	s.ref = true
	return s
}

// put stores a copy of val under key (present false: key is absent),
// evicting another key when full; it reports whether it evicted. dirty
// marks the entry as not yet written to the inner store.
func (t *clockTable) put(key []byte, val []byte, present, dirty bool) (evicted bool, err error) {
	i, h, ok := t.find(key)
	if ok {
		s := &t.slots[i]
		t.setValue(s, val, present)
		s.ref = true
		t.setDirty(s, dirty)
		return false, nil
	}
	if len(t.slots) < t.max {
		t.slots = append(t.slots, clockSlot{})
		i = int32(len(t.slots) - 1)
	} else {
		i = int32(t.victim())
		if t.slots[i].dirty {
			if err := t.spill(); err != nil {
				return false, err
			}
		}
		t.unlink(i)
		t.bytes -= int64(len(t.slots[i].key))
		evicted = true
	}
	s := &t.slots[i]
	s.key, s.hash = string(key), h
	t.bytes += int64(len(s.key))
	t.link(i)
	t.setValue(s, val, present)
	// A new entry has not been used again yet: a stream of one-off keys
	// then evicts itself before it evicts keys that were hit.
	s.ref = false
	s.dirty = false
	t.setDirty(s, dirty)
	return evicted, nil
}

func (t *clockTable) setDirty(s *clockSlot, dirty bool) {
	switch {
	case dirty && !s.dirty:
		t.dirty++
	case !dirty && s.dirty:
		t.dirty--
	}
	s.dirty = dirty
}

// victim advances the hand to a slot not used since its last pass,
// clearing reference bits on the way: at most two sweeps.
func (t *clockTable) victim() int {
	for {
		s := &t.slots[t.hand]
		i := t.hand
		t.hand++
		if t.hand == len(t.slots) {
			t.hand = 0
		}
		if !s.ref {
			return i
		}
		s.ref = false
	}
}

// setValue copies val into the slot, reusing its buffer when that wastes
// little: a device's state is rewritten at every event with about the same
// size, so updates mostly allocate nothing.
func (t *clockTable) setValue(s *clockSlot, val []byte, present bool) {
	t.bytes -= int64(cap(s.val))
	s.present = present
	switch {
	case !present:
		s.val = s.val[:0]
	case cap(s.val) >= len(val) && cap(s.val) <= 2*len(val)+64:
		s.val = append(s.val[:0], val...)
	default:
		s.val = append(make([]byte, 0, len(val)), val...)
	}
	if !present && cap(s.val) > 64 {
		s.val = nil // a negative entry should not pin a big buffer
	}
	t.bytes += int64(cap(s.val))
}

// remove drops key; it reports whether key was there.
func (t *clockTable) remove(key []byte) bool {
	i, _, ok := t.find(key)
	if !ok {
		return false
	}
	t.unlink(i)
	s := &t.slots[i]
	t.bytes -= int64(len(s.key) + cap(s.val))
	t.setDirty(s, false)
	// Move the last slot into the hole so that slots stays dense.
	last := len(t.slots) - 1
	if int(i) != last {
		t.unlink(int32(last))
		*s = t.slots[last]
		t.link(i)
	}
	t.slots[last] = clockSlot{}
	t.slots = t.slots[:last]
	if t.hand >= len(t.slots) {
		t.hand = 0
	}
	return true
}
