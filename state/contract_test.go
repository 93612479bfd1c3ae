package state

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// storeMaker opens the store kept in dir; persistent says whether a store
// reopened on the same dir sees what an earlier one wrote.
type storeMaker struct {
	open       func(t *testing.T, dir string) Store
	persistent bool
}

// testStoreContract is the one contract every Store passes.
func testStoreContract(t *testing.T, m storeMaker) {
	t.Run("get set delete", func(t *testing.T) {
		s := m.open(t, t.TempDir())
		defer s.Close()
		if _, err := s.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get missing: err = %v, want ErrNotFound", err)
		}
		var b Batch
		b.Set([]byte("a"), []byte("1"))
		b.Set([]byte("b"), nil)
		mustApply(t, s, &b)
		mustGet(t, s, "a", "1")
		mustGet(t, s, "b", "")
		b.Reset()
		b.Set([]byte("a"), []byte("2"))
		b.Delete([]byte("b"))
		mustApply(t, s, &b)
		mustGet(t, s, "a", "2")
		if _, err := s.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get deleted: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("apply is atomic with offsets", func(t *testing.T) {
		s := m.open(t, t.TempDir())
		defer s.Close()
		if _, ok, err := s.Offset("p0"); err != nil || ok {
			t.Fatalf("offset before any apply: ok=%v err=%v", ok, err)
		}
		var b Batch
		b.Set([]byte("a"), []byte("1"))
		b.SetOffset("p0", 42)
		b.SetOffset("p1", -1)
		mustApply(t, s, &b)
		for name, want := range map[string]int64{"p0": 42, "p1": -1} {
			off, ok, err := s.Offset(name)
			if err != nil || !ok || off != want {
				t.Fatalf("offset %s = %d,%v,%v; want %d", name, off, ok, err, want)
			}
		}
		// A batch with a reserved key fails as a whole.
		b.Reset()
		b.Set([]byte("a"), []byte("changed"))
		b.Set([]byte("\xffbad"), []byte("x"))
		b.SetOffset("p0", 43)
		if err := s.Apply(&b); !errors.Is(err, ErrReservedKey) {
			t.Fatalf("apply reserved key: err = %v, want ErrReservedKey", err)
		}
		mustGet(t, s, "a", "1")
		if off, _, _ := s.Offset("p0"); off != 42 {
			t.Fatalf("offset moved by a failed apply: %d", off)
		}
	})

	t.Run("iterate in key order without offsets", func(t *testing.T) {
		s := m.open(t, t.TempDir())
		defer s.Close()
		var b Batch
		for _, k := range []string{"c", "a", "b\x00x", "b"} {
			b.Set([]byte(k), []byte("v"+k))
		}
		b.SetOffset("p0", 7)
		mustApply(t, s, &b)
		var got []string
		err := s.Iterate(func(k, v []byte) error {
			if string(v) != "v"+string(k) {
				t.Errorf("value of %q = %q", k, v)
			}
			got = append(got, string(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a", "b", "b\x00x", "c"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("iterate keys = %q, want %q", got, want)
		}
		stop := errors.New("stop")
		n := 0
		if err := s.Iterate(func(k, v []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("iterate stop: err=%v n=%d", err, n)
		}
	})

	t.Run("values are copied", func(t *testing.T) {
		s := m.open(t, t.TempDir())
		defer s.Close()
		val := []byte("orig")
		var b Batch
		b.Set([]byte("k"), val)
		mustApply(t, s, &b)
		copy(val, "XXXX")
		got, _ := s.Get([]byte("k"))
		if string(got) != "orig" {
			t.Fatalf("store aliases the applied value: %q", got)
		}
		copy(got, "YYYY")
		mustGet(t, s, "k", "orig")
	})

	t.Run("closed", func(t *testing.T) {
		s := m.open(t, t.TempDir())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get([]byte("k")); !errors.Is(err, ErrClosed) {
			t.Errorf("get after close: %v", err)
		}
		if err := s.Apply(&Batch{}); !errors.Is(err, ErrClosed) {
			t.Errorf("apply after close: %v", err)
		}
		if _, _, err := s.Offset("p"); !errors.Is(err, ErrClosed) {
			t.Errorf("offset after close: %v", err)
		}
		if err := s.Iterate(func(k, v []byte) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("iterate after close: %v", err)
		}
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("second close: %v", err)
		}
	})

	if m.persistent {
		t.Run("reopen keeps state and offsets", func(t *testing.T) {
			dir := t.TempDir()
			s := m.open(t, dir)
			var b Batch
			b.Set([]byte("k"), []byte("v"))
			b.SetOffset("p0", 99)
			mustApply(t, s, &b)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = m.open(t, dir)
			defer s.Close()
			mustGet(t, s, "k", "v")
			if off, ok, err := s.Offset("p0"); err != nil || !ok || off != 99 {
				t.Fatalf("offset after reopen = %d,%v,%v", off, ok, err)
			}
		})
	}
}

func mustApply(t *testing.T, s Store, b *Batch) {
	t.Helper()
	if err := s.Apply(b); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func mustGet(t *testing.T, s Store, key, want string) {
	t.Helper()
	got, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Fatalf("get %q = %q, want %q", key, got, want)
	}
}

func TestMemoryContract(t *testing.T) {
	testStoreContract(t, storeMaker{open: func(t *testing.T, dir string) Store { return NewMemory() }})
}

func TestBadgerContract(t *testing.T) {
	testStoreContract(t, storeMaker{persistent: true, open: func(t *testing.T, dir string) Store {
		s, err := OpenBadger(dir, BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}})
}
