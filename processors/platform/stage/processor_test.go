package stage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// countLogic writes, per record, a counter under the record's key and
// outputs the record with the count.
type countLogic struct{}

func (countLogic) Process(_ context.Context, in Input) (Result, error) {
	st, msgs := in.Store, in.Messages
	counts := make(map[string]uint64)
	var res Result
	for i, m := range msgs {
		k := string(m.Key)
		if _, ok := counts[k]; !ok {
			v, err := st.Get(m.Key)
			switch {
			case errors.Is(err, state.ErrNotFound):
			case err != nil:
				return res, err
			default:
				counts[k] = binary.BigEndian.Uint64(v)
			}
		}
		counts[k]++
		res.Outputs = append(res.Outputs, kafka.Message{Topic: "out", Key: m.Key, Value: []byte(fmt.Sprint(counts[k]))})
		res.Sources = append(res.Sources, i)
	}
	for k, n := range counts {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, n)
		res.Writes = append(res.Writes, state.Write{Key: []byte(k), Value: v})
	}
	return res, nil
}

type fakeProducer struct {
	fail      error
	failTopic string // fail only calls with a record for this topic
	got       []kafka.Message
	calls     [][]kafka.Message
}

func (f *fakeProducer) Produce(_ context.Context, msgs ...kafka.Message) error {
	for _, m := range msgs {
		if f.fail != nil && (f.failTopic == "" || m.Topic == f.failTopic) {
			return f.fail
		}
	}
	f.calls = append(f.calls, msgs)
	f.got = append(f.got, msgs...)
	return nil
}

func batchOf(first int64, keys ...string) stream.Batch {
	b := stream.Batch{Topic: "in", Partition: 3}
	for i, k := range keys {
		b.Messages = append(b.Messages, kafka.Message{Topic: "in", Partition: 3, Offset: first + int64(i), Key: []byte(k)})
	}
	return b
}

func newTestStateful(t *testing.T, p Producer) (*Processor, state.Store) {
	t.Helper()
	s, err := New(Config{Name: "count", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"}, Producer: p, Logic: countLogic{}})
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	s.keep(3, st)
	return s, st
}

func TestProcessProducesBeforeApplyingStateAndOffset(t *testing.T) {
	p := &fakeProducer{}
	s, st := newTestStateful(t, p)
	if err := s.Process(context.Background(), batchOf(10, "a", "b", "a")); err != nil {
		t.Fatal(err)
	}
	var outputs, changelog int
	for _, m := range p.got {
		switch m.Topic {
		case "out":
			outputs++
		case "cl":
			changelog++
			off, ok := headerOffset(m.Headers)
			if !ok || off != 13 {
				t.Errorf("changelog record carries input offset %d, %v; want 13", off, ok)
			}
		}
	}
	if outputs != 3 || changelog != 2 {
		t.Errorf("produced %d outputs and %d changelog records, want 3 and 2", outputs, changelog)
	}
	if off, ok, _ := st.Offset(inputOffsetName); !ok || off != 13 {
		t.Errorf("stored offset %d, %v; want 13", off, ok)
	}
	v, err := st.Get([]byte("a"))
	if err != nil || binary.BigEndian.Uint64(v) != 2 {
		t.Errorf("state of a = %v, %v; want 2", v, err)
	}
}

// A batch whose outputs were not acknowledged must leave state and offset
// as they were, so that it is processed again from the same state.
func TestProcessFailedProduceChangesNothing(t *testing.T) {
	p := &fakeProducer{fail: errors.New("broker down")}
	s, st := newTestStateful(t, p)
	if err := s.Process(context.Background(), batchOf(0, "a")); err == nil {
		t.Fatal("Process succeeded with a failing producer")
	}
	if _, ok, _ := st.Offset(inputOffsetName); ok {
		t.Error("offset stored although the outputs were not acknowledged")
	}
	if _, err := st.Get([]byte("a")); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("state written although the outputs were not acknowledged: %v", err)
	}
}

func TestProcessSplitsLargeBatchesIntoBoundedTransactions(t *testing.T) {
	p := &fakeProducer{}
	s, st := newTestStateful(t, p)
	keys := make([]string, 2*MaxTxnRecords+5)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	if err := s.Process(context.Background(), batchOf(0, keys...)); err != nil {
		t.Fatal(err)
	}
	if off, _, _ := st.Offset(inputOffsetName); off != int64(len(keys)) {
		t.Errorf("offset %d, want %d", off, len(keys))
	}
}

func TestProcessUnownedPartitionFails(t *testing.T) {
	s, _ := newTestStateful(t, &fakeProducer{})
	b := batchOf(0, "a")
	b.Partition = 7
	if err := s.Process(context.Background(), b); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("err = %v, want ErrNotOwned", err)
	}
}

