package state

import (
	"maps"
	"os"
	"sync"
)

// Lazy is a Store that opens its real store only when a write first needs
// it, for stores that many stay empty: the sink has one per partner and
// partition, and a partner that gets no postbacks on a partition (most of
// them, in attributed mode) would otherwise pay a Badger store's files,
// memory and background work for nothing. Until then it reads as empty
// and keeps the offsets it is given in memory: they only say how far an
// empty store has read, which a crash can lose (the inputs are read again
// and, writing nothing, change nothing). A directory that already holds
// files is opened at once.
type Lazy struct {
	mu      sync.Mutex
	open    func() (Store, error)
	st      Store
	offsets map[string]int64
	closed  bool
}

// NewLazy returns a Lazy over the store open opens in dir.
func NewLazy(dir string, open func() (Store, error)) (*Lazy, error) {
	l := &Lazy{open: open, offsets: map[string]int64{}}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := l.store(true); err != nil {
			return nil, err
		}
	}
	return l, nil
}

var (
	_ Store      = (*Lazy)(nil)
	_ Viewer     = (*Lazy)(nil)
	_ BulkLoader = (*Lazy)(nil)
)

// store returns the real store, opening it when create is set; nil (and no
// error) when it is not open and create is not set.
func (l *Lazy) store(create bool) (Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.st != nil || !create {
		return l.st, nil
	}
	st, err := l.open()
	if err != nil {
		return nil, err
	}
	if len(l.offsets) > 0 {
		b := Batch{Offsets: l.offsets}
		if err := st.Apply(&b); err != nil {
			st.Close()
			return nil, err
		}
	}
	l.st, l.offsets = st, nil
	return st, nil
}

// Opened reports whether the real store has been opened.
func (l *Lazy) Opened() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st != nil
}

func (l *Lazy) Get(key []byte) ([]byte, error) {
	st, err := l.store(false)
	if err != nil || st == nil {
		return nil, firstErr(err, ErrNotFound)
	}
	return st.Get(key)
}

func (l *Lazy) View(key []byte, fn func(value []byte) error) error {
	st, err := l.store(false)
	if err != nil || st == nil {
		return firstErr(err, ErrNotFound)
	}
	return View(st, key, fn)
}

// Apply opens the real store for a batch with writes; a batch of offsets
// alone is kept in memory while it is not open.
func (l *Lazy) Apply(b *Batch) error {
	if len(b.Writes) == 0 {
		l.mu.Lock()
		if l.st == nil && !l.closed {
			maps.Copy(l.offsets, b.Offsets)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
	}
	st, err := l.store(true)
	if err != nil {
		return err
	}
	return st.Apply(b)
}

func (l *Lazy) Load(writes []Write) error {
	if len(writes) == 0 {
		return nil
	}
	st, err := l.store(true)
	if err != nil {
		return err
	}
	if bl, ok := st.(BulkLoader); ok {
		return bl.Load(writes)
	}
	return st.Apply(&Batch{Writes: writes})
}

func (l *Lazy) Offset(name string) (int64, bool, error) {
	l.mu.Lock()
	if l.st == nil {
		defer l.mu.Unlock()
		if l.closed {
			return 0, false, ErrClosed
		}
		off, ok := l.offsets[name]
		return off, ok, nil
	}
	st := l.st
	l.mu.Unlock()
	return st.Offset(name)
}

func (l *Lazy) Iterate(fn func(key, value []byte) error) error {
	st, err := l.store(false)
	if err != nil || st == nil {
		return err
	}
	return st.Iterate(fn)
}

func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	if l.st == nil {
		return nil
	}
	return l.st.Close()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
