package classify

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

func rejected(in schemas.Input, reason string) schemas.Input {
	if in.Click != nil {
		c := *in.Click
		c.Rejected, c.RejectReason = true, reason
		return schemas.Input{Click: &c}
	}
	return with(in, func(e *schemas.Event) { e.Rejected, e.RejectReason = true, reason })
}

// TestFraudVerdicts: a rejected click never wins attribution, and takes a
// held click of its id with it; a rejected event is classified as any
// other (it happened) and its records, user-level ones included, carry
// the verdict.
func TestFraudVerdicts(t *testing.T) {
	E, L := schemas.EventInstall, schemas.EventLaunch
	tests := []struct {
		name   string
		stream []schemas.Input
		want   string
	}{
		{"rejected click does not win", []schemas.Input{clickAt("c1", t0), rejected(clickAt("c2", t0.Add(time.Minute)), "flood"), eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1/c1"},
		{"only a rejected click: organic", []schemas.Input{rejected(clickAt("c1", t0), "flood"), eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1"},
		{"a later verdict on a held click takes it away", []schemas.Input{clickAt("c1", t0), clickAt("c2", t0.Add(time.Minute)),
			rejected(clickAt("c2", t0.Add(time.Minute)), "hijack"), eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1/c1"},
		{"rejected impression does not win", []schemas.Input{rejected(impressionAt("i1", t0), "bot"), eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1"},
		{"rejected click does not re-engage", []schemas.Input{eventAt("e1", E, t0), rejected(clickAt("c1", t0.Add(40*day)), "flood"),
			eventAt("e2", L, t0.Add(40*day+time.Minute))},
			"install@e1 reengagement@e2"},
		{"rejected install still makes the device known", []schemas.Input{clickAt("c1", t0), rejected(eventAt("e1", E, t0.Add(time.Minute)), "device farm"),
			eventAt("e2", E, t0.Add(time.Hour))},
			"install@e1/c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(short(newPipeline(nil).run(t, tt.stream, 100)), " ")
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}

	withUser := func(in schemas.Input) schemas.Input { return with(in, func(e *schemas.Event) { e.UserID = "u1" }) }
	out := newPipeline(nil).run(t, []schemas.Input{
		eventAt("e1", E, t0),
		withUser(rejected(eventAt("e2", schemas.EventPurchase, t0.Add(time.Hour)), "fake receipt")),
		eventAt("e3", schemas.EventPurchase, t0.Add(2*time.Hour)),
	}, 100)
	for _, c := range out {
		wantRejected := c.EventID == "e2"
		if c.Rejected != wantRejected || (c.RejectReason == "fake receipt") != wantRejected {
			t.Errorf("%s@%s: rejected %v %q", c.Type, c.EventID, c.Rejected, c.RejectReason)
		}
	}
	if got := short(out); !slices.Contains(got, "new_user@e2") || !slices.Contains(got, "first_purchase@e2") || slices.Contains(got, "first_purchase@e3") {
		t.Errorf("a rejected purchase is still the first purchase: %v", got)
	}
}

// TestAttributedAt: every record carries when its attribution was made:
// the install (or first event) for the first attribution's records, the
// latest re-attribution for the current one's (_ca, user level).
func TestAttributedAt(t *testing.T) {
	E, L, P := schemas.EventInstall, schemas.EventLaunch, schemas.EventPurchase
	user := func(in schemas.Input) schemas.Input { return with(in, func(e *schemas.Event) { e.UserID = "u1" }) }
	reeng := t0.Add(40 * day)
	out := newPipeline(nil).run(t, []schemas.Input{
		clickAt("c1", t0.Add(-time.Hour)),
		eventAt("e1", E, t0),
		user(eventAt("e2", P, t0.Add(day))),
		clickAt("c2", reeng.Add(-time.Minute)),
		user(eventAt("e3", L, reeng)),
		eventAt("e4", P, reeng.Add(day)),
		eventAt("e5", schemas.EventCustomEvent, reeng.Add(2*day)),
	}, 2)
	want := map[string]time.Time{
		"install@e1": t0, "new_user@e2": t0, "first_purchase@e2": t0, "first_purchase_ca@e2": t0,
		"purchase@e2": t0, "purchase_ca@e2": t0,
		"reengagement@e3": reeng, "reengagement_user@e3": reeng,
		"first_purchase_ca@e4": reeng, "purchase@e4": t0, "purchase_ca@e4": reeng,
		"custom_event@e5": t0, "custom_event_ca@e5": reeng,
	}
	got := map[string]time.Time{}
	for _, c := range out {
		got[c.Type+"@"+c.EventID] = c.AttributedAt
	}
	for k, w := range want {
		if !got[k].Equal(w) {
			t.Errorf("%s: attributed_at %v, want %v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

// TestDeviceStateVersion1StillRead: a device stored before attributed_at
// (state version 1) decodes with its attribution times unknown, and its
// records then carry no attributed_at (the windows do not apply to them)
// until a re-attribution sets one.
func TestDeviceStateVersion1StillRead(t *testing.T) {
	s := deviceState{flags: flagKnown | flagHasActivity, lastActivity: t0.UnixNano(), newestEvent: t0.UnixNano(), newestSeen: t0.UnixNano(),
		first: schemas.Attribution{Touch: schemas.TouchClick, ClickID: "c1", Partner: "p", Campaign: "x"}, current: schemas.Organic,
		firstAt: t0.UnixNano(), currentAt: t0.UnixNano()}
	v2 := appendDeviceState(nil, &s)
	// Version 1 is version 2 without the two times.
	var v1 []byte
	v1 = append(v1, 1, s.flags)
	v1 = appendVarints(v1, s.lastActivity, s.newestEvent, s.newestSeen)
	v1 = appendAttribution(appendAttribution(v1, s.first), s.current)
	v1 = append(v1, v2[len(v1)+3:]...) // touches and ids (the times and the privacy took a byte each)
	st := state.NewMemory()
	key := appendStateKey(nil, app, "d1")
	if err := st.Apply(&state.Batch{Writes: []state.Write{{Key: key, Value: v1}}}); err != nil {
		t.Fatal(err)
	}
	res, err := NewDevice(nil).Classify(st, []schemas.Input{eventAt("e1", schemas.EventLogin, t0.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Classified {
		if !c.AttributedAt.IsZero() || (c.Type == schemas.TypeLogin && c.Attribution.ClickID != "c1") {
			t.Errorf("%s: %+v attributed_at %v", c.Type, c.Attribution, c.AttributedAt)
		}
	}
}

func appendVarints(b []byte, xs ...int64) []byte {
	for _, x := range xs {
		b = binary.AppendVarint(b, x)
	}
	return b
}
