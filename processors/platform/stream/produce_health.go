package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	apiversionsAPI "github.com/segmentio/kafka-go/protocol/apiversions"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"go.uber.org/zap"
)

// errClass is what a produce failure means for the records it hit.
type errClass int

const (
	// classRetry: the broker is away, busy, or moving a leader. The same
	// records are sent again, for as long as the Producer is open.
	classRetry errClass = iota
	// classRecord: the broker refused the records themselves (size,
	// format): sending them again cannot succeed.
	classRecord
	// classFatal: a refusal that will hit every record (authorization, an
	// unsupported request, a closed producer).
	classFatal
)

// classify sorts a produce error. Errors that are not a Kafka error code
// come from the network (refused or reset connections, timeouts, EOF
// while the broker stops) and are retried; so are the codes kafka-go calls
// temporary, except CORRUPT_MESSAGE, which no resend mends.
func classify(err error) errClass {
	var c classified
	if errors.As(err, &c) {
		return c.class
	}
	if errors.Is(err, ErrProducerClosed) || errors.Is(err, ErrProducerFailed) || errors.Is(err, context.Canceled) {
		return classFatal
	}
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return classRetry
	}
	switch ke {
	case kafka.MessageSizeTooLarge, kafka.InvalidRecord, kafka.InvalidMessage, kafka.InvalidTimestamp, kafka.RecordListTooLarge:
		return classRecord
	case kafka.BrokerNotAvailable, kafka.ReplicaNotAvailable:
		return classRetry
	}
	if ke.Temporary() {
		return classRetry
	}
	return classFatal
}

// classified is an error the produce transport has sorted. Temporary tells
// kafka-go's writer whether to send the batch again: only classRetry is,
// so that the writer's own notion of temporary (which includes
// CORRUPT_MESSAGE) does not apply.
type classified struct {
	err       error
	class     errClass
	topic     string
	partition int
}

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() error   { return c.err }
func (c classified) Temporary() bool { return c.class == classRetry }

type topicPartition struct {
	topic     string
	partition int
}

// produceTransport sits between kafka-go's writer and its transport. It
// sorts every produce outcome (see classify) so that the writer retries
// exactly the retriable ones, waits between attempts (kafka-go's own
// back-off is set to nothing: it squares the attempt count and overflows
// after a few days of retrying), stops all sending once the Producer is
// aborted or failed, and tells brokerHealth what it saw.
type produceTransport struct {
	inner  kafka.RoundTripper
	health *brokerHealth
	// stopped returns the reason sending stopped, or nil.
	stopped func() error
	// stopping is closed when sending stops, to cut waits short.
	stopping <-chan struct{}
	backoff  time.Duration // longest wait between attempts
}

func (t *produceTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	switch r := req.(type) {
	case *produceAPI.Request:
		return t.produce(ctx, addr, r)
	case *apiversionsAPI.Request:
		res, err := t.inner.RoundTrip(ctx, addr, req)
		t.health.observe(nil, err)
		return res, err
	default:
		return t.inner.RoundTrip(ctx, addr, req)
	}
}

func (t *produceTransport) produce(ctx context.Context, addr net.Addr, req *produceAPI.Request) (kafka.Response, error) {
	var tp topicPartition
	if len(req.Topics) > 0 && len(req.Topics[0].Partitions) > 0 {
		tp = topicPartition{req.Topics[0].Topic, int(req.Topics[0].Partitions[0].Partition)}
	}
	if err := t.stopped(); err != nil {
		return nil, classified{err: err, class: classFatal, topic: tp.topic, partition: tp.partition}
	}
	res, err := t.inner.RoundTrip(ctx, addr, req)
	if err == nil {
		err = responseError(res)
	}
	attempts := t.health.observe(&tp, err)
	if err == nil {
		return res, nil
	}
	c := classified{err: err, class: classify(err), topic: tp.topic, partition: tp.partition}
	if c.class == classRetry {
		// wait here rather than in the writer: 100 ms doubling to backoff
		wait := t.backoff
		if attempts < 8 {
			wait = min(t.backoff, (100*time.Millisecond)<<(attempts-1))
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-t.stopping:
			timer.Stop()
		}
	}
	return nil, c
}

// responseError returns the first partition error of a produce response.
func responseError(res kafka.Response) error {
	r, ok := res.(*produceAPI.Response)
	if !ok {
		return nil
	}
	for _, topic := range r.Topics {
		for _, p := range topic.Partitions {
			if p.ErrorCode != 0 {
				if p.ErrorMessage != "" {
					return fmt.Errorf("%w: %s", kafka.Error(p.ErrorCode), p.ErrorMessage)
				}
				return kafka.Error(p.ErrorCode)
			}
		}
	}
	return nil
}

// ProducerHealth is what a Producer knows about the broker, for readiness
// and metrics.
type ProducerHealth struct {
	// BrokerUp is false once requests have failed at the network level
	// (no answer at all) for DownAfter without an answer in between.
	BrokerUp bool
	// DownSince is when the current run of unanswered requests began;
	// zero while the broker answers.
	DownSince time.Time
	// PausedPartitions counts the partitions whose records are being sent
	// again after a retriable failure; PausedSince is when the oldest of
	// these pauses began.
	PausedPartitions int
	PausedSince      time.Time
	// LastError is the last retriable failure seen, "" if none yet.
	LastError string
	// Retries counts produce attempts that failed and were retried.
	Retries uint64
	// Refused counts records the broker refused for good (see
	// ProduceError).
	Refused uint64
}

// DownAfter is how long requests must go unanswered before the broker
// counts as down: a pooled connection the broker closed fails one request
// and the next one reconnects, which is not an outage.
const DownAfter = 2 * time.Second

