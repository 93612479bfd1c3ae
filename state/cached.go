package state

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// Cached is a Store that serves Get from a bounded in-memory cache in front
// of another Store. Half the classifier's time on Badger went to Get, most
// of it for keys that did not exist yet or had just been written (memtable
// skiplist walks and level lookups); the cache answers both from a map.
//
// It remembers misses too (negative entries). While it holds every key of
// the inner store — the inner store had no state when the cache was made
// and nothing has been evicted or bulk-loaded since — a key it does not
// hold is known absent and Get does not ask the inner store at all: a fresh
// replay or a new partition never reads Badger until the cache overflows.
//
// Apply writes through: the inner Apply is atomic and the cache changes
// only after it succeeded, so atomicity and crash behaviour are the inner
// store's. Offset and Iterate go to the inner store. The contract is the
// Store's: one writer; Gets may run concurrently with each other (and are
// safe against a concurrent Apply too: a Get that read the inner store
// before an Apply does not cache what it read).
type Cached struct {
	inner Store

	mu       sync.Mutex
	table    *clockTable
	complete bool   // table holds every state key of inner
	gen      uint64 // bumped by every change, so a racing Get's fill is dropped
	closed   bool
	stats    CachedStats

	writeBack bool             // see NewWriteBack
	offsets   map[string]int64 // write-back: offsets not yet in inner
}

// CachedStats counts what a Cached did.
type CachedStats struct {
	Hits         int64 // Gets answered by an entry, negative ones included
	NegativeHits int64 // of Hits, those answered "not found"
	Complete     int64 // Gets answered "not found" because the cache is complete
	Misses       int64 // Gets that read the inner store
	Evictions    int64
	Spills       int64 // write-back: times the dirty entries went to inner
	SpilledKeys  int64 // write-back: writes those spills made
	Entries      int   // current entries
	Bytes        int64 // current keys plus value buffers, without overheads
}

var (
	_ Store      = (*Cached)(nil)
	_ BulkLoader = (*Cached)(nil)
)

// NewCached returns a Store caching up to maxEntries keys (values and
// misses) of inner, which it owns from now on: write to inner only through
// it, and Close closes inner. It asks inner whether it holds any state at
// all, to know whether the cache starts complete.
func NewCached(inner Store, maxEntries int) *Cached {
	if maxEntries < 1 {
		maxEntries = 1
	}
	empty := true
	stop := errors.New("not empty")
	if err := inner.Iterate(func(k, v []byte) error { empty = false; return stop }); err != nil && !errors.Is(err, stop) {
		empty = false // cannot tell: do not trust misses
	}
	return &Cached{inner: inner, table: newClockTable(maxEntries), complete: empty}
}

