package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
)

// TestMergeKeepsClicksFirstWhenTheirConsumersLag: each device's click
// arrives before its install, but the clicks' consumers are held back
// (paused) while the installs are read: the device stage must hold the
// installs until the clicks topic has caught up, and attribute each one
// to its click. Without the merge they come out organic.
func TestMergeKeepsClicksFirstWhenTheirConsumersLag(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.createTopics(t, ctx)
	tp := w.cfg.Topics
	w.pause.Topics(tp.RawClicks)
	r := w.run(t, ctx, pipeline.Normalize, pipeline.Device)

	const devices = 30
	clicks, installs := clicksThenInstalls(tp.RawClicks, tp.RawEvents, devices)
	testkit.Produce(t, ctx, w.brokers, clicks...) // arrived first
	testkit.Produce(t, ctx, w.brokers, installs...)
	produced := time.Now()

	// The installs are read and held: nothing is classified while the
	// clicks wait, however long the wait; here past the producer
	// allowance, after which an idle clicks topic would let them go.
	m := w.cfg.Merge
	holdFor := m.ProducerAllowance.D() + 3*m.WatermarkInterval.D()
	testkit.Wait{Progress: r.progress}.For(t, "the installs held in the merge", func() bool {
		return metricValue(r.registry, "postbackd_merge_buffered_records") >= devices && time.Since(produced) > holdFor
	})
	if got := testkit.ReadAll(t, ctx, w.brokers, tp.Classified); len(got) != 0 {
		t.Fatalf("%d records classified while the clicks were held back, want none yet", len(got))
	}
	w.pause.Resume(tp.RawClicks)

	out := testkit.Wait{Progress: r.progress}.ReadTopic(t, ctx, w.brokers, tp.Classified, testkit.AtLeast(devices))
	for _, m := range out {
		var c struct {
			Type        string `json:"type"`
			DeviceID    string `json:"device_id"`
			Attribution struct {
				ClickID string `json:"click_id"`
			} `json:"attribution"`
		}
		if err := json.Unmarshal(m.Value, &c); err != nil {
			t.Fatal(err)
		}
		if c.Type != "install" || c.Attribution.ClickID != "c"+c.DeviceID[len("dev-"):] {
			t.Errorf("%s: %s attributed to click %q, want its click", c.DeviceID, c.Type, c.Attribution.ClickID)
		}
	}
	if n := metricValue(r.registry, "postbackd_late_records_total"); n != 0 {
		t.Errorf("%v late records, want none", n)
	}
}

// TestMergeHeldRecordsSurviveAMoveToAnEmptyDisk: records a device copy
// holds are applied nowhere, and its consumer has committed the batches
// that brought them; a copy that takes the partition over on an empty
// disk, with nothing on the changelog yet, must read them again rather
// than start from the group's committed offset.
func TestMergeHeldRecordsSurviveAMoveToAnEmptyDisk(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.createTopics(t, ctx)
	tp := w.cfg.Topics
	w.pause.Topics(tp.RawClicks)
	w.run(t, ctx, pipeline.Normalize)
	first := w.run(t, ctx, pipeline.Device)

	const devices = 20
	clicks, installs := clicksThenInstalls(tp.RawClicks, tp.RawEvents, devices)
	testkit.Produce(t, ctx, w.brokers, clicks...)
	testkit.Produce(t, ctx, w.brokers, installs...)
	testkit.Wait{Progress: first.progress}.For(t, "the installs held in the merge", func() bool {
		return metricValue(first.registry, "postbackd_merge_buffered_records") >= devices
	})
	first.stop() // its consumer commits the offsets after what it holds

	second := w.copyOn(t).run(t, ctx, pipeline.Device)
	w.pause.Resume(tp.RawClicks)
	out := testkit.Wait{Progress: second.progress}.ReadTopic(t, ctx, w.brokers, tp.Classified, testkit.AtLeast(devices))
	for _, m := range out {
		var c struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(m.Value, &c); err != nil || c.Type != "install" {
			t.Errorf("classified %s, want the held installs", m.Value)
		}
	}
}

// clicksThenInstalls are, for devices dev-0, dev-1, ..., a click (c<i>)
// on the clicks topic and an install (e<i>) an hour later on the events
// topic.
func clicksThenInstalls(clicksTopic, eventsTopic string, devices int) (clicks, installs []kafka.Message) {
	for i := range devices {
		dev := fmt.Sprintf("dev-%d", i)
		clicks = append(clicks, kafka.Message{Topic: clicksTopic, Key: []byte(dev), Value: fmt.Appendf(nil,
			`{"kind":"click","click_id":"c%d","touch":"click","partner":"adnet","campaign":"spring","app_id":"com.example.game","device_id":"%s","ts":"2026-03-01T09:00:00Z"}`, i, dev)})
		installs = append(installs, kafka.Message{Topic: eventsTopic, Key: []byte(dev), Value: fmt.Appendf(nil,
			`{"kind":"event","event_id":"e%d","app_id":"com.example.game","platform":"android","device_id":"%s","type":"install","ts":"2026-03-01T10:00:00Z"}`, i, dev)})
	}
	return clicks, installs
}

// metricValue sums the series of a counter or gauge family.
func metricValue(reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}
