package normalize

import (
	"errors"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

func reviewEvent(ts time.Time) schemas.Event {
	return schemas.Event{EventID: "e1", AppID: "a", Platform: "android", DeviceID: "d", Type: "launch", TS: ts}
}

func avroEvent(t *testing.T, e schemas.Event) []byte {
	t.Helper()
	b, err := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClockSkewBoundaries: the rules of CLASSIFICATION.md "Time" at
// their edges (these pass; they pin what the change does).
func TestClockSkewBoundaries(t *testing.T) {
	n, err := New(Config{MaxClockSkew: func(app string) time.Duration {
		if app == "short" {
			return time.Hour
		}
		return 0 // default
	}})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		app      string
		ts       time.Time
		adjusted bool
	}{
		{"exactly arrival + 24h", "a", arrival.Add(24 * time.Hour), false},
		{"1us past arrival + 24h", "a", arrival.Add(24*time.Hour + time.Microsecond), true},
		{"per-app skew, exactly", "short", arrival.Add(time.Hour), false},
		{"per-app skew, past", "short", arrival.Add(time.Hour + time.Microsecond), true},
		{"year 2199", "a", time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC), true},
		{"year 3000", "a", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		e := reviewEvent(c.ts)
		e.AppID = c.app
		in, err := n.Normalize(avroEvent(t, e), arrival)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if in.Event.TSAdjusted != c.adjusted || (c.adjusted && !in.Event.TS.Equal(arrival)) {
			t.Errorf("%s: adjusted %v ts %s", c.name, in.Event.TSAdjusted, in.Event.TS)
		}
	}
}

// TestAvroTSYearOneIsBefore2000: issue 10 lists "A ts of 0001-01-01
// is reported as 'missing required field'" as a bug to fix. The JSON path
// was fixed (DecodeInputJSON), but an Avro record's timestamp-micros of
// 0001-01-01T00:00:00Z decodes to the zero time.Time, and normalizeTS
// takes the zero time for an absent ts: the reject still says "missing".
func TestAvroTSYearOneIsBefore2000(t *testing.T) {
	n, _ := New(Config{})
	_, err := n.Normalize(avroEvent(t, reviewEvent(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))), time.Now())
	var rj *Reject
	if !errors.As(err, &rj) {
		t.Fatalf("accepted: %v", err)
	}
	if rj.Field != "ts" || rj.Reason != schemas.ReasonTSBefore2000 {
		t.Fatalf("reject %q: %q, want ts: %q", rj.Field, rj.Reason, schemas.ReasonTSBefore2000)
	}
}

// TestRawRecordCannotClaimTSAdjusted: raw topics accept Avro
// single-object records of postbackd's own Input schema (README), and v2
// of that schema carries ts_adjusted. Normalize only ever sets the flag,
// never clears it, so a producer can send ts_adjusted: true with a ts
// that was never adjusted, and every classified record of the event says
// "ts_adjusted": true. CLASSIFICATION.md: the flag marks records whose ts
// normalize replaced.
func TestRawRecordCannotClaimTSAdjusted(t *testing.T) {
	n, _ := New(Config{})
	arrival := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e := reviewEvent(arrival.Add(-time.Minute))
	e.TSAdjusted = true
	in, err := n.Normalize(avroEvent(t, e), arrival)
	if err != nil {
		t.Fatal(err)
	}
	if in.Event.TSAdjusted {
		t.Fatalf("a ts one minute before arrival comes out with TSAdjusted true: the producer's claim was kept")
	}
}
