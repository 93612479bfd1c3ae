package partner

import (
	"sync"
	"time"
)

// breaker parks a partner after consecutive failed deliveries. Closed, it
// lets everything through; after `failures` failures in a row it opens for
// openFor, during which deliveries are parked without a try; then it lets
// one probe through: success closes it, failure opens it again.
type breaker struct {
	mu        sync.Mutex
	threshold int
	openFor   time.Duration
	failures  int
	open      bool
	openUntil time.Time
	probing   bool
}

func newBreaker(cfg BreakerConfig) *breaker {
	return &breaker{threshold: cfg.Failures, openFor: cfg.OpenFor.D()}
}

// allow says whether a delivery may try now, and whether it is the probe.
// When it may not, until is when the next probe may go.
func (b *breaker) allow(now time.Time) (ok, probe bool, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false, time.Time{}
	}
	if !b.probing && !now.Before(b.openUntil) {
		b.probing = true
		return true, true, time.Time{}
	}
	if b.probing {
		return false, false, now.Add(b.openFor)
	}
	return false, false, b.openUntil
}

// record reports a delivery's outcome: healthy is false for failures that
// say the partner is down or overloaded (network errors, timeouts, 408,
// 429, 5xx). It returns whether the breaker is open then.
func (b *breaker) record(healthy, probe bool, now time.Time) (open bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() { open = b.open }()
	if probe {
		b.probing = false
		if healthy {
			b.open, b.failures = false, 0
		} else {
			b.openUntil = now.Add(b.openFor)
		}
		return
	}
	if b.open {
		return // a straggler from before the breaker opened
	}
	if healthy {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.open, b.openUntil = true, now.Add(b.openFor)
	}
	return
}

// state says whether the breaker is open and, when it is, when it lets
// its next probe through.
func (b *breaker) state() (open bool, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open, b.openUntil
}
