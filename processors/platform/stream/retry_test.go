package stream

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryReturnsPermanentErrorsAtOnce(t *testing.T) {
	base := errors.New("no offset header")
	calls := 0
	err := Retry(context.Background(), time.Minute, func() error {
		calls++
		return Permanent(base)
	})
	if calls != 1 || !errors.Is(err, base) || !IsPermanent(err) || err.Error() != base.Error() {
		t.Fatalf("calls %d, err %v", calls, err)
	}
	calls = 0
	err = Retry(context.Background(), time.Minute, func() error {
		if calls++; calls < 3 {
			return base // transient: retried
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("calls %d, err %v", calls, err)
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(15 * time.Second)
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	if ok, n := l.allow("a"); !ok || n != 0 {
		t.Fatal("first line held back")
	}
	for range 5 {
		now = now.Add(time.Second)
		if ok, _ := l.allow("a"); ok {
			t.Fatal("repeat within the interval let through")
		}
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another kind held back")
	}
	now = now.Add(15 * time.Second)
	if ok, n := l.allow("a"); !ok || n != 5 {
		t.Fatalf("after the interval: %v, %d held back, want 5", ok, n)
	}
}
