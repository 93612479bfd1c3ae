package normalize

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// FuzzNormalize: any bytes either normalize to a valid Input or give a
// *Reject; never a panic, never another error type. Accepted records hold
// the invariants the classifier relies on, and the limits and well-formed
// text rules: nothing with invalid UTF-8 is ever accepted, or repaired.
func FuzzNormalize(f *testing.F) {
	data, err := os.ReadFile("testdata/07-custom-and-bad-input.in.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	start := 0
	for i, c := range data {
		if c == '\n' {
			f.Add(data[start:i])
			start = i + 1
		}
	}
	f.Add([]byte(okClick))
	f.Add([]byte(okEvent))
	e := schemas.Event{EventID: "e1", AppID: "a", Platform: "web", DeviceID: "d", Type: "visit", TS: time.Unix(1, 0)}
	b, _ := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
	f.Add(b)
	addTextSeeds(f)
	n, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := n.Normalize(raw, time.Time{})
		if err != nil {
			var r *Reject
			if !errors.As(err, &r) {
				t.Fatalf("error %v is not a *Reject", err)
			}
			return
		}
		checkAcceptedText(t, raw, in)
		switch {
		case in.Click != nil && in.Event == nil:
			c := in.Click
			if c.ClickID == "" || c.Partner == "" || c.AppID == "" || c.DeviceID == "" || c.TS.IsZero() ||
				(c.Touch != schemas.TouchClick && c.Touch != schemas.TouchImpression) || c.TS.Location() != time.UTC {
				t.Fatalf("invalid click accepted: %+v", c)
			}
		case in.Event != nil && in.Click == nil:
			e := in.Event
			if e.EventID == "" || e.AppID == "" || e.DeviceID == "" || e.TS.IsZero() || e.TS.Location() != time.UTC {
				t.Fatalf("invalid event accepted: %+v", e)
			}
			if e.Revenue != nil && (math.IsNaN(*e.Revenue) || math.IsInf(*e.Revenue, 0) || *e.Revenue < 0 || e.Currency == "") {
				t.Fatalf("invalid revenue accepted: %+v", e)
			}
			if e.Type == schemas.EventCustomEvent && e.Name == "" {
				t.Fatalf("custom_event without name accepted")
			}
		default:
			t.Fatalf("accepted input with click %v and event %v", in.Click, in.Event)
		}
	})
}
