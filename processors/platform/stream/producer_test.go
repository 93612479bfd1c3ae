package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	apiversionsAPI "github.com/segmentio/kafka-go/protocol/apiversions"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeBroker is a kafka.RoundTripper that answers metadata, API versions
// and produce requests from memory. refuse decides each produce request's
// fate from its topic, partition and values: an error code (0 accepts),
// or down=true for a connection refused.
type fakeBroker struct {
	mu         sync.Mutex
	partitions map[string]int
	refuse     func(tp topicPartition, values []string, attempt int) (code kafka.Error, down bool)
	attempts   map[topicPartition]int
	written    map[topicPartition][]string
	requests   int
	down       bool // every request fails at the network level
}

func newFakeBroker(partitions map[string]int) *fakeBroker {
	return &fakeBroker{partitions: partitions, attempts: map[topicPartition]int{}, written: map[topicPartition][]string{}}
}

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func (f *fakeBroker) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeBroker) values(topic string, p int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.written[topicPartition{topic, p}])
}

func (f *fakeBroker) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, errRefused
	}
	switch r := req.(type) {
	case *apiversionsAPI.Request:
		return &apiversionsAPI.Response{}, nil
	case *metadataAPI.Request:
		res := &metadataAPI.Response{Brokers: []metadataAPI.ResponseBroker{{NodeID: 1, Host: "fake", Port: 9092}}}
		for _, name := range r.TopicNames {
			t := metadataAPI.ResponseTopic{Name: name}
			n, ok := f.partitions[name]
			if !ok {
				t.ErrorCode = int16(kafka.UnknownTopicOrPartition)
			}
			for p := range n {
				t.Partitions = append(t.Partitions, metadataAPI.ResponsePartition{PartitionIndex: int32(p), LeaderID: 1})
			}
			res.Topics = append(res.Topics, t)
		}
		return res, nil
	case *produceAPI.Request:
		rt, rp := r.Topics[0], r.Topics[0].Partitions[0]
		tp := topicPartition{rt.Topic, int(rp.Partition)}
		var values []string
		for {
			rec, err := rp.RecordSet.Records.ReadRecord()
			if err != nil {
				break
			}
			v, _ := kafka.ReadAll(rec.Value)
			values = append(values, string(v))
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests++
		f.attempts[tp]++
		if f.refuse != nil {
			code, down := f.refuse(tp, values, f.attempts[tp])
			if down {
				return nil, errRefused
			}
			if code != 0 {
				return &produceAPI.Response{Topics: []produceAPI.ResponseTopic{{Topic: tp.topic,
					Partitions: []produceAPI.ResponsePartition{{Partition: int32(tp.partition), ErrorCode: int16(code)}}}}}, nil
			}
		}
		base := int64(len(f.written[tp]))
		f.written[tp] = append(f.written[tp], values...)
		return &produceAPI.Response{Topics: []produceAPI.ResponseTopic{{Topic: tp.topic,
			Partitions: []produceAPI.ResponsePartition{{Partition: int32(tp.partition), BaseOffset: base}}}}}, nil
	}
	return nil, fmt.Errorf("fake broker: unexpected request %T", req)
}

func testProducer(t *testing.T, f *fakeBroker, cfg ProducerConfig) *Producer {
	t.Helper()
	cfg.Brokers = []string{"fake:9092"}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := newProducer(cfg, f)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func valuesAt(topic string, p int, values ...string) []kafka.Message {
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = AtPartition(kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte(v)}, p)
	}
	return msgs
}

// A broker away for longer than kafka-go's attempts last pauses producing:
// nothing is dropped and the partition's order holds. Before, the writer
// gave up on the first batch after 10 attempts and wrote the second.
func TestProducerRetriesRetriableErrorsWithoutEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(attempt int) (kafka.Error, bool)
	}{
		{"unreachable", func(int) (kafka.Error, bool) { return 0, true }},
		{"not enough replicas", func(int) (kafka.Error, bool) { return kafka.NotEnoughReplicas, false }},
		{"leader not available", func(int) (kafka.Error, bool) { return kafka.LeaderNotAvailable, false }},
		{"request timed out", func(int) (kafka.Error, bool) { return kafka.RequestTimedOut, false }},
		{"broker not available", func(int) (kafka.Error, bool) { return kafka.BrokerNotAvailable, false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBroker(map[string]int{"out": 1})
			f.refuse = func(_ topicPartition, values []string, attempt int) (kafka.Error, bool) {
				// the first batch fails 25 times; the second would go through
				if values[0] == "0" && attempt <= 25 {
					return tc.fail(attempt)
				}
				return 0, false
			}
			p := testProducer(t, f, ProducerConfig{BatchSize: 2})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := p.Produce(ctx, valuesAt("out", 0, "0", "1", "2", "3")...); err != nil {
				t.Fatalf("Produce: %v", err)
			}
			if got := f.values("out", 0); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
				t.Fatalf("written %v, want 0..3 in order", got)
			}
			if h := p.Health(); h.Retries < 25 || h.PausedPartitions != 0 {
				t.Fatalf("health after recovery: %+v", h)
			}
		})
	}
}

