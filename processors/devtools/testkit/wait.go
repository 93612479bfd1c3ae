package testkit

import (
	"testing"
	"time"
)

// DefaultStall is how long a wait may see nothing move before it fails:
// long enough for a busy machine (a consumer group's first join, a
// restore), short enough that a stuck test says so.
const DefaultStall = 30 * time.Second

// Wait waits for a condition by progress, not by a budget for the whole
// wait: it fails only when Progress has not changed for Stall while the
// condition does not hold, so a slow machine makes a test slower, never
// red.
type Wait struct {
	// Stall defaults to DefaultStall.
	Stall time.Duration
	// Progress is a measure that changes while the system under test
	// works (records read, calls a partner got, a sum of counters). Nil:
	// nothing but the condition is known, and the wait fails Stall after
	// it began.
	Progress func() int64
	// Poll is how often the condition is checked (default 20ms).
	Poll time.Duration
}

// For polls cond until it holds, and fails t when nothing moved for
// w.Stall before. Call it from the test's goroutine.
func (w Wait) For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	w.defaults()
	last, since := w.Progress(), time.Now()
	for !cond() {
		if n := w.Progress(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > w.Stall {
			t.Fatalf("nothing moved for %v while waiting for %s (progress at %d)", w.Stall, what, last)
		}
		time.Sleep(w.Poll)
	}
}

func (w *Wait) defaults() {
	if w.Stall <= 0 {
		w.Stall = DefaultStall
	}
	if w.Poll <= 0 {
		w.Poll = 20 * time.Millisecond
	}
	if w.Progress == nil {
		w.Progress = func() int64 { return 0 }
	}
}

// WaitFor is Wait{Progress: progress}.For(t, what, cond).
func WaitFor(t testing.TB, what string, progress func() int64, cond func() bool) {
	t.Helper()
	Wait{Progress: progress}.For(t, what, cond)
}
