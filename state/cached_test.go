package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestCachedMemoryContract(t *testing.T) {
	testStoreContract(t, storeMaker{open: func(t *testing.T, dir string) Store { return NewCached(NewMemory(), 4) }})
}

func TestCachedBadgerContract(t *testing.T) {
	testStoreContract(t, storeMaker{persistent: true, open: func(t *testing.T, dir string) Store {
		s, err := OpenBadger(dir, BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return NewCached(s, 4)
	}})
}

// countingStore counts the Gets that reach the inner store.
type countingStore struct {
	Store
	mu   sync.Mutex
	gets int
}

func (s *countingStore) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.Get(key)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// seeded returns a memory store holding key "seed", so that a cache over
// it does not start complete and must ask it about misses.
func seeded(t *testing.T) *countingStore {
	t.Helper()
	m := NewMemory()
	var b Batch
	b.Set([]byte("seed"), []byte("s"))
	mustApply(t, m, &b)
	return &countingStore{Store: m}
}

func TestCachedServesRepeatedGetsAndMisses(t *testing.T) {
	inner := seeded(t)
	c := NewCached(inner, 10)
	defer c.Close()
	for i := 0; i < 3; i++ {
		mustGet(t, c, "seed", "s")
		if _, err := c.Get([]byte("nope")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	}
	if n := inner.count(); n != 2 {
		t.Fatalf("inner Gets = %d, want 2 (one per key)", n)
	}
	if st := c.Stats(); st.Hits != 4 || st.NegativeHits != 2 || st.Misses != 2 || st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCachedNegativeEntryInvalidatedByApply(t *testing.T) {
	inner := seeded(t)
	c := NewCached(inner, 10)
	defer c.Close()
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	var b Batch
	b.Set([]byte("k"), []byte("v1"))
	mustApply(t, c, &b)
	mustGet(t, c, "k", "v1")
	// Set then deleted: the delete must become a negative entry, not
	// leave the old value behind.
	b.Reset()
	b.Delete([]byte("k"))
	mustApply(t, c, &b)
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if n := inner.count(); n != 1 {
		t.Fatalf("inner Gets = %d, want 1: Apply should have updated the cache", n)
	}
	// Set and delete in one batch: the later write wins.
	b.Reset()
	b.Set([]byte("j"), []byte("x"))
	b.Delete([]byte("j"))
	b.Set([]byte("i"), []byte("y"))
	mustApply(t, c, &b)
	if _, err := c.Get([]byte("j")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get j: %v", err)
	}
	mustGet(t, c, "i", "y")
}

func TestCachedIsBoundedAndEvicts(t *testing.T) {
	inner := seeded(t)
	const max = 8
	c := NewCached(inner, max)
	defer c.Close()
	var b Batch
	for i := 0; i < 100; i++ {
		b.Set([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprintf("v%03d", i)))
	}
	mustApply(t, c, &b)
	st := c.Stats()
	if st.Entries != max || st.Evictions != 100-max {
		t.Fatalf("stats after 100 writes into %d entries: %+v", max, st)
	}
	// Every key still reads right, from the cache or from inner.
	for i := 0; i < 100; i++ {
		mustGet(t, c, fmt.Sprintf("k%03d", i), fmt.Sprintf("v%03d", i))
	}
	if st := c.Stats(); st.Entries != max {
		t.Fatalf("entries %d > max %d", st.Entries, max)
	}
}

func TestCachedClockKeepsHotKeys(t *testing.T) {
	inner := seeded(t)
	c := NewCached(inner, 4)
	defer c.Close()
	var b Batch
	b.Set([]byte("hot"), []byte("h"))
	mustApply(t, c, &b)
	for i := 0; i < 50; i++ {
		mustGet(t, c, "hot", "h")
		if _, err := c.Get([]byte(fmt.Sprintf("cold%d", i))); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	before := inner.count()
	mustGet(t, c, "hot", "h")
	if inner.count() != before {
		t.Fatal("a key read at every step was evicted by one-off keys")
	}
}

func TestCachedFailedApplyLeavesCache(t *testing.T) {
	s, err := OpenBadger(t.TempDir(), BadgerOptions{MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCached(s, 100)
	defer c.Close()
	var b Batch
	b.Set([]byte("k00000"), []byte("old"))
	mustApply(t, c, &b)
	if _, err := c.Get([]byte("k00001")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	b.Reset()
	val := make([]byte, 1024)
	for i := 0; i < 10000; i++ {
		b.Set([]byte(fmt.Sprintf("k%05d", i)), val)
	}
	if err := c.Apply(&b); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("apply = %v, want ErrBatchTooLarge", err)
	}
	mustGet(t, c, "k00000", "old")
	if _, err := c.Get([]byte("k00001")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a write of the failed batch is visible: %v", err)
	}
	if st := c.Stats(); st.Entries != 1 || st.Evictions != 0 {
		t.Fatalf("failed apply changed the cache: %+v", st)
	}
}

// failingStore fails every Apply with an error of unknown outcome.
type failingStore struct{ *Memory }

var errDisk = errors.New("disk on fire")

func (s failingStore) Apply(b *Batch) error {
	s.Memory.Apply(b) // the write may have happened
	return fmt.Errorf("state: apply: %w", errDisk)
}

func TestCachedUnknownApplyErrorForgetsKeys(t *testing.T) {
	c := NewCached(failingStore{NewMemory()}, 10)
	defer c.Close()
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	var b Batch
	b.Set([]byte("k"), []byte("v"))
	if err := c.Apply(&b); !errors.Is(err, errDisk) {
		t.Fatalf("apply = %v", err)
	}
	mustGet(t, c, "k", "v") // read from inner, not the stale negative entry
}

func TestCachedCompleteSkipsInner(t *testing.T) {
	inner := &countingStore{Store: NewMemory()}
	c := NewCached(inner, 2)
	defer c.Close()
	for _, k := range []string{"a", "b", "a"} {
		if _, err := c.Get([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if inner.count() != 0 {
		t.Fatalf("a cache over an empty store read it %d times", inner.count())
	}
	var b Batch
	for _, k := range []string{"a", "b", "c"} { // c evicts: no longer complete
		b.Set([]byte(k), []byte("v"+k))
	}
	mustApply(t, c, &b)
	for _, k := range []string{"a", "b", "c"} {
		mustGet(t, c, k, "v"+k)
	}
	if _, err := c.Get([]byte("d")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if inner.count() == 0 {
		t.Fatal("after an eviction a miss must ask the inner store")
	}
}

func TestCachedLoadForgetsKeys(t *testing.T) {
	s, err := OpenBadger(t.TempDir(), BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCached(s, 10)
	defer c.Close()
	var b Batch
	b.Set([]byte("a"), []byte("1"))
	mustApply(t, c, &b)
	if _, err := c.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := c.Load([]Write{{Key: []byte("a")}, {Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Value: []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("loaded delete: %v", err)
	}
	mustGet(t, c, "b", "2")
	mustGet(t, c, "c", "3")
	// Load without a BulkLoader inside goes through Apply.
	m := NewCached(NewMemory(), 10)
	defer m.Close()
	if err := m.Load([]Write{{Key: []byte("x"), Value: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, m, "x", "y")
}

// TestCachedConcurrentGets reads while one goroutine writes; -race checks
// the locking, the final reads check no stale fill survived.
func TestCachedConcurrentGets(t *testing.T) {
	inner := seeded(t)
	c := NewCached(inner, 16)
	defer c.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v, err := c.Get([]byte(fmt.Sprintf("k%d", i%32)))
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
					return
				}
				if err == nil && len(v) == 0 {
					t.Error("empty value")
					return
				}
			}
		}()
	}
	var b Batch
	for round := 0; round < 200; round++ {
		b.Reset()
		for k := 0; k < 32; k++ {
			b.Set([]byte(fmt.Sprintf("k%d", k)), []byte(fmt.Sprintf("r%d", round)))
		}
		mustApply(t, c, &b)
	}
	close(stop)
	wg.Wait()
	for k := 0; k < 32; k++ {
		mustGet(t, c, fmt.Sprintf("k%d", k), "r199")
	}
}

func TestCachedClosed(t *testing.T) {
	inner := NewMemory()
	c := NewCached(inner, 4)
	var b Batch
	b.Set([]byte("k"), []byte("v"))
	mustApply(t, c, &b)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("cached value served after close: %v", err)
	}
	if _, err := inner.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatal("Close did not close the inner store")
	}
	if err := c.Load(nil); !errors.Is(err, ErrClosed) && err != nil {
		t.Fatal(err)
	}
}

// TestCachedView: View lends the cached value, reads the inner store on a
// miss, answers not-found entries without calling fn, and returns fn's
// error; state.View falls back to Get on a store that cannot lend.
func TestCachedView(t *testing.T) {
	inner := NewMemory()
	var b Batch
	b.Set([]byte("old"), []byte("from inner"))
	mustApply(t, inner, &b)
	c := NewCached(inner, 10)
	defer c.Close()
	b.Reset()
	b.Set([]byte("k"), []byte("v"))
	mustApply(t, c, &b)

	view := func(st Store, key string) (string, error) {
		var got string
		err := View(st, []byte(key), func(v []byte) error { got = string(v); return nil })
		return got, err
	}
	for _, tc := range []struct{ key, want string }{{"k", "v"}, {"old", "from inner"}, {"old", "from inner"}} {
		if got, err := view(c, tc.key); err != nil || got != tc.want {
			t.Fatalf("View(%s) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
	for range 2 { // a miss, then the negative entry it left
		if _, err := view(c, "none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("View(none) = %v, want ErrNotFound", err)
		}
	}
	boom := errors.New("boom")
	if err := c.View([]byte("k"), func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn's error: %v", err)
	}
	if got, err := view(inner, "old"); err != nil || got != "from inner" {
		t.Fatalf("View on a Memory = %q, %v", got, err)
	}
	if st := c.Stats(); st.Hits != 4 || st.NegativeHits != 1 || st.Misses != 2 {
		t.Fatalf("stats %+v: want 4 hits (1 negative), 2 misses", st)
	}
}
