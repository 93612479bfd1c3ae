package sinkstage

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/state"
)

// TestKeyFilterKeepsOwnPartner: a partner's store catching up with the
// shared changelog keeps its own partner's markers and the offsets only.
func TestKeyFilterKeepsOwnPartner(t *testing.T) {
	st := state.NewMemory()
	f := &keyFilter{Store: st, prefix: partner.DedupKey("a", "")}
	ws := []state.Write{
		{Key: partner.DedupKey("a", "p1"), Value: []byte("x")},
		{Key: partner.DedupKey("b", "p1"), Value: []byte("x")},
		{Key: partner.DedupKey("ab", "p2"), Value: []byte("x")}, // a prefix of another id must not match
	}
	b := state.Batch{Writes: ws}
	b.SetOffset("changelog", 7)
	if err := f.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if err := f.Load([]state.Write{{Key: partner.DedupKey("a", "p3"), Value: []byte("x")}, {Key: partner.DedupKey("c", "p3"), Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"d/a/p1": true, "d/a/p3": true, "d/b/p1": false, "d/ab/p2": false, "d/c/p3": false} {
		_, err := st.Get([]byte(key))
		if got := err == nil; got != want || (err != nil && !errors.Is(err, state.ErrNotFound)) {
			t.Errorf("%s kept %v (err %v), want %v", key, got, err, want)
		}
	}
	if off, ok, err := st.Offset("changelog"); err != nil || !ok || off != 7 {
		t.Errorf("changelog offset %d %v %v, want 7", off, ok, err)
	}
	if len(ws) != 3 || string(ws[1].Key) != "d/b/p1" {
		t.Error("the caller's writes were modified")
	}
}

// TestProgressCountsEachRecordOnce: every partner's group reads every
// record; the stage's records-in metric counts a record once, when every
// group owning its partition has processed it.
func TestProgressCountsEachRecordOnce(t *testing.T) {
	m := stage.NewMetrics(prometheus.NewRegistry())
	pr := newProgress(m)
	ha, hb := &handler{partner: "a"}, &handler{partner: "b"}
	in := func() float64 {
		var d dto.Metric
		if err := m.RecordsIn.WithLabelValues(StageName).Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetCounter().GetValue()
	}
	pr.assigned(ha, "cl", 0)
	pr.assigned(hb, "cl", 0)
	pr.processed(ha, "cl", 0, 10)
	if in() != 0 {
		t.Fatalf("records in %v after one of two groups read 10, want 0", in())
	}
	pr.processed(hb, "cl", 0, 4)
	pr.processed(hb, "cl", 0, 6)
	if in() != 10 {
		t.Fatalf("records in %v after both read 10, want 10", in())
	}
	pr.assigned(hb, "cl", 1) // a's group has partition 1 in another process
	pr.processed(hb, "cl", 1, 3)
	if in() != 13 {
		t.Fatalf("records in %v, want 13", in())
	}
	pr.revoked(hb, "cl", 0) // b's partition went elsewhere: a alone counts it now
	pr.processed(ha, "cl", 0, 5)
	if in() != 18 {
		t.Fatalf("records in %v after b gave partition 0 up, want 18", in())
	}
}

// TestJobsOnlyOwnPartnersRetries: a partner's group takes its own retry
// jobs and skips other partners' without waiting for their due time; the
// first partner's group also takes jobs of partners no longer configured,
// so that exactly one Sink logs them as skipped.
func TestJobsOnlyOwnPartnersRetries(t *testing.T) {
	cfg := &config.Config{Topics: config.Topics{Classified: "cl", DeliveryRetry: "retry"}}
	env := pipeline.Env{Config: cfg, Logger: zap.NewNop(), Metrics: stage.NewMetrics(nil)}
	known := map[string]bool{"a": true, "b": true}
	msg := func(off int64, partnerID string, due time.Time) kafka.Message {
		v, err := json.Marshal(partner.Job{Partner: partnerID, Due: due, Record: schemas.Classified{PostbackID: "pb-" + partnerID}})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Offset: off, Value: v}
	}
	later := time.Now().Add(time.Hour) // waiting for it would time the test out
	batch := stream.Batch{Topic: "retry.1", Messages: []kafka.Message{
		msg(0, "a", later), msg(1, "b", time.Time{}), msg(2, "gone", later),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	hb := &handler{env: env, partner: "b", known: known}
	js, err := hb.jobs(ctx, batch, nil)
	if err != nil || len(js) != 1 || js[0].Partner != "b" {
		t.Fatalf("b's group took %+v (err %v), want b's job only", js, err)
	}
	ha := &handler{env: env, partner: "a", known: known, first: true}
	batch.Messages = []kafka.Message{msg(0, "b", later), msg(1, "gone", time.Time{})}
	js, err = ha.jobs(ctx, batch, nil)
	if err != nil || len(js) != 1 || js[0].Partner != "gone" {
		t.Fatalf("the first group took %+v (err %v), want the unconfigured partner's job only", js, err)
	}
}

// TestScratchReuse: a batch's scratch comes back empty, holding nothing of
// the batch before it (its records' strings), and the next batch gets it
// rather than a new one.
func TestScratchReuse(t *testing.T) {
	var ss scratches
	sc := ss.get()
	sc.jobs = append(sc.jobs, partner.Job{Record: schemas.Classified{PostbackID: "old"}})
	sc.msgs = append(sc.msgs, kafka.Message{Key: []byte("old"), Value: []byte("old")})
	ss.put(sc)
	if len(sc.jobs) != 0 || len(sc.msgs) != 0 {
		t.Fatal("put left the batch's jobs or records in the scratch")
	}
	if j := sc.jobs[:1][0]; j.Record.PostbackID != "" {
		t.Errorf("the scratch still holds the last batch's job %q", j.Record.PostbackID)
	}
	if m := sc.msgs[:1][0]; m.Key != nil || m.Value != nil {
		t.Errorf("the scratch still holds the last batch's record %q", m.Key)
	}
	if got := ss.get(); got != sc {
		t.Error("the next batch got a new scratch, not the idle one")
	}
	if got := ss.get(); got == sc {
		t.Error("two batches at once got the same scratch")
	}
}
