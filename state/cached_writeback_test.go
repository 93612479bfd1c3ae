package state

import (
	"errors"
	"fmt"
	"testing"
)

func TestWriteBackMemoryContract(t *testing.T) {
	testStoreContract(t, storeMaker{open: func(t *testing.T, dir string) Store { return NewWriteBack(NewMemory(), 4) }})
}

func TestWriteBackBadgerContract(t *testing.T) {
	testStoreContract(t, storeMaker{persistent: true, open: func(t *testing.T, dir string) Store {
		s, err := OpenBadger(dir, BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return NewWriteBack(s, 4)
	}})
}

// TestWriteBackSpillsBeforeEvicting writes many more keys than fit: none
// may be lost, and inner sees only what was evicted or flushed.
func TestWriteBackSpillsBeforeEvicting(t *testing.T) {
	inner := NewMemory()
	c := NewWriteBack(inner, 16)
	defer c.Close()
	var b Batch
	for round := 0; round < 3; round++ {
		b.Reset()
		for i := 0; i < 10; i++ {
			b.Set([]byte(fmt.Sprintf("k%02d", i)), []byte(fmt.Sprint(round)))
		}
		mustApply(t, c, &b)
	}
	if _, err := inner.Get([]byte("k00")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a working set that fits must not reach inner: %v", err)
	}
	for i := 10; i < 100; i++ {
		b.Reset()
		b.Set([]byte(fmt.Sprintf("k%02d", i)), []byte("x"))
		if i%7 == 0 {
			b.Delete([]byte(fmt.Sprintf("k%02d", i-5)))
		}
		mustApply(t, c, &b)
	}
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("k%02d", i)
		want := "x"
		if i < 10 {
			want = "2"
		}
		if i+5 < 100 && (i+5)%7 == 0 && i+5 >= 10 {
			if _, err := c.Get([]byte(k)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted %s: %v", k, err)
			}
			continue
		}
		mustGet(t, c, k, want)
	}
	st := c.Stats()
	if st.Spills == 0 || st.Entries > 16 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWriteBackFlushesOnClose(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewWriteBack(s, 100)
	var b Batch
	b.Set([]byte("k"), []byte("v"))
	b.Set([]byte("gone"), []byte("v"))
	b.Set([]byte("empty"), nil)
	mustApply(t, c, &b)
	b.Reset()
	b.Delete([]byte("gone"))
	b.SetOffset("p", 5)
	mustApply(t, c, &b)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustGet(t, s, "k", "v")
	mustGet(t, s, "empty", "")
	if _, err := s.Get([]byte("gone")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if off, ok, err := s.Offset("p"); err != nil || !ok || off != 5 {
		t.Fatalf("offset = %d %v %v", off, ok, err)
	}
}

// TestWriteBackSplitsLargeSpills spills more than one Badger transaction
// holds: the spill is split, and every write lands.
func TestWriteBackSplitsLargeSpills(t *testing.T) {
	s, err := OpenBadger(t.TempDir(), BadgerOptions{MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := NewWriteBack(s, 20000)
	defer c.Close()
	var b Batch
	val := make([]byte, 1024)
	for i := 0; i < 10000; i++ {
		b.Set([]byte(fmt.Sprintf("k%05d", i)), val)
	}
	b.SetOffset("p", 1)
	mustApply(t, c, &b)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k09999")); err != nil || len(v) != 1024 {
		t.Fatalf("get = %d bytes, %v", len(v), err)
	}
	if off, ok, _ := s.Offset("p"); !ok || off != 1 {
		t.Fatal("offset not spilled")
	}
}

func TestWriteBackDiscardWritesNothing(t *testing.T) {
	inner := &countingApplies{Store: NewMemory()}
	c := NewWriteBack(inner, 10)
	var b Batch
	b.Set([]byte("k"), []byte("v"))
	mustApply(t, c, &b)
	if err := c.Discard(); err != nil {
		t.Fatal(err)
	}
	if inner.applies != 0 {
		t.Fatalf("discard applied %d batches", inner.applies)
	}
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after discard: %v", err)
	}
}

type countingApplies struct {
	Store
	applies int
}

func (s *countingApplies) Apply(b *Batch) error { s.applies++; return s.Store.Apply(b) }