// tooLarge refuses batches of more than max writes, as Badger does past
// its transaction limit.
type tooLarge struct {
	state.Store
	max     int
	applies int
}

func (s *tooLarge) Apply(b *state.Batch) error {
	if len(b.Writes) > s.max {
		return state.ErrBatchTooLarge
	}
	s.applies++
	return s.Store.Apply(b)
}

func TestApplySplitHalvesRefusedBatches(t *testing.T) {
	st := &tooLarge{Store: state.NewMemory(), max: 3}
	writes := make([]state.Write, 10)
	for i := range writes {
		writes[i] = state.Write{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte("v")}
	}
	if err := applySplit(st, writes, map[string]int64{"input": 9}); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if _, err := st.Get(w.Key); err != nil {
			t.Errorf("%s missing: %v", w.Key, err)
		}
	}
	if off, ok, _ := st.Offset("input"); !ok || off != 9 {
		t.Errorf("offset %d, %v", off, ok)
	}
}

func TestReadyzWaitsForRestores(t *testing.T) {
	r := NewReadiness()
	h := (&HealthServer{Readiness: r, Gatherer: prometheus.NewRegistry()}).Handler()
	status := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if status("/healthz") != http.StatusOK {
		t.Error("healthz not ok")
	}
	if status("/readyz") != http.StatusServiceUnavailable {
		t.Error("ready before start")
	}
	r.MarkStarted()
	r.MarkRestoring("device", 2, true)
	if status("/readyz") != http.StatusServiceUnavailable {
		t.Error("ready while a partition restores")
	}
	r.MarkRestoring("device", 2, false)
	if status("/readyz") != http.StatusOK {
		t.Error("not ready after the restore")
	}
	if status("/metrics") != http.StatusOK {
		t.Error("metrics not served")
	}
}

// The changelog's last record tells a new owner where to resume, so it
// must not be written for a batch whose outputs could still be lost: the
// outputs are acknowledged first, in a call of their own.
func TestChangelogOnlyAfterOutputsAcknowledged(t *testing.T) {
	p := &fakeProducer{fail: errors.New("leader moved"), failTopic: "out"}
	s, st := newTestStateful(t, p)
	if err := s.Process(context.Background(), batchOf(0, "a", "b")); err == nil {
		t.Fatal("Process succeeded although its outputs failed")
	}
	for _, m := range p.got {
		if m.Topic == "cl" {
			t.Fatalf("changelog written for a batch whose outputs failed")
		}
	}
	if _, ok, _ := st.Offset(inputOffsetName); ok {
		t.Fatal("offset stored for a batch whose outputs failed")
	}

	ok := &fakeProducer{}
	s, _ = newTestStateful(t, ok)
	if err := s.Process(context.Background(), batchOf(0, "a", "b")); err != nil {
		t.Fatal(err)
	}
	if len(ok.calls) != 2 || ok.calls[0][0].Topic != "out" || ok.calls[1][0].Topic != "cl" {
		t.Fatalf("want outputs then changelog in two calls, got %d calls", len(ok.calls))
	}
}

// keep makes p own partition part with st, as an assignment would.
func (p *Processor) keep(part int, st state.Store) error {
	m, err := LoadSourceMarks(st, p.cfg.MarksKey)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.stores[part] = &owned{refs: 1, store: st, marks: m}
	p.mu.Unlock()
	return nil
}
