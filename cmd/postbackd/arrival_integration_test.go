//go:build integration

package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/devtools/testkit/traffic"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// arrivalStall is how long the classified topic may stay silent, while
// records are missing, before the test gives up.
const arrivalStall = 2 * time.Minute

// TestIntegrationArrivalOrderAfterOutage is the outage of issue 12 as an
// operator lives it: postbackd is down while apps produce clicks (ten
// clicks of devices that never install for each real one) to raw.clicks
// and events to raw.events, each with its arrival time; then two copies
// start on the backlog. The events backlog is the smaller and drains
// first, but every record must come out as replay classifies the stream
// merged in arrival order: each install, re-install and re-engagement
// keeps the click or impression it is owed.
func TestIntegrationArrivalOrderAfterOutage(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cfgText := classifyConfig(brokers, "arrival")
	if os.Getenv("POSTBACKD_TEST_MERGE_OFF") != "" { // the baseline of the note: the same run without the merge
		cfgText += "merge:\n  enabled: false\n"
	}
	cfgFile, cfg := writeConfig(t, ctx, brokers, cfgText)

	// An hour ago, a millisecond apart (two records share each one).
	gc := generator.Config{Seed: 12, Devices: 400, SingleDeviceUsers: true}
	s := traffic.Arrived(t, ctx, gc, 6000, traffic.Arrivals{
		NoiseClicks: 10, Start: time.Now().Add(-time.Hour), Step: time.Millisecond,
	})
	want := s.ByPostbackID(t)
	msgs := s.RawMessages(cfg.Topics.RawClicks, cfg.Topics.RawEvents)
	clicks := 0
	for _, m := range msgs {
		if m.Topic == cfg.Topics.RawClicks {
			clicks++
		}
	}
	paid := paidAttributions(t, want)
	t.Logf("stream: %d records, %d of them clicks (10 noise clicks per real one); replay: %d classified records, %d paid attributions",
		len(msgs), clicks, len(want), len(paid))
	testkit.Produce(t, ctx, brokers, msgs...)

	for _, name := range []string{"a", "b"} {
		startCopy(t, bin, cfgFile, name, "normalize,device,user")
	}
	got := map[string]string{}
	testkit.Wait{Stall: arrivalStall}.ReadTopic(t, ctx, brokers, cfg.Topics.Classified, func(ms []kafka.Message) bool {
		got[string(ms[len(ms)-1].Key)] = string(ms[len(ms)-1].Value)
		return len(got) >= len(want)
	})

	kept := 0
	for id, line := range paid {
		if attributionOf(t, got[id]) == attributionOf(t, line) {
			kept++
		}
	}
	t.Logf("paid attributions kept: %d of %d", kept, len(paid))
	diffs := 0
	for id, line := range want {
		if !traffic.SameJSON(t, got[id], line) {
			if diffs++; diffs <= 5 {
				t.Errorf("postback %s:\n got %s\nwant %s", id, got[id], line)
			}
		}
	}
	if diffs > 0 || kept != len(paid) {
		t.Fatalf("%d of %d records differ from replay of the arrival-ordered stream; %d of %d paid attributions kept", diffs, len(want), kept, len(paid))
	}
}

// paidAttributions are the records of want that a partner in attributed
// mode is paid for: installs, re-installs and re-engagements with a touch.
func paidAttributions(t *testing.T, want map[string]string) map[string]string {
	t.Helper()
	paid := map[string]string{}
	for id, line := range want {
		var c struct {
			Type        string          `json:"type"`
			Attribution json.RawMessage `json:"attribution"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		switch c.Type {
		case schemas.TypeInstall, schemas.TypeReinstall, schemas.TypeReengagement:
			if a := string(c.Attribution); a != "" && a != "null" {
				paid[id] = line
			}
		}
	}
	return paid
}

// attributionOf is the attribution object of a classified line, as
// canonical JSON ("" when the line is missing).
func attributionOf(t *testing.T, line string) string {
	t.Helper()
	if line == "" {
		return ""
	}
	var c struct {
		Attribution any `json:"attribution"`
	}
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c.Attribution)
	return string(b)
}