// A record the broker refuses comes back by index; the others of its
// request are written, in order, before anything later on the partition.
func TestProducerRefusedRecordComesBackPerMessage(t *testing.T) {
	for _, code := range []kafka.Error{kafka.MessageSizeTooLarge, kafka.InvalidRecord, kafka.InvalidMessage, kafka.InvalidTimestamp} {
		t.Run(code.Title(), func(t *testing.T) {
			f := newFakeBroker(map[string]int{"out": 2})
			f.refuse = func(_ topicPartition, values []string, _ int) (kafka.Error, bool) {
				for _, v := range values {
					if strings.HasPrefix(v, "bad") {
						return code, false
					}
				}
				return 0, false
			}
			p := testProducer(t, f, ProducerConfig{BatchTimeout: 20 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			msgs := append(valuesAt("out", 0, "a", "bad1", "c", "d", "e", "bad2", "g"), valuesAt("out", 1, "x")...)
			err := p.Produce(ctx, msgs...)
			var pe *ProduceError
			if !errors.As(err, &pe) {
				t.Fatalf("Produce: %v, want a *ProduceError", err)
			}
			if pe.Messages != 8 || len(pe.Failed) != 2 || pe.Failed[0].Index != 1 || pe.Failed[1].Index != 5 {
				t.Fatalf("ProduceError = %+v, want indexes 1 and 5 of 8", pe)
			}
			if !errors.Is(err, code) || !errors.Is(err, ErrProduce) || !errors.Is(pe.Failed[0].Err, code) {
				t.Fatalf("errors.Is(%v, %v) = false", err, code)
			}
			if got := f.values("out", 0); !slices.Equal(got, []string{"a", "c", "d", "e", "g"}) {
				t.Fatalf("partition 0 has %v, want a c d e g", got)
			}
			if got := f.values("out", 1); !slices.Equal(got, []string{"x"}) {
				t.Fatalf("partition 1 has %v", got)
			}
			// the producer goes on
			if err := p.Produce(ctx, valuesAt("out", 0, "h")...); err != nil {
				t.Fatal(err)
			}
			if got := f.values("out", 0); got[len(got)-1] != "h" {
				t.Fatalf("partition 0 has %v", got)
			}
			if h := p.Health(); h.Refused != 2 {
				t.Fatalf("refused = %d, want 2", h.Refused)
			}
		})
	}
}

// A record larger than BatchBytes is refused before it is sent and does not
// fail the call (kafka-go fails the whole call with MessageTooLargeError).
func TestProducerRefusesOversizeRecordAlone(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	p := testProducer(t, f, ProducerConfig{BatchBytes: 1000})
	big := strings.Repeat("x", 1000)
	err := p.Produce(context.Background(), valuesAt("out", 0, "a", big, "b")...)
	var pe *ProduceError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Index != 1 || !errors.Is(err, kafka.MessageSizeTooLarge) {
		t.Fatalf("Produce: %v", err)
	}
	if got := f.values("out", 0); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("written %v", got)
	}
	if err := p.Produce(context.Background(), valuesAt("out", 0, big)...); !errors.As(err, &pe) || pe.Messages != 1 {
		t.Fatalf("Produce of the big record alone: %v", err)
	}
}

// maxRecordBytes must be kafka-go's own measure: one byte off and
// WriteMessages fails whole calls.
func TestMaxRecordBytesIsKafkaGos(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	for _, m := range []kafka.Message{
		{Topic: "out", Value: []byte("v")},
		{Topic: "out", Key: []byte("key"), Value: make([]byte, 300)},
		{Topic: "out", Key: make([]byte, 200), Value: make([]byte, 70), Headers: []kafka.Header{
			{Key: "postbackd-source", Value: make([]byte, 130)}, {Key: "i", Value: []byte{1}}}},
	} {
		size := maxRecordBytes(&m)
		for _, limit := range []int64{size, size - 1} {
			w := &kafka.Writer{Addr: kafka.TCP("fake:9092"), Transport: f, BatchBytes: limit, BatchTimeout: time.Millisecond}
			err := w.WriteMessages(context.Background(), m)
			var tooLarge kafka.MessageTooLargeError
			if tooLarge := errors.As(err, &tooLarge); tooLarge != (limit < size) {
				t.Fatalf("size %d, BatchBytes %d: kafka-go says %v", size, limit, err)
			}
			_ = w.Close()
		}
	}
}

// Any other refusal stops the producer: nothing more lands on the
// partition, not even the call's later batch the broker would take.
func TestProducerFatalErrorStopsSending(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	f.refuse = func(_ topicPartition, values []string, _ int) (kafka.Error, bool) {
		if values[0] == "0" {
			return kafka.TopicAuthorizationFailed, false
		}
		return 0, false
	}
	p := testProducer(t, f, ProducerConfig{BatchSize: 2})
	err := p.Produce(context.Background(), valuesAt("out", 0, "0", "1", "2", "3")...)
	var pe *ProduceError
	if errors.As(err, &pe) || !errors.Is(err, ErrProducerFailed) || !errors.Is(err, ErrProduce) || !errors.Is(err, kafka.TopicAuthorizationFailed) {
		t.Fatalf("Produce: %v, want ErrProducerFailed", err)
	}
	if got := f.values("out", 0); len(got) != 0 {
		t.Fatalf("written %v after a fatal refusal", got)
	}
	if err := p.Produce(context.Background(), valuesAt("out", 0, "4")...); !errors.Is(err, ErrProducerFailed) {
		t.Fatalf("Produce after failure: %v", err)
	}
	if ok, why := p.Ready(); ok {
		t.Fatalf("ready after failure: %s", why)
	}
}

// With MaxAttempts set, running out of attempts also stops the producer
// rather than write what was queued behind.
func TestProducerMaxAttemptsFailsRatherThanReorder(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	f.refuse = func(_ topicPartition, values []string, _ int) (kafka.Error, bool) {
		return 0, values[0] == "0"
	}
	p := testProducer(t, f, ProducerConfig{BatchSize: 2, MaxAttempts: 3})
	if err := p.Produce(context.Background(), valuesAt("out", 0, "0", "1", "2", "3")...); !errors.Is(err, ErrProducerFailed) {
		t.Fatalf("Produce: %v", err)
	}
	if got := f.values("out", 0); len(got) != 0 {
		t.Fatalf("written %v", got)
	}
}

func TestProducerUnknownExplicitPartitionFailsAtOnce(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 2})
	p := testProducer(t, f, ProducerConfig{})
	err := p.Produce(context.Background(), valuesAt("out", 2, "a")...)
	if !errors.Is(err, ErrProduce) || !strings.Contains(err.Error(), "no partition 2") {
		t.Fatalf("Produce: %v", err)
	}
	if f.requests != 0 {
		t.Fatalf("%d produce requests sent", f.requests)
	}
	if err := p.Produce(context.Background(), valuesAt("out", 1, "a")...); err != nil {
		t.Fatalf("the producer must go on: %v", err)
	}
}

