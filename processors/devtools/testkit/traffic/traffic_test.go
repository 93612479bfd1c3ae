package traffic_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit/traffic"
)

// TestGenerateAndReplay: a generated stream comes with replay's records
// for it, each with its own postback_id, and its Kafka messages are keyed
// by device; given arrival times, replay reads them as received_at and
// the messages carry them.
func TestGenerateAndReplay(t *testing.T) {
	ctx := context.Background()
	s := traffic.Generate(t, ctx, generator.Config{Seed: 3, Devices: 50, MalformedRate: 0.05}, 500)
	if len(s.Records) != 500 || len(s.Classified) == 0 {
		t.Fatalf("%d records, %d classified", len(s.Records), len(s.Classified))
	}
	if ids := s.ByPostbackID(t); len(ids) != len(s.Classified) {
		t.Errorf("%d postback_ids for %d classified records", len(ids), len(s.Classified))
	}
	for i, m := range s.Messages("raw") {
		if m.Topic != "raw" || string(m.Key) != string(s.Records[i].Key) || !m.Time.IsZero() {
			t.Fatalf("message %d: %s/%s at %v", i, m.Topic, m.Key, m.Time)
		}
	}

	// Every record arrives a year after the generator's times: replay
	// then takes each ts as it is, and the output is the same.
	arrival := make([]time.Time, len(s.Records))
	for i, r := range s.Records {
		arrival[i] = r.Time.AddDate(1, 0, 0)
	}
	late := traffic.Replay(t, ctx, s.Records, arrival)
	if strings.Join(late.Classified, "\n") != strings.Join(s.Classified, "\n") {
		t.Errorf("replay with received_at a year later differs from replay without")
	}
	if m := late.Messages("raw")[7]; !m.Time.Equal(arrival[7]) {
		t.Errorf("message time %v, want the arrival %v", m.Time, arrival[7])
	}
}