// Get returns a copy of the value of key from the cache, or reads it from
// the inner store and caches the answer, found or not.
func (c *Cached) Get(key []byte) ([]byte, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if s := c.table.get(key); s != nil {
		c.stats.Hits++
		if !s.present {
			c.stats.NegativeHits++
			c.mu.Unlock()
			return nil, ErrNotFound
		}
		v := make([]byte, len(s.val))
		copy(v, s.val)
		c.mu.Unlock()
		return v, nil
	}
	if c.complete {
		c.stats.Complete++
		c.mu.Unlock()
		return nil, ErrNotFound
	}
	c.stats.Misses++
	gen := c.gen
	c.mu.Unlock()

	// Read outside the lock, so that concurrent Gets overlap their reads.
	v, err := c.inner.Get(key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	c.mu.Lock()
	if !c.closed && c.gen == gen {
		if ferr := c.fill(key, v, err == nil, false); ferr != nil {
			c.mu.Unlock()
			return nil, ferr
		}
	}
	c.mu.Unlock()
	return v, err
}

// View is Get without the copy when the cache holds key: fn reads the
// cached value under the cache's lock, so it must be short and must not
// call the cache. A miss reads the inner store as Get does.
func (c *Cached) View(key []byte, fn func(value []byte) error) error {
	c.mu.Lock()
	if s := c.table.get(key); s != nil && !c.closed {
		c.stats.Hits++
		if !s.present {
			c.stats.NegativeHits++
			c.mu.Unlock()
			return ErrNotFound
		}
		defer c.mu.Unlock()
		return fn(s.val)
	}
	c.mu.Unlock()
	v, err := c.Get(key)
	if err != nil {
		return err
	}
	return fn(v)
}

var _ Viewer = (*Cached)(nil)

// fill caches a value (dirty: not yet in inner); c.mu is held. It fails
// only in write-back mode, when spilling dirty entries to inner fails.
func (c *Cached) fill(key, val []byte, present, dirty bool) error {
	evicted, err := c.table.put(key, val, present, dirty)
	if evicted {
		c.stats.Evictions++
		c.complete = false
	}
	return err
}

// Apply writes b to the inner store, then its sets and deletes to the
// cache. A batch the inner store rejected as a whole leaves the cache as it
// was; after any other error the inner state of b's keys is unknown, so
// they are dropped from the cache.
func (c *Cached) Apply(b *Batch) error {
	if c.writeBack {
		return c.applyBack(b)
	}
	err := c.inner.Apply(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		if err == nil {
			err = ErrClosed
		}
		return err
	}
	switch {
	case err == nil:
		for _, w := range b.Writes {
			c.fill(w.Key, w.Value, w.Value != nil, false) // cannot fail: nothing dirty
		}
	case errors.Is(err, ErrBatchTooLarge), errors.Is(err, ErrReservedKey), errors.Is(err, ErrClosed):
		return err
	default:
		c.forget(b.Writes)
	}
	c.gen++
	return err
}

// forget drops the keys of ws from the cache; c.mu is held. The inner
// store now has keys the cache does not, so it is no longer complete.
func (c *Cached) forget(ws []Write) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		c.table.remove(w.Key)
	}
	c.complete = false
}

// Load writes ws through the inner store's BulkLoader, or through Apply in
// halves when it has none (Load promises no atomicity), and drops their
// keys from the cache: a restore writes many keys once, which would only
// evict the ones in use.
func (c *Cached) Load(ws []Write) error {
	if err := c.Flush(); err != nil {
		return err
	}
	var err error
	if bl, ok := c.inner.(BulkLoader); ok {
		err = bl.Load(ws)
	} else {
		err = applyHalves(c.inner, ws)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.forget(ws)
		c.gen++
	}
	return err
}

func applyHalves(st Store, ws []Write) error {
	if len(ws) == 0 {
		return nil
	}
	err := st.Apply(&Batch{Writes: ws})
	if errors.Is(err, ErrBatchTooLarge) && len(ws) > 1 {
		if err := applyHalves(st, ws[:len(ws)/2]); err != nil {
			return err
		}
		return applyHalves(st, ws[len(ws)/2:])
	}
	if err != nil {
		return fmt.Errorf("state: load: %w", err)
	}
	return nil
}

// Offset returns the inner store's offset: offsets are read once per
// partition assignment, not worth caching.
func (c *Cached) Offset(name string) (int64, bool, error) {
	if err := c.Flush(); err != nil {
		return 0, false, err
	}
	return c.inner.Offset(name)
}

// Iterate walks the inner store, which holds every write Apply accepted.
func (c *Cached) Iterate(fn func(key, value []byte) error) error {
	if err := c.Flush(); err != nil {
		return err
	}
	return c.inner.Iterate(fn)
}

// IterateFrom is Iterate from start on (Ranger), over the inner store.
func (c *Cached) IterateFrom(start []byte, fn func(key, value []byte) error) error {
	if err := c.Flush(); err != nil {
		return err
	}
	if r, ok := c.inner.(Ranger); ok {
		return r.IterateFrom(start, fn)
	}
	return c.inner.Iterate(func(k, v []byte) error {
		if bytes.Compare(k, start) < 0 {
			return nil
		}
		return fn(k, v)
	})
}

// Stats returns the counters so far.
func (c *Cached) Stats() CachedStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = len(c.table.slots)
	s.Bytes = c.table.bytes
	return s
}

// Close drops the cache and closes the inner store.
func (c *Cached) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	ferr := c.spill()
	c.closed = true
	c.table = newClockTable(1)
	c.mu.Unlock()
	if err := c.inner.Close(); err != nil {
		return err
	}
	return ferr
}
