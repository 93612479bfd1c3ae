package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAppliesDefaultsAndAppWindows(t *testing.T) {
	c, err := Parse("pd.yaml", []byte(`
kafka:
  brokers: [k1:9092, k2:9092]
  partitions: 6
apps:
  - app_id: com.example.game
    inactivity_window: 14d
    click_lookback: 36h
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Kafka.Brokers; len(got) != 2 || got[1] != "k2:9092" {
		t.Errorf("brokers = %v", got)
	}
	w := c.WindowsFor("com.example.game")
	if w.InactivityWindow.D() != 14*24*time.Hour || w.ClickLookback.D() != 36*time.Hour {
		t.Errorf("app windows = %+v", w)
	}
	if w.ImpressionLookback.D() != DefaultImpressionLookback || w.DedupHorizon.D() != DefaultDedupHorizon {
		t.Errorf("unset app windows must take defaults, got %+v", w)
	}
	if d := c.WindowsFor("other.app"); d.InactivityWindow.D() != DefaultInactivityWindow {
		t.Errorf("unlisted app windows = %+v", d)
	}
	if c.Topics.Classified != "postbacks.classified" || c.Topics.EventsByDevice != "postbacks.events.by-device" {
		t.Errorf("topics = %+v", c.Topics)
	}
}

func TestParseReportsEveryProblemWithFileLineAndField(t *testing.T) {
	_, err := Parse("bad.yaml", []byte(`kafka:
  partitions: many
  colour: blue
classified_format: xml
apps:
  - app_id: a
    click_lookback: 7 days
  - app_id: a
`))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("err is %T, want Problems", err)
	}
	want := []string{
		"bad.yaml:2: kafka.partitions:",
		"bad.yaml:3: kafka.colour: unknown field",
		"bad.yaml:4: classified_format: want avro or json",
		"bad.yaml:7: apps[0].click_lookback: bad duration",
		"bad.yaml:8: apps[1].app_id: app \"a\" listed twice",
	}
	text := err.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
}

func TestParseRejectsUnparsableYAMLWithLine(t *testing.T) {
	_, err := Parse("broken.yaml", []byte("kafka:\n  brokers: [a\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "broken.yaml:") {
		t.Fatalf("err = %v", err)
	}
}

func TestEnvOverridesBrokers(t *testing.T) {
	t.Setenv(EnvBrokers, "x:1,y:2")
	c, err := Parse("f.yaml", []byte("kafka:\n  brokers: [a:1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Kafka.Brokers) != 2 || c.Kafka.Brokers[0] != "x:1" {
		t.Errorf("brokers = %v", c.Kafka.Brokers)
	}
}

func TestParseDurationDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "1.5d": 36 * time.Hour, "90s": 90 * time.Second} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "soon", "-5s"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded", in)
		}
	}
}

// TestLimitsAndClockSkew: the limits and max_clock_skew take their
// defaults, per app like the windows, and out-of-range values are
// reported with their line.
func TestLimitsAndClockSkew(t *testing.T) {
	c, err := Parse("c.yaml", []byte("apps:\n  - app_id: a\n    max_clock_skew: 2h\n  - app_id: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.WindowsFor("a").MaxClockSkew.D(); got != 2*time.Hour {
		t.Errorf("app a skew %s", got)
	}
	if got := c.WindowsFor("b").MaxClockSkew.D(); got != DefaultMaxClockSkew {
		t.Errorf("app b skew %s", got)
	}
	if c.MaxRecordBytes != DefaultMaxRecordBytes || c.Kafka.MaxMessageBytes != DefaultMaxMessageBytes {
		t.Errorf("limits %d %d", c.MaxRecordBytes, c.Kafka.MaxMessageBytes)
	}
	_, err = Parse("c.yaml", []byte("max_record_bytes: 512\nkafka:\n  max_message_bytes: 1000\ndefaults:\n  max_clock_skew: 400d\napps:\n  - app_id: a\n    max_clock_skew: -1h\n"))
	for _, want := range []string{"c.yaml:1: max_record_bytes", "c.yaml:3: kafka.max_message_bytes", "c.yaml:5: defaults.max_clock_skew", "c.yaml:8: apps[0].max_clock_skew"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// TestMergeSection: the merge's defaults, enabled unless set false, and
// out-of-range values reported with their line.
func TestMergeSection(t *testing.T) {
	c, err := Parse("c.yaml", []byte("kafka:\n  partitions: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Merge
	if !m.On() || m.MaxWait.D() != DefaultMergeMaxWait || m.ProducerAllowance.D() != DefaultMergeProducerAllowance ||
		m.WatermarkInterval.D() != DefaultMergeWatermarkInterval || m.MaxRecords != DefaultMergeMaxRecords || m.MaxBytes != DefaultMergeMaxBytes {
		t.Errorf("defaults: %+v", m)
	}
	c, err = Parse("c.yaml", []byte("merge:\n  enabled: false\n  max_wait: 45s\n  producer_allowance: 100ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Merge.On() || c.Merge.MaxWait.D() != 45*time.Second || c.Merge.ProducerAllowance.D() != 100*time.Millisecond {
		t.Errorf("set: %+v", c.Merge)
	}
	_, err = Parse("c.yaml", []byte("merge:\n  max_wait: 1s\n  producer_allowance: 20m\n  watermark_interval: 1ms\n  max_records: -1\n  max_bytes: 10\n"))
	for _, want := range []string{"c.yaml:2: merge.max_wait", "c.yaml:3: merge.producer_allowance", "c.yaml:4: merge.watermark_interval", "c.yaml:5: merge.max_records", "c.yaml:6: merge.max_bytes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if _, err = Parse("c.yaml", []byte("merge:\n  max_wiat: 1m\n")); err == nil || !strings.Contains(err.Error(), "c.yaml:2") {
		t.Errorf("a misspelt merge field: %v", err)
	}
}
