package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// fetchRetryMax is the longest wait between fetches that keep failing.
const fetchRetryMax = 2 * time.Second

// runPartition handles one assigned partition until the generation ends
// (genCtx) or the Handler fails.
//
// A failed fetch does not end it: kafka-go's partition reader reports an
// error once its connection attempts run out (three, about a second, when
// the broker is away) and then goes on trying by itself from the offset
// after the last record it delivered. So the records fetched before the
// error are processed, the error is logged (rate-limited), and the fetch
// waits for the reader to recover. Failing the partition instead stopped
// the Consumer, and with it the process, a second into any broker outage.
func (c *Consumer) runPartition(genCtx, procCtx context.Context, topic string, pa kafka.PartitionAssignment, marks *offsetMarks, ps *positions) error {
	if genCtx.Err() != nil {
		return nil // the generation ended before it started here
	}
	// kafka-go's generation context is not a standard one; deriving from it
	// costs a goroutine, so derive once here rather than per batch.
	genCtx, cancel := context.WithCancel(genCtx)
	defer cancel()
	start, err := c.h.Assigned(procCtx, topic, pa.ID)
	if err != nil {
		return fmt.Errorf("%w: assigned %s/%d: %w", ErrHandler, topic, pa.ID, err)
	}
	defer c.h.Revoked(procCtx, topic, pa.ID)
	switch {
	case start == CommittedOffset:
		start = pa.Offset // committed, or FirstOffset when there is none
	case start >= 0, start == FirstOffset, start == LastOffset:
	default:
		return fmt.Errorf("%w: %d for %s/%d", ErrInvalidOffset, start, topic, pa.ID)
	}
	src := c.newSource(topic, pa.ID, start)
	defer src.Close()
	pos := ps.track(topic, pa.ID, start)
	defer ps.untrack(topic, pa.ID)

	buf := make([]kafka.Message, 0, c.cfg.MaxBatchRecords)
	wait := time.Duration(0)
	for {
		var hwm int64
		buf, hwm, err = c.fill(genCtx, src, buf[:0])
		if genCtx.Err() != nil {
			// records fetched but not processed are not committed: the
			// next owner fetches them again
			return nil
		}
		if len(buf) > 0 {
			// A paused topic's batch waits, unprocessed, for the resume.
			if c.cfg.Pause.wait(genCtx, topic); genCtx.Err() != nil {
				return nil
			}
			b := Batch{Topic: topic, Partition: pa.ID, Messages: buf, HighWaterMark: hwm, Ended: genCtx.Done()}
			if err := c.h.Process(procCtx, b); err != nil {
				if genCtx.Err() != nil && errors.Is(err, context.Canceled) {
					// Stopped waiting as the generation ended (Batch.Ended),
					// or its drain time ran out: not committed, the next
					// owner processes it.
					return nil
				}
				return fmt.Errorf("%w: process %s/%d: %w", ErrHandler, topic, pa.ID, err)
			}
			marks.mark(topic, pa.ID, b.NextOffset())
			pos.Store(b.NextOffset())
			wait = 0 // back off only while nothing comes
		}
		if err == nil {
			continue
		}
		wait = min(max(2*wait, 100*time.Millisecond), fetchRetryMax)
		c.lim.warn(c.log, "fetch", "fetching failed; the reader retries by itself",
			zap.String("topic", topic), zap.Int("partition", pa.ID), zap.Error(fmt.Errorf("%w: %w", ErrFetch, err)),
			zap.Duration("next_attempt_in", wait))
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-genCtx.Done():
			timer.Stop()
		}
	}
}

// fill appends records from src to buf: it blocks for the first one, then
// takes more until MaxBatchRecords, MaxBatchWait, or the partition's end as
// of the last fetch. It returns the high-water mark of the last record.
// On a fetch error it returns the records it has along with the error.
func (c *Consumer) fill(ctx context.Context, src messageSource, buf []kafka.Message) ([]kafka.Message, int64, error) {
	m, err := src.FetchMessage(ctx)
	if err != nil {
		return buf, 0, err
	}
	buf = append(buf, m)
	hwm := m.HighWaterMark
	if len(buf) >= c.cfg.MaxBatchRecords || m.Offset+1 >= hwm {
		return buf, hwm, nil
	}
	wait, cancel := context.WithTimeout(ctx, c.cfg.MaxBatchWait)
	defer cancel()
	for len(buf) < c.cfg.MaxBatchRecords {
		m, err := src.FetchMessage(wait)
		if err != nil {
			if ctx.Err() == nil && wait.Err() != nil {
				break // waited long enough: hand over what we have
			}
			return buf, hwm, err
		}
		buf = append(buf, m)
		hwm = m.HighWaterMark
		if m.Offset+1 >= hwm {
			break // caught up with the partition
		}
	}
	return buf, hwm, nil
}
