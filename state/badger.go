package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"
)

// BadgerOptions sizes a Badger store. Zero fields take the defaults of
// OpenBadger, which are sized for many stores per process (one per input
// partition per stage): Badger's own defaults cost hundreds of MB per DB.
type BadgerOptions struct {
	// MemTableSize is the size of one memtable (default 8 MB).
	MemTableSize int64
	// ValueLogFileSize is the size of one value-log file (default 64 MB,
	// at least 1 MB): values over MemTableSize/8 go there.
	ValueLogFileSize int64
	// NumMemtables is how many memtables may be in memory (default 2).
	NumMemtables int
	// BlockCacheSize bounds the cache of decompressed blocks (default 16 MB).
	BlockCacheSize int64
	// IndexCacheSize bounds the cache of table indexes and bloom filters
	// (default 8 MB); Badger's default 0 keeps them all in memory.
	IndexCacheSize int64
	// LevelZeroTables is how many tables level 0 collects before they are
	// compacted into level 1 (default 2; writes stall at twice as many
	// plus four). A store that rewrites the same keys again and again (a
	// stage's device or user states) does better with more: the device
	// classifier on Badger ran 12% faster with ten (2M events over 100k
	// devices), as most overwritten versions are merged away before level
	// 1. A store of keys written once and looked up when new (the sink's
	// dedup marks) keeps the default: each lookup of a new key checks
	// every level-0 table's bloom filter.
	LevelZeroTables int
	// SyncWrites fsyncs every Apply. Off by default: the offset is written
	// in the same transaction as the state, so a crash that loses the last
	// Applies loses their offsets too, and the stage re-reads those inputs
	// and, being deterministic, produces the same records again (the sink
	// drops repeated postback_ids).
	SyncWrites bool
	// GCInterval, when positive, runs value-log GC in a goroutine that
	// Close stops. Zero leaves GC to the caller (RunGC).
	GCInterval time.Duration
	// Logger receives Badger's warnings and errors; nil silences Badger.
	Logger *zap.Logger
}

// RewrittenLevelZeroTables is LevelZeroTables for stores whose keys are
// rewritten again and again: the classifiers' device and user states.
const RewrittenLevelZeroTables = 10

func (o *BadgerOptions) setDefaults() {
	if o.MemTableSize <= 0 {
		o.MemTableSize = 8 << 20
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = 64 << 20
	}
	o.ValueLogFileSize = max(o.ValueLogFileSize, 1<<20)
	if o.NumMemtables <= 0 {
		o.NumMemtables = 2
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = 16 << 20
	}
	if o.IndexCacheSize <= 0 {
		o.IndexCacheSize = 8 << 20
	}
	if o.LevelZeroTables <= 0 {
		o.LevelZeroTables = 2
	}
}

// Badger is a Store on an embedded Badger database, one per directory.
type Badger struct {
	db *badger.DB

	// mu orders Close after in-flight calls: they hold it for reading.
	mu     sync.RWMutex
	closed bool

	stopGC chan struct{}
	gcDone chan struct{}
}

var _ Store = (*Badger)(nil)

// OpenBadger opens (creating if needed) the Badger store in dir.
func OpenBadger(dir string, opts BadgerOptions) (*Badger, error) {
	opts.setDefaults()
	bo := badger.DefaultOptions(dir).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(opts.NumMemtables).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize).
		WithSyncWrites(opts.SyncWrites).
		// State values are small (a device's state is a few hundred bytes);
		// keeping every value in the LSM saves the value-log indirection on
		// Get and leaves little for value-log GC to do. Badger caps the
		// threshold at 15% of a memtable.
		WithValueThreshold(min(1<<20, opts.MemTableSize/8)).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithNumLevelZeroTables(opts.LevelZeroTables).
		WithNumLevelZeroTablesStall(2*opts.LevelZeroTables + 4).
		WithBaseTableSize(2 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.Snappy).
		WithMetricsEnabled(false).
		// One goroutine writes a partition's store, so conflict detection
		// would only cost memory.
		WithDetectConflicts(false).
		WithLogger(newBadgerLogger(opts.Logger))
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("state: open badger in %s: %w", dir, err)
	}
	b := &Badger{db: db}
	if opts.GCInterval > 0 {
		b.stopGC = make(chan struct{})
		b.gcDone = make(chan struct{})
		go b.gcLoop(opts.GCInterval, opts.Logger)
	}
	return b, nil
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (b *Badger) Get(key []byte) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	var val []byte
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("state: get: %w", err)
	}
	return val, nil
}

// Apply writes the sets, deletes and offsets of batch in one Badger
// transaction: a WriteBatch would be split into several commits, and state
// and offset must move together.
func (b *Badger) Apply(batch *Batch) error {
	if err := checkKeys(batch); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	for _, w := range batch.Writes {
		var err error
		if w.Value == nil {
			err = txn.Delete(w.Key)
		} else {
			err = txn.Set(w.Key, w.Value)
		}
		if err != nil {
			return txnError(err)
		}
	}
	for name, off := range batch.Offsets {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(off))
		if err := txn.Set(offsetKey(name), v); err != nil {
			return txnError(err)
		}
	}
	if err := txn.Commit(); err != nil {
		return txnError(err)
	}
	return nil
}

func txnError(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return ErrBatchTooLarge
	}
	return fmt.Errorf("state: apply: %w", err)
}

func offsetKey(name string) []byte { return []byte(offsetPrefix + name) }

// Offset returns the offset stored under name, and false when there is none.
func (b *Badger) Offset(name string) (int64, bool, error) {
	v, err := b.getRaw(offsetKey(name))
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("state: offset %q: %d bytes, want 8", name, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

func (b *Badger) getRaw(key []byte) ([]byte, error) { return b.Get(key) }

// Iterate calls fn for every state key and value in key order, on one
// snapshot; offset keys sort last (0xFF) and end the walk.
func (b *Badger) Iterate(fn func(key, value []byte) error) error {
	return b.IterateFrom(nil, fn)
}

// IterateFrom is Iterate from the first key at or after start (Ranger).
func (b *Badger) IterateFrom(start []byte, fn func(key, value []byte) error) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	return b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			key := item.Key()
			if len(key) > 0 && key[0] == 0xff {
				return nil
			}
			err := item.Value(func(val []byte) error { return fn(key, val) })
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// RunGC rewrites value-log files that are at least half garbage, until none
// is left. State values live in the LSM, so there is usually nothing to do;
// it still reclaims the space of large values and of deleted keys' logs.
func (b *Badger) RunGC() error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	for {
		err := b.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("state: value-log gc: %w", err)
		}
	}
}

func (b *Badger) gcLoop(every time.Duration, log *zap.Logger) {
	defer close(b.gcDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stopGC:
			return
		case <-t.C:
			if err := b.RunGC(); err != nil && !errors.Is(err, ErrClosed) && log != nil {
				log.Warn("badger value-log gc failed", zap.Error(err))
			}
		}
	}
}

// Close stops GC, waits for in-flight calls and closes the database.
func (b *Badger) Close() error {
	if b.stopGC != nil {
		b.mu.RLock()
		closed := b.closed
		b.mu.RUnlock()
		if !closed {
			close(b.stopGC)
			<-b.gcDone
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.closed = true
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("state: close badger: %w", err)
	}
	return nil
}
