package sinkstage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/state"
)

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
	env := stage.Env{Config: cfg, Logger: zap.NewNop(), Metrics: stage.NewMetrics(nil)}
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
	ss.put(sc)
	if len(sc.jobs) != 0 {
		t.Fatal("put left the batch's jobs in the scratch")
	}
	if j := sc.jobs[:1][0]; j.Record.PostbackID != "" {
		t.Errorf("the scratch still holds the last batch's job %q", j.Record.PostbackID)
	}
	if got := ss.get(); got != sc {
		t.Error("the next batch got a new scratch, not the idle one")
	}
	if got := ss.get(); got == sc {
		t.Error("two batches at once got the same scratch")
	}
}

// TestPartStoreCatchesUpInBulk: the sink's store keeps Badger's bulk path,
// so that a catch-up chunk of some thousands of markers loads (one
// transaction would refuse it: found in review).
func TestPartStoreCatchesUpInBulk(t *testing.T) {
	b, err := state.OpenBadger(t.TempDir(), state.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := &partStore{Store: b}
	defer ps.Store.Close()
	ws := make([]state.Write, 16384)
	for i := range ws {
		ws[i] = state.Write{Key: partner.DedupKey("a", fmt.Sprintf("%064x", i)), Value: []byte(`{"at":"2026-03-01T10:05:00.123456789Z","status":200,"attempt":1}`)}
	}
	var st state.Store = ps
	l, ok := st.(state.BulkLoader)
	if !ok {
		t.Fatal("the sink's store is not a state.BulkLoader")
	}
	if err := l.Load(ws); err != nil {
		t.Fatalf("Load of %d markers: %v", len(ws), err)
	}
}
