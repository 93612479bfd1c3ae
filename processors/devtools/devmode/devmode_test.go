package devmode

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadPipelineSumsByStageTopicAndOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRecordsIn}, []string{"stage"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRecordsOut}, []string{"stage", "topic"})
	del := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricDeliveries}, []string{"partner", "outcome"})
	reg.MustRegister(in, out, del)
	in.WithLabelValues("normalize").Add(100)
	out.WithLabelValues("normalize", "dl").Add(3)
	out.WithLabelValues("device", "dl").Add(1)
	out.WithLabelValues("normalize", "by-device").Add(97)
	del.WithLabelValues("adnet", "delivered").Add(10)
	del.WithLabelValues("adnet", "handed_off").Add(2)
	del.WithLabelValues("adnet", "retry_scheduled").Add(1)
	del.WithLabelValues("adnet", "deadlettered").Add(1)
	del.WithLabelValues("adnet", "skipped_duplicate").Add(5)

	c, err := ReadPipeline(reg, "dl")
	if err != nil {
		t.Fatal(err)
	}
	if c.RecordsIn["normalize"] != 100 || c.RecordsOut["normalize"]["by-device"] != 97 || c.Deadletters != 4 {
		t.Errorf("counts = %+v", c)
	}
	if got, want := c.Sink["adnet"], (Outcomes{Delivered: 10, Failed: 1, Retried: 3}); got != want {
		t.Errorf("adnet = %+v, want %+v", got, want)
	}
}

func TestReadPipelineWithoutSinkHasNilSink(t *testing.T) {
	c, err := ReadPipeline(prometheus.NewRegistry(), "dl")
	if err != nil || c.Sink != nil {
		t.Fatalf("c = %+v, err = %v", c, err)
	}
}

func TestSummaryTable(t *testing.T) {
	s := Summary{
		Snapshot: Snapshot{
			Generated: 1000, Malformed: 10, EventsIn: 1000, Deadletters: 10,
			Classified: map[string]int64{"install": 50, "purchase": 20},
			Sink:       map[string]Outcomes{"adnet": {Delivered: 40}},
			Received:   map[string]Received{"adnet": {Requests: 40, Unique: 40}},
		},
		Took: 2 * time.Second, Settled: true,
	}
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"generated records", "1000", "install", "throughput (records/s)", "500", "adnet", "total"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "settled") {
		t.Errorf("a settled run needs no settled line:\n%s", b.String())
	}
}

func TestProgressPlainLinesOffTerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false)
	p.Show(Snapshot{Elapsed: 3 * time.Second, Generated: 5, Classified: map[string]int64{"install": 2}})
	p.Show(Snapshot{Elapsed: 4 * time.Second, Generated: 9})
	if strings.Contains(b.String(), "\x1b") || strings.Count(b.String(), "\n") != 2 {
		t.Errorf("want two plain lines, got %q", b.String())
	}
	if !strings.Contains(b.String(), "install 2") || !strings.Contains(b.String(), "none yet") {
		t.Errorf("line = %q", b.String())
	}
}

func TestProgressRedrawsOnTerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true)
	classified := map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7}
	p.Show(Snapshot{Classified: classified})
	first := b.Len()
	p.Show(Snapshot{Classified: classified})
	// 1 counts line, 2 classified lines (5 types, then 2), 1 postbacks line.
	if !strings.HasPrefix(b.String()[first:], "\x1b[4A") {
		t.Errorf("second frame does not move up over the first: %q", b.String()[first:])
	}
}
