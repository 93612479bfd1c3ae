package classify

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// pipeline runs the device and user classifiers over a stream in batches,
// applying their writes as the stages would, and returns the records in
// replay order: per event its device records, then its user records.
type pipeline struct {
	device, user state.Store
	dc           *Device
	uc           *User
}

func newPipeline(windows WindowsFunc) *pipeline {
	return &pipeline{device: state.NewMemory(), user: state.NewMemory(), dc: NewDevice(windows), uc: NewUser(windows)}
}

func (p *pipeline) run(t testing.TB, stream []schemas.Input, batchSize int) []schemas.Classified {
	t.Helper()
	var out []schemas.Classified
	for len(stream) > 0 {
		n := min(batchSize, len(stream))
		out = append(out, p.batch(t, stream[:n])...)
		stream = stream[n:]
	}
	return out
}

func (p *pipeline) batch(t testing.TB, batch []schemas.Input) []schemas.Classified {
	t.Helper()
	dr, err := p.dc.Classify(p.device, batch)
	if err != nil {
		t.Fatalf("device classify: %v", err)
	}
	if err := p.device.Apply(&state.Batch{Writes: dr.Writes}); err != nil {
		t.Fatalf("apply device writes: %v", err)
	}
	ur, err := p.uc.Classify(p.user, dr.UserEvents)
	if err != nil {
		t.Fatalf("user classify: %v", err)
	}
	if err := p.user.Apply(&state.Batch{Writes: ur.Writes}); err != nil {
		t.Fatalf("apply user writes: %v", err)
	}
	var out []schemas.Classified
	next, u := 0, 0
	for i, end := range dr.UserEventEnds {
		out = append(out, dr.Classified[next:end]...)
		next = end
		for ; u < len(ur.Sources) && ur.Sources[u] == i; u++ {
			out = append(out, ur.Classified[u])
		}
	}
	return append(out, dr.Classified[next:]...)
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const app = "com.example.game"

func clickAt(id string, ts time.Time) schemas.Input {
	return schemas.Input{Click: &schemas.Click{ClickID: id, Touch: schemas.TouchClick, Partner: "p-" + id, Campaign: "camp", AppID: app, DeviceID: "d1", TS: ts}}
}

func impressionAt(id string, ts time.Time) schemas.Input {
	in := clickAt(id, ts)
	in.Click.Touch = schemas.TouchImpression
	return in
}

func eventAt(id, typ string, ts time.Time) schemas.Input {
	e := &schemas.Event{EventID: id, AppID: app, Platform: schemas.PlatformAndroid, DeviceID: "d1", Type: typ, TS: ts}
	switch typ {
	case schemas.EventPurchase, schemas.EventCustomRevenue:
		r := 1.5
		e.Revenue, e.Currency = &r, "USD"
		if typ == schemas.EventPurchase {
			e.TransactionID = "tx-" + id
		}
	case schemas.EventCustomEvent:
		e.Name = "level_up"
	}
	return schemas.Input{Event: e}
}

// with changes the event of in.
func with(in schemas.Input, f func(e *schemas.Event)) schemas.Input {
	e := *in.Event
	f(&e)
	return schemas.Input{Event: &e}
}

func web(in schemas.Input) schemas.Input {
	return with(in, func(e *schemas.Event) { e.Platform = schemas.PlatformWeb })
}

// recordKey is what the scenario comparisons look at.
func recordKey(c schemas.Classified) string {
	a := c.Attribution
	return fmt.Sprintf("%s %s %s dev=%s user=%s attr=%s/%s/%s/%s", c.Type, c.EventID, c.PostbackID, c.DeviceID, c.UserID, a.Touch, a.Partner, a.Campaign, a.ClickID)
}

func recordKeys(cs []schemas.Classified) []string {
	ks := make([]string, len(cs))
	for i, c := range cs {
		ks[i] = recordKey(c)
	}
	sort.Strings(ks)
	return ks
}

// short is "type@event_id/click_id" per record, for the rule tables.
func short(cs []schemas.Classified) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		s := c.Type + "@" + c.EventID
		if c.Attribution.Touch != schemas.TouchOrganic {
			s += "/" + c.Attribution.ClickID
		}
		out = append(out, s)
	}
	return out
}