// pausedAfter is how long a partition's records must wait for an ack
// before the producer reports not ready: a leader move pauses a partition
// for a moment.
const pausedAfter = 5 * time.Second

// healthLogEvery bounds how often a continuing outage is logged.
const healthLogEvery = 30 * time.Second

type pause struct {
	since    time.Time
	attempts int
}

// brokerHealth follows the outcomes of produce and probe requests and logs
// the transitions: broker unreachable, still unreachable (every 30 s),
// answering again; producing paused (the broker answers with retriable
// errors), resumed.
type brokerHealth struct {
	log *zap.Logger
	now func() time.Time

	retries atomic.Uint64
	refused atomic.Uint64

	mu           sync.Mutex
	failingSince time.Time // first unanswered request since the last answer
	downLogged   time.Time // when the outage was last logged; zero: not yet
	lastErr      error
	paused       map[topicPartition]*pause
	pauseLogged  time.Time
}

func newBrokerHealth(log *zap.Logger) *brokerHealth {
	return &brokerHealth{log: log, now: time.Now, paused: make(map[topicPartition]*pause)}
}

// observe records the outcome of a request to tp (nil for a probe) and
// returns, for a failed produce, how many attempts in a row failed.
func (h *brokerHealth) observe(tp *topicPartition, err error) int {
	class := classRetry
	if err != nil {
		class = classify(err)
	}
	var ke kafka.Error
	answered := err == nil || errors.As(err, &ke)
	if class == classFatal && !answered {
		answered = true // a closed producer says nothing about the broker
	}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if answered {
		if !h.failingSince.IsZero() && !h.downLogged.IsZero() {
			h.log.Info("kafka broker answers again", zap.Duration("unreachable_for", now.Sub(h.failingSince).Round(time.Millisecond)))
		}
		h.failingSince, h.downLogged = time.Time{}, time.Time{}
	} else {
		h.lastErr = err
		switch {
		case h.failingSince.IsZero():
			h.failingSince = now
		case h.downLogged.IsZero() && now.Sub(h.failingSince) >= DownAfter:
			h.downLogged = now
			h.log.Warn("kafka broker unreachable: producing is paused, records are kept and sent again until it answers",
				zap.Error(err), zap.Duration("unreachable_for", now.Sub(h.failingSince).Round(time.Millisecond)))
		case !h.downLogged.IsZero() && now.Sub(h.downLogged) >= healthLogEvery:
			h.downLogged = now
			h.log.Warn("kafka broker still unreachable", zap.Error(err),
				zap.Duration("unreachable_for", now.Sub(h.failingSince).Round(time.Second)),
				zap.Int("paused_partitions", len(h.paused)), zap.Uint64("retries", h.retries.Load()))
		}
	}
	if tp == nil {
		return 0
	}
	if err == nil || class != classRetry {
		if p, ok := h.paused[*tp]; ok {
			delete(h.paused, *tp)
			if len(h.paused) == 0 && !h.pauseLogged.IsZero() {
				h.log.Info("producing resumed", zap.Duration("paused_for", now.Sub(p.since).Round(time.Millisecond)))
				h.pauseLogged = time.Time{}
			}
		}
		return 0
	}
	h.retries.Add(1)
	h.lastErr = err
	p := h.paused[*tp]
	if p == nil {
		p = &pause{since: now}
		h.paused[*tp] = p
	}
	p.attempts++
	// An unreachable broker is logged above; log the pauses of a broker
	// that answers, but with a retriable error (NOT_ENOUGH_REPLICAS, ...).
	if answered && now.Sub(p.since) >= DownAfter && (h.pauseLogged.IsZero() || now.Sub(h.pauseLogged) >= healthLogEvery) {
		h.pauseLogged = now
		h.log.Warn("producing paused: the broker answers with a retriable error; records are sent again until it accepts them",
			zap.Error(err), zap.String("topic", tp.topic), zap.Int("partition", tp.partition),
			zap.Int("paused_partitions", len(h.paused)), zap.Duration("paused_for", now.Sub(p.since).Round(time.Millisecond)))
	}
	return p.attempts
}

// unpauseAll forgets every pause: the producer stopped sending.
func (h *brokerHealth) unpauseAll() {
	h.mu.Lock()
	clear(h.paused)
	h.mu.Unlock()
}

func (h *brokerHealth) snapshot() ProducerHealth {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := ProducerHealth{
		BrokerUp:         h.failingSince.IsZero() || now.Sub(h.failingSince) < DownAfter,
		PausedPartitions: len(h.paused),
		Retries:          h.retries.Load(),
		Refused:          h.refused.Load(),
	}
	if !s.BrokerUp {
		s.DownSince = h.failingSince
	}
	for _, p := range h.paused {
		if s.PausedSince.IsZero() || p.since.Before(s.PausedSince) {
			s.PausedSince = p.since
		}
	}
	if h.lastErr != nil {
		s.LastError = h.lastErr.Error()
	}
	return s
}

// ready turns a snapshot into a readiness answer.
func (s ProducerHealth) ready(now time.Time) (bool, string) {
	switch {
	case !s.BrokerUp:
		return false, fmt.Sprintf("kafka broker unreachable for %s: %s", now.Sub(s.DownSince).Round(time.Second), s.LastError)
	case s.PausedPartitions > 0 && now.Sub(s.PausedSince) >= pausedAfter:
		return false, fmt.Sprintf("producing to %d partition(s) paused for %s: %s", s.PausedPartitions, now.Sub(s.PausedSince).Round(time.Second), s.LastError)
	}
	return true, "ok"
}
