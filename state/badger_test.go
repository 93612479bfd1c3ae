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
