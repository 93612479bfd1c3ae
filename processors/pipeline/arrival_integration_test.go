//go:build integration

package pipeline_test

import (
	"context"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/devtools/testkit/traffic"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// TestIntegrationArrivalOrderWithClicksHeldBack: a live stream (each
// record produced at its arrival time, ten noise clicks per real one) to
// two copies of the classification stages, whose clicks consumers are paused
// for 30 s mid-stream and then released. Meanwhile the events are read
// and held; when the clicks catch up, every record comes out as replay
// of the arrival-ordered stream gives it, none forced out and none late.
func TestIntegrationArrivalOrderWithClicksHeldBack(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 6)
	// The allowance is not what this test is about: wide enough that a
	// slow acknowledgement of the test's own producer never makes a
	// record late on a busy machine.
	w.cfg.Merge.ProducerAllowance = config.Duration(5 * time.Second)
	w.createTopics(t, ctx)
	tp := w.cfg.Topics
	a := w.run(t, ctx, pipeline.Normalize, pipeline.Device, pipeline.User)
	b := w.copyOn(t).run(t, ctx, pipeline.Normalize, pipeline.Device, pipeline.User)

	gc := generator.Config{Seed: 30, Devices: 300, SingleDeviceUsers: true}
	recs := traffic.Arrived(t, ctx, gc, 2500, traffic.Arrivals{NoiseClicks: 10, Step: time.Millisecond}).Records
	producer, err := stream.NewProducer(stream.ProducerConfig{Brokers: w.brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	// 45 s of traffic; the clicks held back from 5 s to 35 s.
	every := 45 * time.Second / time.Duration(len(recs))
	const chunk = 20
	pauseAt, resumeAt := 5*time.Second, 35*time.Second
	start := time.Now()
	arrival := make([]time.Time, len(recs))
	paused, resumed := false, false
	for i := 0; i < len(recs); i += chunk {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		switch el := time.Since(start); {
		case !paused && el >= pauseAt:
			w.pause.Topics(tp.RawClicks)
			paused = true
			t.Logf("clicks consumers paused at record %d", i)
		case paused && !resumed && el >= resumeAt:
			held := metricValue(a.registry, "postbackd_merge_buffered_records") + metricValue(b.registry, "postbackd_merge_buffered_records")
			w.pause.Resume(tp.RawClicks)
			resumed = true
			t.Logf("clicks consumers resumed at record %d, with %v records held in the merges", i, held)
			if held == 0 {
				t.Errorf("nothing held while the clicks were held back: the events went ahead of them")
			}
		}
		part := recs[i:min(i+chunk, len(recs))]
		at := time.Now().Truncate(time.Millisecond) // the arrival time: now
		msgs := make([]kafka.Message, len(part))
		for j, r := range part {
			arrival[i+j] = at
			msgs[j] = kafka.Message{Topic: tp.RawEvents, Key: r.Key, Value: r.Value, Time: at}
			if r.Kind == generator.KindClick {
				msgs[j].Topic = tp.RawClicks
			}
		}
		if err := producer.Produce(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	want := traffic.InArrivalOrder(t, ctx, recs, arrival).ByPostbackID(t)
	progress := func() int64 { return a.progress() + b.progress() }
	checkClassified(t, ctx, w, progress, want)
	for _, r := range []*running{a, b} {
		if n := metricValue(r.registry, "postbackd_late_records_total"); n != 0 {
			t.Errorf("%v late records, want none", n)
		}
		if n := mergeForced(t, r); n != 0 {
			t.Errorf("%v records forced out of the merge, want none", n)
		}
	}
}

// TestIntegrationArrivalOrderWithIdleClicks: with no click at all, the
// clicks topic's partitions hold nothing back: the events come out
// released in order by the watermarks of the idle partitions, never
// forced out by merge.max_wait (set far beyond the test's patience).
func TestIntegrationArrivalOrderWithIdleClicks(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 6)
	w.cfg.Merge.MaxWait = config.Duration(time.Hour)
	w.createTopics(t, ctx)
	r := w.run(t, ctx, pipeline.Normalize, pipeline.Device, pipeline.User)

	g := generator.New(generator.Config{Seed: 31, Devices: 200, SingleDeviceUsers: true})
	var recs []generator.Record
	for len(recs) < 2000 {
		if rec := g.Next(); rec.Kind != generator.KindClick {
			recs = append(recs, rec)
		}
	}
	arrival := make([]time.Time, len(recs))
	const chunk = 100
	var latency []time.Duration
	for i := 0; i < len(recs); i += chunk {
		part := recs[i:min(i+chunk, len(recs))]
		at := time.Now().Truncate(time.Millisecond)
		msgs := make([]kafka.Message, len(part))
		for j, rec := range part {
			arrival[i+j] = at
			msgs[j] = kafka.Message{Topic: w.cfg.Topics.RawEvents, Key: rec.Key, Value: rec.Value, Time: at}
		}
		testkit.Produce(t, ctx, w.brokers, msgs...)
		time.Sleep(100 * time.Millisecond)
	}
	want := traffic.InArrivalOrder(t, ctx, recs, arrival).ByPostbackID(t)
	got := checkClassified(t, ctx, w, r.progress, want)
	arrived := map[string]time.Time{} // event_id -> arrival
	for i, rec := range recs {
		arrived[eventID(rec.Value)] = arrival[i]
	}
	for _, m := range got {
		if at, ok := arrived[eventID(m.Value)]; ok {
			latency = append(latency, m.Time.Sub(at))
		}
	}
	sort.Slice(latency, func(i, j int) bool { return latency[i] < latency[j] })
	t.Logf("arrival to classified with an idle clicks topic (allowance %s, interval %s): p50 %v, max %v",
		w.cfg.Merge.ProducerAllowance.D(), w.cfg.Merge.WatermarkInterval.D(), latency[len(latency)/2], latency[len(latency)-1])
	if n := mergeForced(t, r); n != 0 {
		t.Errorf("%v records forced out of the merge by max_wait: the idle clicks topic held them back", n)
	}
}

// checkClassified reads the classified topic until it holds every
// postback of want, and fails on any that differs.
func checkClassified(t *testing.T, ctx context.Context, w *wiring, progress func() int64, want map[string]string) []kafka.Message {
	t.Helper()
	got := map[string]kafka.Message{}
	all := testkit.Wait{Progress: progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.Classified, func(ms []kafka.Message) bool {
		m := ms[len(ms)-1]
		got[string(m.Key)] = m
		return len(got) >= len(want)
	})
	diffs := 0
	for id, line := range want {
		if !traffic.SameJSON(t, string(got[id].Value), line) {
			if diffs++; diffs <= 5 {
				t.Errorf("postback %s:\n got %s\nwant %s", id, got[id].Value, line)
			}
		}
	}
	if diffs > 0 {
		t.Fatalf("%d of %d records differ from replay of the arrival-ordered stream", diffs, len(want))
	}
	return all
}

func mergeForced(t *testing.T, r *running) float64 {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "postbackd_merge_released_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == "forced" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func eventID(v []byte) string {
	var e struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(v, &e)
	return e.EventID
}
