package demopartner

import (
	"net/http"
	"time"
)

// Fault is the misbehaviour injected for one partner. Failures are spread
// evenly and deterministically over the partner's requests (a ratio of 0.25
// fails the 4th, 8th, 12th, ...), so tests get the same counts on every
// run without a seed.
type Fault struct {
	// FailRatio is the share of requests answered 500.
	FailRatio float64
	// ThrottleRatio is the share of the other requests answered 429 with
	// a Retry-After header.
	ThrottleRatio float64
	// RetryAfter is the Retry-After of a 429, rounded up to whole seconds
	// (default 1s).
	RetryAfter time.Duration
	// FailFirstAttempts answers 500 to the first attempts of every
	// Idempotency-Key: a postback that gets through only when retried.
	FailFirstAttempts int
	// Delay is how long every answer waits, as a slow partner's would. A
	// request whose client leaves during the wait is not answered
	// (PartnerStats.Abandoned).
	Delay time.Duration
	// Answer, when set, scripts the partner's answers (a random 30% of
	// 503s, a first try that outlives the client's timeout, a 400): it is
	// called for every request, after Delay, with the request's Attempt,
	// and either writes the answer and returns true, or writes nothing and
	// returns false for the server to answer as usual (the fields above,
	// else 200). What it writes is what the server records and counts,
	// 2xx as accepted; if it writes nothing and returns true, the answer
	// is net/http's 200, or none if the client has left by then. It runs
	// on the request's goroutine, outside the server's lock and
	// concurrently with other requests: it may block (on r.Context(), for
	// a partner that never answers), and it guards what it shares.
	Answer func(w http.ResponseWriter, r *http.Request, attempt int) bool
}

// faultState is a partner's Fault and how far along its ratios are.
type faultState struct {
	Fault
	failSeen, throttleSeen int
}

// due reports whether the n-th request (from 1) is one of a ratio: counting
// with integers keeps 0.1 exactly every 10th, which a running float sum
// does not.
func due(n int, ratio float64) bool {
	return int(float64(n)*ratio) > int(float64(n-1)*ratio)
}

// verdict is the status the fault imposes on the next request: 0 for none.
func (f *faultState) verdict(attempt int) int {
	if attempt <= f.FailFirstAttempts {
		return 500
	}
	f.failSeen++
	if due(f.failSeen, f.FailRatio) {
		return 500
	}
	f.throttleSeen++
	if due(f.throttleSeen, f.ThrottleRatio) {
		return 429
	}
	return 0
}

func (f Fault) retryAfterSeconds() int {
	if f.RetryAfter <= 0 {
		return 1
	}
	return int((f.RetryAfter + time.Second - 1) / time.Second)
}
