package state

import (
	"bytes"
	"errors"
)

// Store is the key-value state of one input partition of one stage
// (per (app, device), per (app, user) or per postback_id), together with the
// offsets that state reflects.
//
// Contract: one goroutine owns a partition's Store and is its only writer;
// Get may be called concurrently with other Gets. Apply is atomic: after a
// crash either every set, delete and offset of the batch is visible, or none
// is. That is what lets a stage store the input offset with the state it
// produced and resume from it.
type Store interface {
	// Get returns a copy of the value stored under key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Apply writes b atomically. A batch too large for one atomic write
	// fails with ErrBatchTooLarge and changes nothing; callers bound their
	// batches.
	Apply(b *Batch) error
	// Offset returns the offset stored under name by an earlier Apply, and
	// false when there is none.
	Offset(name string) (int64, bool, error)
	// Iterate calls fn for every key and value, in key order, until fn
	// returns an error. fn must not keep key or value after it returns.
	Iterate(fn func(key, value []byte) error) error
	// Close flushes and releases the store.
	Close() error
}

// Viewer is a Store that can lend a value instead of copying it.
type Viewer interface {
	// View calls fn with the value stored under key, or returns
	// ErrNotFound without calling it. fn must not keep the value or call
	// the store; its error is View's.
	View(key []byte, fn func(value []byte) error) error
}

// View calls fn with key's value, lent by st when it is a Viewer and
// copied with Get otherwise.
func View(st Store, key []byte, fn func(value []byte) error) error {
	if v, ok := st.(Viewer); ok {
		return v.View(key, fn)
	}
	val, err := st.Get(key)
	if err != nil {
		return err
	}
	return fn(val)
}

// Batch is a set of writes applied atomically by Store.Apply.
type Batch struct {
	Writes  []Write
	Offsets map[string]int64
}

// Write is one set (Value non-nil) or delete (Value nil) of a Batch.
type Write struct {
	Key   []byte
	Value []byte
}

// Set adds a set of key to value.
func (b *Batch) Set(key, value []byte) {
	if value == nil {
		value = []byte{}
	}
	b.Writes = append(b.Writes, Write{Key: key, Value: value})
}

// Delete adds a delete of key.
func (b *Batch) Delete(key []byte) { b.Writes = append(b.Writes, Write{Key: key}) }

// SetOffset records that the state reflects offset under name (for example
// the input partition's next offset to read).
func (b *Batch) SetOffset(name string, offset int64) {
	if b.Offsets == nil {
		b.Offsets = make(map[string]int64)
	}
	b.Offsets[name] = offset
}

// Len is the number of writes in b.
func (b *Batch) Len() int { return len(b.Writes) }

// Reset empties b for reuse.
func (b *Batch) Reset() {
	b.Writes = b.Writes[:0]
	for k := range b.Offsets {
		delete(b.Offsets, k)
	}
}

// Ranger is a Store that iterates from a key on, as a sweep over a large
// store does, a chunk at a time.
type Ranger interface {
	// IterateFrom is Iterate from the first key at or after start.
	IterateFrom(start []byte, fn func(key, value []byte) error) error
}

// ErrStopIteration, returned by an iteration's fn, ends it without an
// error.
var ErrStopIteration = errors.New("stop iteration")

// IterateFrom calls fn for every key of st at or after start, in key
// order, until fn returns an error; ErrStopIteration ends it with nil. A
// store that is not a Ranger is iterated whole, the keys before start
// skipped.
func IterateFrom(st Store, start []byte, fn func(key, value []byte) error) error {
	var err error
	if r, ok := st.(Ranger); ok {
		err = r.IterateFrom(start, fn)
	} else {
		err = st.Iterate(func(k, v []byte) error {
			if bytes.Compare(k, start) < 0 {
				return nil
			}
			return fn(k, v)
		})
	}
	if errors.Is(err, ErrStopIteration) {
		return nil
	}
	return err
}
