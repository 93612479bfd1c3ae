package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/arrival"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

func testMergingDevice(t *testing.T) (*mergingDevice, *config.Config) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("classified_format: json\n"))
	if err != nil {
		t.Fatal(err)
	}
	tp := cfg.Topics
	l := &deviceLogic{
		classifier:  classify.NewDevice(Windows(cfg)),
		deadLetters: deadLetters{enc: encoder(cfg, nil), topic: tp.Deadletter},
		classified:  tp.Classified, byUser: tp.EventsByUser,
	}
	return newMergingDevice(l, cfg, stage.NewMetrics(nil)), cfg
}

// TestMergeRefusesABadWatermarkAndClassifiesTheRest: in a batch of a
// record from outside the raw topics and a watermark that does not
// decode, the watermark goes to the deadletter and the record is
// classified, each with its own position.
func TestMergeRefusesABadWatermarkAndClassifiesTheRest(t *testing.T) {
	d, cfg := testMergingDevice(t)
	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	v, err := schemas.EncodeInput(nil, &schemas.Input{Event: &schemas.Event{
		EventID: "e1", AppID: "com.example.game", Platform: schemas.PlatformAndroid, DeviceID: "dev-1", Type: schemas.EventInstall, TS: ts,
	}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []kafka.Message{
		{Topic: cfg.Topics.EventsByDevice, Offset: 0, Key: []byte("dev-1"), Value: v, Time: ts}, // no source header
		{Topic: cfg.Topics.EventsByDevice, Offset: 1, Headers: []kafka.Header{{Key: arrival.WatermarkHeader, Value: []byte{9, 9}}}},
	}
	res, err := d.Process(context.Background(), stage.Input{Store: state.NewMemory(), Topic: cfg.Topics.EventsByDevice, Messages: msgs, NextOffset: 2})
	if err != nil {
		t.Fatal(err)
	}
	var dead, classified int
	for i, out := range res.Outputs {
		src := res.Inputs[res.Sources[i]]
		switch out.Topic {
		case cfg.Topics.Deadletter:
			dead++
			if src.Offset != 1 {
				t.Errorf("deadletter record from offset %d, want the bad watermark's (1)", src.Offset)
			}
		case cfg.Topics.Classified:
			classified++
			if src.Offset != 0 {
				t.Errorf("classified record from offset %d, want the install's (0)", src.Offset)
			}
		}
	}
	if dead != 1 || classified != 1 {
		t.Fatalf("%d deadletter and %d classified records, want 1 and 1: %+v", dead, classified, res.Outputs)
	}
}

// TestWatermarkOfAFutureRecord: a raw record stamped in 2150 (a wrong
// producer clock) counts as arriving when it was processed, so its
// partition's watermark stays below the clock and no record merged
// after it is late.
func TestWatermarkOfAFutureRecord(t *testing.T) {
	counts := func(context.Context, ...string) (map[string]int, error) {
		return map[string]int{"raw": 1, "out": 2}, nil
	}
	w := newWatermarks("out", 2*time.Second, 200*time.Millisecond, counts)
	now := time.Now()
	w.processed("raw", 0, []kafka.Message{{Time: time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)}}, now)
	res, err := w.tick(context.Background(), stage.Tick{Topic: "raw", Partition: 0, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outputs) != 2 {
		t.Fatalf("%d watermark records, want one per partition of out (2)", len(res.Outputs))
	}
	wm, err := arrival.ParseWatermark(res.Outputs[0].Headers[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-2 * time.Second); wm.At.After(want) {
		t.Errorf("watermark %v, want at most now less the allowance (%v)", wm.At, want)
	}
	if got := mergeTime(time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC), now); !got.Equal(now) {
		t.Errorf("merge time of a 2150 record %v, want now", got)
	}
}

// TestMergeReleasesATransactionAtATime: records released together after
// a long hold go at most stage.MaxTxnRecords per Result, with More set
// while there are more, so that no store transaction outgrows Badger's
// limit (a backlog released at once did: "batch too large").
func TestMergeReleasesATransactionAtATime(t *testing.T) {
	d, cfg := testMergingDevice(t)
	tp := cfg.Topics
	st := state.NewMemory()
	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	arrived := time.Now().Add(-time.Minute)
	const n = 2500
	var msgs []kafka.Message
	for i := range n {
		v, err := schemas.EncodeInput(nil, &schemas.Input{Event: &schemas.Event{
			EventID: fmt.Sprintf("e%d", i), AppID: "com.example.game", Platform: schemas.PlatformAndroid,
			DeviceID: fmt.Sprintf("dev-%d", i), Type: schemas.EventInstall, TS: ts,
		}})
		if err != nil {
			t.Fatal(err)
		}
		m := kafka.Message{Topic: tp.EventsByDevice, Offset: int64(i), Key: []byte(fmt.Sprintf("dev-%d", i)), Value: v, Time: arrived.Add(time.Duration(i) * time.Millisecond)}
		raw := kafka.Message{Topic: tp.RawEvents, Partition: 0, Offset: int64(i)}
		stage.StampSource(&m, &raw, 0, nil)
		msgs = append(msgs, m)
	}
	// No watermark yet: all held.
	res, err := d.Process(context.Background(), stage.Input{Store: st, Topic: tp.EventsByDevice, Messages: msgs, NextOffset: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Inputs) != 0 || !res.Holding || res.HoldFrom != 0 {
		t.Fatalf("released %d before any watermark (holding %v from %d)", len(res.Inputs), res.Holding, res.HoldFrom)
	}
	// Both raw topics, one partition each, past everything.
	var wms []kafka.Message
	for _, topic := range []string{tp.RawClicks, tp.RawEvents} {
		hdr := arrival.AppendWatermark(nil, arrival.Watermark{Source: arrival.Source{Topic: topic}, Partitions: 1, At: time.Now()})
		wms = append(wms, kafka.Message{Topic: tp.EventsByDevice, Offset: int64(n + len(wms)), Headers: []kafka.Header{{Key: arrival.WatermarkHeader, Value: hdr}}})
	}
	res, err = d.Process(context.Background(), stage.Input{Store: st, Topic: tp.EventsByDevice, Messages: wms, NextOffset: n + 2})
	if err != nil {
		t.Fatal(err)
	}
	released := len(res.Inputs)
	for res.More {
		if len(res.Inputs) > stage.MaxTxnRecords {
			t.Fatalf("%d records released in one Result, want at most %d", len(res.Inputs), stage.MaxTxnRecords)
		}
		if res, err = d.Tick(context.Background(), stage.Tick{Store: st, Topic: tp.EventsByDevice, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		released += len(res.Inputs)
	}
	if len(res.Inputs) > stage.MaxTxnRecords || released != n {
		t.Fatalf("released %d of %d (last Result %d)", released, n, len(res.Inputs))
	}
	if res.HoldFrom != n+2 {
		t.Errorf("resume offset %d once all went, want %d", res.HoldFrom, n+2)
	}
}
