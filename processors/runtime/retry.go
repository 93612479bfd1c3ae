package runtime

import (
	"context"
	"time"
)

// changelogRetryFor bounds how long changelog reads are retried. A topic
// just created, or a leader just moved, answers "not leader" for a moment;
// that must not fail the partition (and with it the whole consumer).
const changelogRetryFor = 60 * time.Second

// retry calls fn until it succeeds, ctx ends or changelogRetryFor passes,
// backing off from 100 ms to 2 s. It returns fn's last error.
func retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(changelogRetryFor)
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}
