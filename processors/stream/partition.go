package stream

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// runPartition handles one assigned partition until the generation ends
// (genCtx) or the Handler or the fetch fails.
func (c *Consumer) runPartition(genCtx, procCtx context.Context, topic string, pa kafka.PartitionAssignment, marks *offsetMarks) error {
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

	buf := make([]kafka.Message, 0, c.cfg.MaxBatchRecords)
	for {
		var hwm int64
		buf, hwm, err = c.fill(genCtx, src, buf[:0])
		if genCtx.Err() != nil {
			// records fetched but not processed are not committed: the
			// next owner fetches them again
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s/%d: %w", ErrFetch, topic, pa.ID, err)
		}
		b := Batch{Topic: topic, Partition: pa.ID, Messages: buf, HighWaterMark: hwm}
		if err := c.h.Process(procCtx, b); err != nil {
			return fmt.Errorf("%w: process %s/%d: %w", ErrHandler, topic, pa.ID, err)
		}
		marks.mark(topic, pa.ID, b.NextOffset())
	}
}

// fill appends records from src to buf: it blocks for the first one, then
// takes more until MaxBatchRecords, MaxBatchWait, or the partition's end as
// of the last fetch. It returns the high-water mark of the last record.
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