// A cancelled Produce leaves its records queued: they are written when the
// broker is back, ahead of what is produced next.
func TestProducerCancelledRecordsStayAheadOfLaterOnes(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	p := testProducer(t, f, ProducerConfig{})
	if err := p.Produce(context.Background(), valuesAt("out", 0, "warm")...); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.refuse = func(topicPartition, []string, int) (kafka.Error, bool) { return 0, true }
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Produce(ctx, valuesAt("out", 0, "a", "b")...); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrProduce) {
		t.Fatalf("Produce during the outage: %v", err)
	}
	f.mu.Lock()
	f.refuse = nil
	f.mu.Unlock()
	if err := p.Produce(context.Background(), valuesAt("out", 0, "c")...); err != nil {
		t.Fatal(err)
	}
	if got := f.values("out", 0); !slices.Equal(got, []string{"warm", "a", "b", "c"}) {
		t.Fatalf("written %v", got)
	}
}

// The metadata the writer needs before it queues anything cannot be had
// either while the broker is away: that is waited for as well.
func TestProducerWaitsForMetadata(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	f.setDown(true)
	p := testProducer(t, f, ProducerConfig{})
	done := make(chan error, 1)
	go func() { done <- p.Produce(context.Background(), kafka.Message{Topic: "out", Value: []byte("a")}) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Produce returned during the outage: %v", err)
	default:
	}
	f.setDown(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Close during an outage gives up after CloseTimeout and says so; the
// Produce waiting on it returns.
func TestProducerCloseDuringOutageIsBounded(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	core, logs := observer.New(zap.WarnLevel)
	p := testProducer(t, f, ProducerConfig{CloseTimeout: 200 * time.Millisecond, WriteTimeout: time.Second, Logger: zap.New(core)})
	if err := p.Produce(context.Background(), valuesAt("out", 0, "warm")...); err != nil {
		t.Fatal(err)
	}
	// produce requests fail; metadata, which the real transport caches,
	// still answers, so the records are queued in the writer
	f.mu.Lock()
	f.refuse = func(topicPartition, []string, int) (kafka.Error, bool) { return 0, true }
	f.mu.Unlock()
	produced := make(chan error, 1)
	go func() { produced <- p.Produce(context.Background(), valuesAt("out", 0, "a")...) }()
	time.Sleep(100 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if !errors.Is(err, ErrProducerClosed) {
			t.Fatalf("Close: %v, want ErrProducerClosed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close hangs while the broker is away")
	}
	if err := <-produced; !errors.Is(err, ErrProducerClosed) {
		t.Fatalf("Produce: %v", err)
	}
	if logs.FilterMessageSnippet("abandoning").Len() != 1 {
		t.Fatalf("no warning about abandoned records: %v", logs.All())
	}
	if err := p.Produce(context.Background(), valuesAt("out", 0, "b")...); !errors.Is(err, ErrProducerClosed) {
		t.Fatalf("Produce after Close: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errClass
	}{
		{errRefused, classRetry},
		{context.DeadlineExceeded, classRetry},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), classRetry},
		{errors.New("EOF"), classRetry},
		{kafka.NotLeaderForPartition, classRetry},
		{kafka.NotEnoughReplicasAfterAppend, classRetry},
		{kafka.UnknownTopicOrPartition, classRetry},
		{kafka.MessageSizeTooLarge, classRecord},
		{kafka.InvalidMessage, classRecord}, // kafka-go calls it temporary
		{kafka.InvalidRecord, classRecord},
		{kafka.TopicAuthorizationFailed, classFatal},
		{kafka.SASLAuthenticationFailed, classFatal},
		{ErrProducerClosed, classFatal},
		{context.Canceled, classFatal},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestBrokerHealthTransitionsAndLogs(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := newBrokerHealth(zap.New(core))
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	tp := &topicPartition{"out", 3}
	at := func(d time.Duration) { now = time.Unix(1000, 0).Add(d) }

	h.observe(tp, errRefused) // one failed request is not an outage
	if s := h.snapshot(); !s.BrokerUp || s.PausedPartitions != 1 {
		t.Fatalf("after one failure: %+v", s)
	}
	at(time.Second)
	h.observe(tp, nil)
	if s := h.snapshot(); !s.BrokerUp || s.PausedPartitions != 0 || logs.Len() != 0 {
		t.Fatalf("a reconnect logged or paused: %+v %v", s, logs.All())
	}
	for i := range 40 {
		at(10*time.Second + time.Duration(i)*time.Second)
		h.observe(tp, errRefused)
	}
	s := h.snapshot()
	if s.BrokerUp || s.DownSince != time.Unix(1010, 0) || s.Retries != 41 {
		t.Fatalf("during the outage: %+v", s)
	}
	if ok, why := s.ready(now); ok || !strings.Contains(why, "unreachable for 39s") {
		t.Fatalf("ready = %v %q", ok, why)
	}
	// one warning when it starts, one 30 s later
	if n := logs.FilterMessageSnippet("unreachable").Len(); n != 2 {
		t.Fatalf("%d outage warnings, want 2: %v", n, logs.All())
	}
	at(time.Minute)
	h.observe(tp, nil)
	if s := h.snapshot(); !s.BrokerUp || s.PausedPartitions != 0 {
		t.Fatalf("after the outage: %+v", s)
	}
	if logs.FilterMessageSnippet("answers again").Len() != 1 {
		t.Fatalf("no recovery line: %v", logs.All())
	}

	// the broker answers, but with a retriable error: paused, not down
	at(2 * time.Minute)
	h.observe(tp, kafka.NotEnoughReplicas)
	at(2*time.Minute + 6*time.Second)
	h.observe(tp, kafka.NotEnoughReplicas)
	s = h.snapshot()
	if ok, why := s.ready(now); !s.BrokerUp || ok || !strings.Contains(why, "paused for 6s") {
		t.Fatalf("paused: %+v, ready %v %q", s, ok, why)
	}
	if logs.FilterMessageSnippet("producing paused").Len() != 1 {
		t.Fatalf("no pause line: %v", logs.All())
	}
	h.observe(tp, nil)
	if logs.FilterMessageSnippet("producing resumed").Len() != 1 {
		t.Fatalf("no resume line: %v", logs.All())
	}
}

// The probe shows an outage while nothing is produced.
func TestProducerProbeSeesAnIdleOutage(t *testing.T) {
	f := newFakeBroker(map[string]int{"out": 1})
	p := testProducer(t, f, ProducerConfig{ProbeInterval: 10 * time.Millisecond})
	if ok, why := p.Ready(); !ok {
		t.Fatalf("not ready at start: %s", why)
	}
	f.setDown(true)
	deadline := time.Now().Add(time.Minute)
	for {
		if h := p.Health(); !h.BrokerUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe never saw the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, _ := p.Ready(); ok {
		t.Fatal("ready while the broker is away")
	}
	f.setDown(false)
	for {
		if ok, _ := p.Ready(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe never saw the broker back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
