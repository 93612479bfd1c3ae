package state

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBadgerBatchTooLargeWritesNothing(t *testing.T) {
	s, err := OpenBadger(t.TempDir(), BadgerOptions{MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Batch
	val := make([]byte, 1024)
	for i := 0; i < 10000; i++ {
		b.Set([]byte(fmt.Sprintf("k%05d", i)), val)
	}
	b.SetOffset("p0", 1)
	if err := s.Apply(&b); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("apply = %v, want ErrBatchTooLarge", err)
	}
	if _, err := s.Get([]byte("k00000")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a write of the failed batch is visible: %v", err)
	}
	if _, ok, _ := s.Offset("p0"); ok {
		t.Fatal("the offset of the failed batch is visible")
	}
}

func TestBadgerGC(t *testing.T) {
	s, err := OpenBadger(t.TempDir(), BadgerOptions{GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunGC(); err != nil {
		t.Fatalf("run gc: %v", err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.RunGC(); !errors.Is(err, ErrClosed) {
		t.Fatalf("gc after close = %v", err)
	}
}

func TestBadgerLoadWritesWithoutOffsets(t *testing.T) {
	b, err := OpenBadger(t.TempDir(), BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	writes := make([]Write, 0, 50_000)
	for i := 0; i < 50_000; i++ {
		writes = append(writes, Write{Key: []byte(fmt.Sprintf("k%06d", i)), Value: []byte("v")})
	}
	writes = append(writes, Write{Key: []byte("k000001")}) // a later delete wins
	if err := b.Load(writes); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get([]byte("k049999")); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := b.Get([]byte("k000001")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if _, ok, _ := b.Offset("input"); ok {
		t.Fatal("Load must not write offsets")
	}
	if err := b.Load([]Write{{Key: []byte("\xffx"), Value: []byte("v")}}); !errors.Is(err, ErrReservedKey) {
		t.Fatalf("reserved key: %v", err)
	}
}
