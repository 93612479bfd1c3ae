package sinkstage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/state"
)

// limitProducer is stream.Producer in miniature: it writes records up to
// limit bytes of value and refuses larger ones with a
// *stream.ProduceError, writing the others; fail, while set, fails every
// call as a closed or failed producer does.
type limitProducer struct {
	limit int

	mu      sync.Mutex
	fail    error
	calls   int
	written []kafka.Message
}

func (p *limitProducer) Produce(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.fail != nil {
		return p.fail
	}
	var pe stream.ProduceError
	for i, m := range msgs {
		if len(m.Value) > p.limit {
			pe.Failed = append(pe.Failed, stream.MessageError{Index: i, Err: kafka.MessageSizeTooLarge})
			continue
		}
		p.written = append(p.written, m)
	}
	if len(pe.Failed) > 0 {
		pe.Messages = len(msgs)
		return &pe
	}
	return nil
}

func (p *limitProducer) topics() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := make(map[string]int)
	for _, m := range p.written {
		n[m.Topic]++
	}
	return n
}

var _ stage.Producer = (*limitProducer)(nil)

func msg(topic string, size int) kafka.Message {
	return kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte(strings.Repeat("v", size))}
}

// TestProduceRefusesOnlyTheRecordAtFault: the records the producer refused
// for good come back by index with their error; any other failure is an
// error.
func TestProduceRefusesOnlyTheRecordAtFault(t *testing.T) {
	p := &limitProducer{limit: 100}
	refused, err := produce(context.Background(), p, []kafka.Message{msg("a", 10), msg("b", 1000), msg("c", 10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || refused[0].i != 1 || !errors.Is(refused[0].err, kafka.MessageSizeTooLarge) {
		t.Fatalf("refused %+v, want record 1 for its size", refused)
	}
	if n := p.topics(); n["a"] != 1 || n["c"] != 1 || n["b"] != 0 {
		t.Fatalf("written %v, want a and c once", n)
	}
	p.fail = fmt.Errorf("%w: %w", stream.ErrProduce, stream.ErrProducerFailed)
	if refused, err := produce(context.Background(), p, []kafka.Message{msg("a", 10)}); err == nil || refused != nil {
		t.Fatalf("failed producer: refused %v, err %v; want the error", refused, err)
	}
}

func testPublisher(p stage.Producer) *publisher {
	return &publisher{producer: p, json: true, log: zap.NewNop(), metrics: stage.NewMetrics(nil),
		topics: config.Topics{DeliveryLog: "log", DeliveryDeadletter: "dead", DeliveryRetry: "retry"}}
}

// TestPublisherReplacesRefusedRecords: an entry, a retry or a deadletter
// the broker refuses is replaced by a stub (a retry by a deadletter), and
// the publisher reports no error: one record does not stop the sink.
func TestPublisherReplacesRefusedRecords(t *testing.T) {
	ctx := context.Background()
	p := &limitProducer{limit: 1500}
	pub := testPublisher(p)
	job := partner.Job{Partner: "p", Attempt: 3, Tier: 1}
	job.Record.PostbackID, job.Record.EventID = "pb1", "e1"
	job.Record.Params = map[string]string{"big": strings.Repeat("x", 5000)}

	err := pub.PublishLog(ctx, []partner.DeliveryLogEntry{
		{PostbackID: "pb0", Partner: "p", Outcome: partner.OutcomeDelivered},
		{PostbackID: "pb1", Partner: "p", Outcome: partner.OutcomeDelivered, URL: strings.Repeat("u", 2000)},
	})
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	if err := pub.ScheduleRetry(ctx, 0, job); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if err := pub.DeadLetter(ctx, job, "status 400"); err != nil {
		t.Fatalf("deadletter: %v", err)
	}
	n := p.topics()
	// log: pb0, pb1's stub, the retry's deadlettered entry; dead: a stub
	// for the retry and one for the deadletter.
	if n["log"] != 3 || n["dead"] != 2 || n["retry.1"] != 0 {
		t.Fatalf("written %v, want 3 entries, 2 deadletters, no retry", n)
	}
	for _, m := range p.written {
		v := string(m.Value)
		switch m.Topic {
		case "log":
			if strings.Contains(v, `"pb1"`) && (strings.Contains(v, "uuu") || !strings.Contains(v, "refused by the broker")) {
				t.Errorf("entry %s, want a stub with the refusal", v)
			}
		case "dead":
			if strings.Contains(v, "xxx") || !strings.Contains(v, `"trimmed":true`) || !strings.Contains(v, `"EventID":"e1"`) {
				t.Errorf("deadletter %s, want a trimmed stub", v)
			}
		}
	}
	// A failed producer is an error, not a refusal.
	p.fail = fmt.Errorf("%w: %w", stream.ErrProduce, stream.ErrProducerFailed)
	if err := pub.DeadLetter(ctx, job, "x"); err == nil {
		t.Fatal("deadletter with the broker away: no error")
	}
}

// TestPartStoreRecordsAndGroups: Record returns once the marks are on the
// changelog, at the store's partition, and in the store; Records that
// arrive while one is being written go together in the next round. The
// entries reach the delivery log by the next flush. A round that fails
// fails each of its callers and applies nothing.
func TestPartStoreRecordsAndGroups(t *testing.T) {
	gate := make(chan struct{})
	p := &gatedProducer{limitProducer: limitProducer{limit: 1 << 20}, gate: gate, entered: make(chan struct{})}
	logs := &limitProducer{limit: 1 << 20}
	ps := &partStore{Store: state.NewMemory(), partition: 2, pub: testPublisher(p), changelog: "cl", log: zap.NewNop(),
		logs: logQueue{pub: testPublisher(logs)}}
	ctx := context.Background()
	mark := func(i int) ([]state.Write, []partner.DeliveryLogEntry) {
		id := fmt.Sprint("pb", i)
		return []state.Write{{Key: partner.DedupKey("p", id), Value: []byte("{}")}},
			[]partner.DeliveryLogEntry{{PostbackID: id, Partner: "p", Outcome: partner.OutcomeDelivered}}
	}
	const n = 5
	errs := make(chan error, n)
	go func() { w, e := mark(0); errs <- ps.Record(ctx, w, e) }()
	<-p.entered // the first round is being written
	for i := 1; i < n; i++ {
		go func() { w, e := mark(i); errs <- ps.Record(ctx, w, e) }()
	}
	for waiting := 0; waiting < n-1; {
		time.Sleep(time.Millisecond)
		ps.mu.Lock()
		waiting = len(ps.queue)
		ps.mu.Unlock()
	}
	close(gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := ps.Get(partner.DedupKey("p", fmt.Sprint("pb", i))); err != nil {
			t.Errorf("pb%d: no mark in the store: %v", i, err)
		}
	}
	if err := ps.logs.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if tn, ln := p.topics(), logs.topics(); tn["cl"] != n || len(tn) != 1 || ln["log"] != n {
		t.Errorf("written %v by the rounds and %v by the log queue, want %d marks and %d entries", tn, ln, n, n)
	}
	at2 := stream.AtPartition(kafka.Message{}, 2).WriterData
	for _, m := range p.written {
		if !reflect.DeepEqual(m.WriterData, at2) {
			t.Errorf("mark addressed to %v, want the store's partition 2", m.WriterData)
		}
	}
	if p.calls != 2 {
		t.Errorf("%d produce calls, want 2: one for the first mark, one for the four that came meanwhile", p.calls)
	}

	p.mu.Lock()
	p.fail = fmt.Errorf("%w: %w", stream.ErrProduce, stream.ErrProducerClosed)
	p.mu.Unlock()
	w, e := mark(9)
	if err := ps.Record(ctx, w, e); err == nil {
		t.Fatal("Record with the producer closed: no error")
	}
	if _, err := ps.Get(w[0].Key); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a failed round's mark is in the store (err %v)", err)
	}
}

// gatedProducer holds its first call, after writing it, until gate is
// closed.
type gatedProducer struct {
	limitProducer
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (g *gatedProducer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	first := false
	g.once.Do(func() { first = true })
	err := g.limitProducer.Produce(ctx, msgs...)
	if first {
		close(g.entered)
		<-g.gate
	}
	return err
}

// TestLogQueueFlush: flush returns once the entries queued before it are
// published; a failed publish is reported by the next flush, and its
// entries are published by the one after.
func TestLogQueueFlush(t *testing.T) {
	ctx := context.Background()
	p := &limitProducer{limit: 1 << 20}
	q := &logQueue{pub: testPublisher(p)}
	if err := q.flush(ctx); err != nil {
		t.Fatalf("flush of nothing: %v", err)
	}
	entry := func(id string) []partner.DeliveryLogEntry {
		return []partner.DeliveryLogEntry{{PostbackID: id, Partner: "p", Outcome: partner.OutcomeDelivered}}
	}
	for i := range 10 {
		q.add(entry(fmt.Sprint("pb", i)))
	}
	if err := q.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.topics()["log"]; n != 10 {
		t.Fatalf("%d entries published by flush, want 10", n)
	}
	p.mu.Lock()
	p.fail = errors.New("broker away")
	p.mu.Unlock()
	q.add(entry("late"))
	if err := q.flush(ctx); err == nil {
		t.Fatal("flush after a failed publish: no error")
	}
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()
	if err := q.flush(ctx); err != nil {
		t.Fatalf("flush once the broker is back: %v", err)
	}
	if n := p.topics()["log"]; n != 11 {
		t.Fatalf("%d entries published, want 11", n)
	}
}

// TestJobsSkipsUnusablePostbackIDs: a classified record without a
// postback_id, or with one longer than MaxPostbackIDBytes (the key of its
// dedup mark and of every record the sink writes for it), is skipped like
// an undecodable one, and the records around it are kept.
func TestJobsSkipsUnusablePostbackIDs(t *testing.T) {
	cfg := &config.Config{Topics: config.Topics{Classified: "cl", DeliveryRetry: "retry"}}
	env := stage.Env{Config: cfg, Logger: zap.NewNop(), Metrics: stage.NewMetrics(nil)}
	h := &handler{env: env, partner: "a", known: map[string]bool{"a": true}, first: true, jobsTopic: "cl"}
	rec := func(off int64, id string) kafka.Message {
		r := schemas.Classified{PostbackID: id, Type: schemas.TypeInstall, EventID: "e", AppID: "app", DeviceID: "d"}
		return kafka.Message{Offset: off, Value: schemas.AppendClassifiedJSON(nil, &r)}
	}
	b := stream.Batch{Topic: "cl", Messages: []kafka.Message{
		rec(0, "ok-1"), rec(1, ""), rec(2, strings.Repeat("x", MaxPostbackIDBytes+1)), rec(3, "ok-2"),
	}}
	js, err := h.jobs(context.Background(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].Record.PostbackID != "ok-1" || js[1].Record.PostbackID != "ok-2" {
		t.Fatalf("jobs %+v, want ok-1 and ok-2 only", js)
	}
}

// TestFanoutRoutesEachRecordOnce: the fan-out hands a record to each
// partner with a rule that takes it, on that partner's jobs topic, as the
// classified record's own bytes and key, with its headers (the arrival
// from its timestamp when it has none); it skips records without a usable
// postback_id; and it never decodes a record more than once.
func TestFanoutRoutesEachRecordOnce(t *testing.T) {
	cfg := &config.Config{Topics: config.Topics{Classified: "cl", DeliveryJobs: "jobs"}}
	env := stage.Env{Config: cfg, Logger: zap.NewNop(), Metrics: stage.NewMetrics(nil)}
	router, err := partner.NewRouter(partner.Config{AllowPrivateNetworks: true, Partners: []partner.PartnerConfig{
		{ID: "a", Rules: []partner.RuleConfig{{Types: []string{"install"}, Mode: partner.ModeAttributed, URL: "http://127.0.0.1/a"}}},
		{ID: "b:x", Rules: []partner.RuleConfig{{Types: []string{"install", "purchase"}, Mode: partner.ModeAll, URL: "http://127.0.0.1/b"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fanout{env: env, router: router, classified: "cl"}
	for _, id := range router.Partners() {
		f.jobs = append(f.jobs, JobsTopic(cfg.Topics, id))
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := func(id, typ, attributed string, hs ...kafka.Header) kafka.Message {
		r := schemas.Classified{PostbackID: id, Type: typ, EventID: "e", AppID: "app", DeviceID: "d",
			Attribution: schemas.Attribution{Partner: attributed, Touch: schemas.TouchClick}}
		return kafka.Message{Topic: "cl", Key: []byte(id), Value: schemas.AppendClassifiedJSON(nil, &r), Time: at, Headers: hs}
	}
	src := kafka.Header{Key: stage.SourceHeader, Value: []byte("src")}
	arrival := kafka.Header{Key: stage.ArrivalHeader, Value: []byte("1700000000000")}
	in := []kafka.Message{rec("p1", "install", "a", src, arrival), rec("p2", "purchase", "a"), rec("", "install", "a"), rec("p3", "login", "b:x")}
	res, err := f.Process(context.Background(), stage.Input{Topic: "cl", Messages: in})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, m := range res.Outputs {
		got = append(got, fmt.Sprintf("%s %s src=%d", m.Topic, m.Key, res.Sources[i]))
		if !bytes.Equal(m.Value, in[res.Sources[i]].Value) {
			t.Errorf("%s: value changed", m.Key)
		}
		if _, ok := stage.SourceOf(&m); ok {
			t.Errorf("%s: carries a source header of its own (the Processor forwards the input's)", m.Key)
		}
		if a := stage.Arrival(&m); string(m.Key) == "p1" && a.UnixMilli() != 1700000000000 || string(m.Key) == "p2" && !a.Equal(at) {
			t.Errorf("%s: arrival %v", m.Key, a)
		}
	}
	bx := JobsTopic(cfg.Topics, "b:x")
	want := []string{"jobs.a p1 src=0", bx + " p1 src=0", bx + " p2 src=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("jobs %v\nwant %v", got, want)
	}
	if !strings.HasPrefix(bx, "jobs.b_x-") || JobsTopic(cfg.Topics, "b_x") == bx {
		t.Errorf("jobs topic of b:x: %s", bx)
	}
	// Kafka refuses two topics whose names differ only by '.' and '_'.
	collision := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	if a, b := JobsTopic(cfg.Topics, "acme.io"), JobsTopic(cfg.Topics, "acme_io"); collision(a) == collision(b) {
		t.Errorf("jobs topics %s and %s collide in Kafka", a, b)
	}
}

// TestPublisherWritesTheSchemasForms: the delivery log is written in the
// configured format, schemas.DeliveryLog's JSON or Avro form, keyed by
// postback_id, and reads back as the entries were (times to the
// millisecond), a stub's too.
func TestPublisherWritesTheSchemasForms(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 5, 0, 123456789, time.UTC)
	entries := []partner.DeliveryLogEntry{
		{PostbackID: "pb1", Partner: "p", Rule: 1, Attempt: 2, Tier: 1, Method: "GET", URL: "https://p.example/pb?id=REDACTED",
			StatusCode: 503, Error: "status 503", Latency: 1234567 * time.Nanosecond, Outcome: partner.OutcomeRetryScheduled,
			At: at, NextAttempt: at.Add(time.Minute), Response: "busy"},
		{PostbackID: "pb2", Partner: "p", Outcome: partner.OutcomeSkippedDuplicate, At: at},
		// Refused by the producer for its size: a stub replaces it.
		{PostbackID: "pb3", Partner: "p", Attempt: 1, Method: "GET", URL: strings.Repeat("u", 2000), StatusCode: 200,
			Outcome: partner.OutcomeDelivered, At: at, Response: "ok"},
	}
	for _, tt := range []struct {
		json   bool
		decode func([]byte) (schemas.DeliveryLog, error)
	}{
		{true, schemas.DecodeDeliveryLogJSON},
		{false, schemas.DecodeDeliveryLog},
	} {
		p := &limitProducer{limit: 1500}
		pub := testPublisher(p)
		pub.json = tt.json
		if err := pub.PublishLog(context.Background(), entries); err != nil {
			t.Fatal(err)
		}
		if len(p.written) != len(entries) {
			t.Fatalf("json=%v: %d records written, want %d", tt.json, len(p.written), len(entries))
		}
		for i, m := range p.written {
			got, err := tt.decode(m.Value)
			if err != nil {
				t.Fatalf("json=%v: record %d %q: %v", tt.json, i, m.Value, err)
			}
			want := entries[i]
			want.At = at.Truncate(time.Millisecond)
			if !want.NextAttempt.IsZero() {
				want.NextAttempt = want.NextAttempt.Truncate(time.Millisecond)
			}
			if i == 2 { // the stub: no URL, answer or method, the refusal as its error
				if !strings.HasPrefix(got.Error, "delivery-log entry refused by the broker") {
					t.Errorf("json=%v: stub error %q", tt.json, got.Error)
				}
				want.URL, want.Response, want.Method, want.Error = "", "", "", got.Error
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("json=%v: record %d\n got %+v\nwant %+v", tt.json, i, got, want)
			}
			if m.Topic != "log" || string(m.Key) != want.PostbackID {
				t.Errorf("json=%v: record %d on %s keyed %q", tt.json, i, m.Topic, m.Key)
			}
		}
	}
}
