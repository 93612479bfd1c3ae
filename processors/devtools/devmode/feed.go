package devmode

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/platform/stage"
)

// feeder produces generated raw records to the raw events topic at a
// steady rate, keyed by device id, as an app's backend would.
type feeder struct {
	gen      *generator.Generator
	producer stage.Producer
	topic    string
	rate     float64 // records per second
	limit    int64   // 0: no limit
	// until ends the feed at a time; zero: no end. It is checked between
	// produces, never by cancelling one, so that every record produced is
	// counted and a run's counts add up.
	until time.Time
	// stopped ends the feed early, between two produces.
	stopped atomic.Bool

	generated, malformed atomic.Int64
}

// feedTick is how often the feeder tops up to its rate: short enough for
// a smooth stream, long enough that each produce carries a batch.
const feedTick = 20 * time.Millisecond

// maxFeedBatch bounds one produce when the feeder has fallen behind.
const maxFeedBatch = 5000

// run produces until the limit or the end time is reached, or ctx ends;
// ctx ending is a normal stop (an interrupted run), not an error.
func (f *feeder) run(ctx context.Context) error {
	start := time.Now()
	t := time.NewTicker(feedTick)
	defer t.Stop()
	batch := make([]kafka.Message, 0, maxFeedBatch)
	for {
		due := int64(time.Since(start).Seconds() * f.rate)
		if f.limit > 0 {
			due = min(due, f.limit)
		}
		n := min(due-f.generated.Load(), maxFeedBatch)
		batch = batch[:0]
		var bad int64
		for range n {
			r := f.gen.Next()
			if r.Malformed {
				bad++
			}
			batch = append(batch, kafka.Message{Topic: f.topic, Key: r.Key, Value: r.Value})
		}
		if len(batch) > 0 {
			if err := f.producer.Produce(ctx, batch...); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("produce generated records: %w", err)
			}
			f.generated.Add(int64(len(batch)))
			f.malformed.Add(bad)
		}
		if f.limit > 0 && f.generated.Load() >= f.limit || !f.until.IsZero() && !time.Now().Before(f.until) || f.stopped.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
