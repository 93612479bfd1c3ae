package state

import (
	"errors"
	"testing"
)

// TestLazyOpensAtTheFirstWrite: a Lazy reads as empty and keeps offsets in
// memory until a batch with writes opens the real store, which then holds
// those offsets too; a directory with files opens at once.
func TestLazyOpensAtTheFirstWrite(t *testing.T) {
	dir := t.TempDir()
	opens := 0
	open := func() (Store, error) {
		opens++
		return OpenBadger(dir, BadgerOptions{MemTableSize: 1 << 20, ValueLogFileSize: 1 << 20})
	}
	l, err := NewLazy(dir, open)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.SetOffset("in", 7)
	if err := l.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if off, ok, err := l.Offset("in"); err != nil || !ok || off != 7 {
		t.Fatalf("offset %d %v %v", off, ok, err)
	}
	if _, err := l.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get on the empty store: %v", err)
	}
	if opens != 0 || l.Opened() {
		t.Fatalf("opened %d times before any write", opens)
	}
	b = Batch{}
	b.Set([]byte("k"), []byte("v"))
	b.SetOffset("in", 9)
	if err := l.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if opens != 1 {
		t.Fatalf("opened %d times", opens)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := NewLazy(dir, open)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if opens != 2 {
		t.Fatalf("a directory with files is not opened at once (%d opens)", opens)
	}
	if v, err := again.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("get %q %v", v, err)
	}
	if off, ok, err := again.Offset("in"); err != nil || !ok || off != 9 {
		t.Fatalf("offset after reopening %d %v %v", off, ok, err)
	}
}
