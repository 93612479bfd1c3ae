package state

import (
	"errors"
	"fmt"
	"sort"
)

// NewWriteBack returns a Cached whose Apply only updates the cache: dirty
// entries go to inner, in one Apply split as needed, when one of them
// would be evicted, and at Flush, Offset, Iterate, Load and Close. A
// working set that fits maxEntries then costs inner no writes at all,
// and memory stays bounded by maxEntries whatever the input.
//
// The price is Apply's crash atomicity: a spill too large for one inner
// transaction is split (offsets go in its last part), and a crash loses
// whatever was not spilled. Use it only for a store that is thrown away
// when its process fails, as replay's is; a stage's store, whose offset
// must move with its state, wants NewCached.
func NewWriteBack(inner Store, maxEntries int) *Cached {
	c := NewCached(inner, maxEntries)
	c.writeBack = true
	c.table.spill = c.spill
	return c
}

// applyBack is Apply in write-back mode.
func (c *Cached) applyBack(b *Batch) error {
	if err := checkKeys(b); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	for _, w := range b.Writes {
		if err := c.fill(w.Key, w.Value, w.Value != nil, true); err != nil {
			return err
		}
	}
	for name, off := range b.Offsets {
		if c.offsets == nil {
			c.offsets = make(map[string]int64)
		}
		c.offsets[name] = off
	}
	c.gen++
	return nil
}

// Flush writes the dirty entries and offsets to the inner store. It does
// nothing for a write-through Cached.
func (c *Cached) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.spill()
}

// spill writes every dirty entry and pending offset to inner, in key order
// (Badger inserts sorted keys into its memtable with fewer cache misses);
// c.mu is held.
func (c *Cached) spill() error {
	t := c.table
	if t.dirty == 0 && len(c.offsets) == 0 {
		return nil
	}
	dirty := make([]int32, 0, t.dirty)
	for i := range t.slots {
		if t.slots[i].dirty {
			dirty = append(dirty, int32(i))
		}
	}
	sort.Slice(dirty, func(a, b int) bool { return t.slots[dirty[a]].key < t.slots[dirty[b]].key })
	ws := make([]Write, len(dirty))
	for j, i := range dirty {
		s := &t.slots[i]
		ws[j].Key = []byte(s.key)
		if s.present {
			ws[j].Value = s.val
			if ws[j].Value == nil {
				ws[j].Value = []byte{}
			}
		}
	}
	// Chunks well under any Badger transaction limit: trying the whole
	// spill and halving on ErrBatchTooLarge redid most of the work.
	for start := 0; start < len(ws); {
		end, size := start, 0
		for end < len(ws) && (end == start || size < spillChunkBytes) {
			size += len(ws[end].Key) + len(ws[end].Value)
			end++
		}
		var offsets map[string]int64
		if end == len(ws) {
			offsets = c.offsets
		}
		if err := applySplit(c.inner, ws[start:end], offsets); err != nil {
			return fmt.Errorf("state: write-back spill: %w", err)
		}
		start = end
	}
	if len(ws) == 0 && len(c.offsets) > 0 {
		if err := c.inner.Apply(&Batch{Offsets: c.offsets}); err != nil {
			return fmt.Errorf("state: write-back spill: %w", err)
		}
	}
	for _, i := range dirty {
		t.setDirty(&t.slots[i], false)
	}
	clear(c.offsets)
	c.stats.Spills++
	c.stats.SpilledKeys += int64(len(ws))
	return nil
}

// spillChunkBytes bounds the keys and values of one inner Apply of a spill.
const spillChunkBytes = 512 << 10

// applySplit applies ws with offsets in one batch, or in halves when that
// is too large, the offsets going with the last half.
func applySplit(st Store, ws []Write, offsets map[string]int64) error {
	err := st.Apply(&Batch{Writes: ws, Offsets: offsets})
	if !errors.Is(err, ErrBatchTooLarge) || len(ws) < 2 {
		return err
	}
	if err := applySplit(st, ws[:len(ws)/2], nil); err != nil {
		return err
	}
	return applySplit(st, ws[len(ws)/2:], offsets)
}

// Discard closes the inner store without writing the dirty entries, for a
// store whose directory is deleted next: the spill would be wasted work.
func (c *Cached) Discard() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	c.table = newClockTable(1)
	c.mu.Unlock()
	return c.inner.Close()
}
