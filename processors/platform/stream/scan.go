package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// ScanConfig says which topic Scan and Follow read, and where.
type ScanConfig struct {
	Brokers []string
	Dialer  *kafka.Dialer // TLS/SASL; nil for plain TCP
	Topic   string
	// Since, when set, starts each partition at its first record at or
	// after that time (the broker's time index), not at its first record.
	Since time.Time
}

func (c ScanConfig) dialer() *kafka.Dialer {
	if c.Dialer != nil {
		return c.Dialer
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
}

// leader dials the leader of one partition of the topic, trying each
// broker in turn.
func (c ScanConfig) leader(ctx context.Context, p int) (*kafka.Conn, error) {
	var errs []error
	for _, b := range c.Brokers {
		conn, err := c.dialer().DialLeader(ctx, "tcp", b, c.Topic, p)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%s partition %d: no leader reachable: %w", c.Topic, p, errors.Join(errs...))
}

// Partitions lists the topic's partition ids, in order. A topic that does
// not exist is an error (it is not created).
func (c ScanConfig) Partitions(ctx context.Context) ([]int, error) {
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers", ErrInvalidConfig)
	}
	tr := newTransport(c.Dialer, 0)
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.Topic}})
	if err != nil {
		return nil, fmt.Errorf("%s: metadata: %w", c.Topic, err)
	}
	for _, t := range meta.Topics {
		if t.Name != c.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("%s: %w", c.Topic, t.Error)
		}
		ids := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
		sort.Ints(ids)
		return ids, nil
	}
	return nil, fmt.Errorf("%s: no such topic", c.Topic)
}

// Ends returns, per partition, the offset after the topic's last record.
func (c ScanConfig) Ends(ctx context.Context) (map[int]int64, error) {
	parts, err := c.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	ends := make(map[int]int64, len(parts))
	for _, p := range parts {
		conn, err := c.leader(ctx, p)
		if err != nil {
			return nil, err
		}
		_, end, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("%s partition %d: offsets: %w", c.Topic, p, err)
		}
		ends[p] = end
	}
	return ends, nil
}

// scanStalls bounds the empty reads in a row a scan accepts before it
// reports a partition that does not move.
const scanStalls = 20

// Scan calls fn with every record of the topic, partition by partition, in
// offset order, from the first record (or the first at or after Since) up
// to the end each partition has when its read starts: records written
// meanwhile are not read. An error of fn stops the scan and is returned.
// Offsets of a compacted topic have gaps; they are skipped.
func (c ScanConfig) Scan(ctx context.Context, fn func(m kafka.Message) error) error {
	parts, err := c.Partitions(ctx)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := c.scanPartition(ctx, p, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c ScanConfig) scanPartition(ctx context.Context, p int, fn func(m kafka.Message) error) error {
	conn, err := c.leader(ctx, p)
	if err != nil {
		return err
	}
	defer conn.Close()
	first, end, err := conn.ReadOffsets()
	if err != nil {
		return fmt.Errorf("%s partition %d: offsets: %w", c.Topic, p, err)
	}
	next := first
	if !c.Since.IsZero() {
		switch off, err := conn.ReadOffset(c.Since); {
		case err != nil:
		case off < 0:
			next = end // no record at or after Since
		case off > next:
			next = off
		}
	}
	stalls := 0
	for next < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := conn.Seek(next, kafka.SeekAbsolute); err != nil {
			return fmt.Errorf("%s partition %d: seek %d: %w", c.Topic, p, next, err)
		}
		before := next
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		for {
			m, err := batch.ReadMessage()
			if err != nil || m.Offset >= end {
				break
			}
			next = m.Offset + 1
			m.Topic, m.Partition = c.Topic, p
			if err := fn(m); err != nil {
				batch.Close()
				return err
			}
		}
		if err := batch.Close(); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s partition %d: read: %w", c.Topic, p, err)
		}
		if off := batch.Offset(); off > next {
			next = off // a compacted gap
		}
		if next == before {
			if stalls++; stalls > scanStalls {
				return fmt.Errorf("%s partition %d: no progress at offset %d of %d", c.Topic, p, next, end)
			}
			continue
		}
		stalls = 0
	}
	return nil
}

// Follow calls fn with every record of the topic written from the
// offsets in from on (a partition missing from from starts at its
// first record), as they come, until ctx ends or fn returns an error or
// ErrStopFollow (then Follow returns nil). fn is called from one
// goroutine per partition, so it must be safe for concurrent use.
func (c ScanConfig) Follow(ctx context.Context, from map[int]int64, fn func(m kafka.Message) error) error {
	parts, err := c.Partitions(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{}, len(parts))
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Dialer: c.Dialer, Topic: c.Topic, Partition: p})
		start, ok := from[p]
		if !ok {
			start = kafka.FirstOffset
		}
		if err := r.SetOffset(start); err != nil {
			r.Close()
			return err
		}
		go func() {
			defer func() { r.Close(); done <- struct{}{} }()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						cancel(fmt.Errorf("%s partition %d: %w", c.Topic, p, err))
					}
					return
				}
				if err := fn(m); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	for range parts {
		<-done
	}
	err = context.Cause(ctx)
	if errors.Is(err, ErrStopFollow) {
		return nil
	}
	return err
}

// ErrStopFollow, returned by Follow's fn, ends Follow without an error.
var ErrStopFollow = errors.New("stop following")
