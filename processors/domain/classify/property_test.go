package classify

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

var eventTypes = []string{schemas.EventInstall, schemas.EventLaunch, schemas.EventVisit, schemas.EventRegistration,
	schemas.EventLogin, schemas.EventPurchase, schemas.EventCustomRevenue, schemas.EventCustomEvent}

// randomStream is a long stream over many devices, users and apps, with
// random types, times that mostly move forward (some late, some far in the
// future), repeated event and transaction ids and clicks.
func randomStream(seed int64, n, devices int) []schemas.Input {
	r := rand.New(rand.NewSource(seed))
	apps := []string{"a1", "a2", "site"}
	now := t0
	out := make([]schemas.Input, 0, n)
	for i := 0; i < n; i++ {
		now = now.Add(time.Duration(r.Int63n(int64(6 * time.Hour))))
		ts := now
		if r.Intn(10) == 0 {
			ts = ts.Add(-time.Duration(r.Int63n(int64(40 * day))))
		}
		appID := apps[r.Intn(len(apps))]
		dev := fmt.Sprintf("d%d", r.Intn(devices))
		if r.Intn(4) == 0 {
			touch := schemas.TouchClick
			if r.Intn(3) == 0 {
				touch = schemas.TouchImpression
			}
			out = append(out, schemas.Input{Click: &schemas.Click{ClickID: fmt.Sprintf("c%d", i), Touch: touch,
				Partner: fmt.Sprintf("p%d", r.Intn(3)), AppID: appID, DeviceID: dev, TS: ts.Add(-time.Duration(r.Int63n(int64(2 * day))))}})
			continue
		}
		typ := eventTypes[r.Intn(len(eventTypes))]
		id := fmt.Sprintf("e%d", i)
		if r.Intn(20) == 0 && i > 0 {
			id = fmt.Sprintf("e%d", r.Intn(i))
		}
		in := eventAt(id, typ, ts)
		e := in.Event
		e.AppID, e.DeviceID = appID, dev
		if appID == "site" {
			e.Platform = schemas.PlatformWeb
		}
		if r.Intn(3) > 0 {
			e.UserID = fmt.Sprintf("u%d", r.Intn(devices/2+1))
		}
		if typ == schemas.EventPurchase && r.Intn(5) == 0 {
			e.TransactionID = fmt.Sprintf("tx%d", r.Intn(50))
		}
		out = append(out, in)
	}
	return out
}

func renderAll(cs []schemas.Classified) string {
	var b strings.Builder
	for i := range cs {
		b.Write(schemas.AppendClassifiedJSON(nil, &cs[i]))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestBadgerAndMemoryAgreeOnAnySplit: the same stream through Badger and
// memory stores, cut into batches in different ways, gives byte-identical
// output.
func TestBadgerAndMemoryAgreeOnAnySplit(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	for _, seed := range []int64{1, 2, 3} {
		stream := randomStream(seed, n, 200)
		want := renderAll(newPipeline(nil).run(t, stream, len(stream)))
		if want == "" {
			t.Fatal("empty output")
		}
		r := rand.New(rand.NewSource(seed))
		// cached is the stages' setup: Badger behind a write-through cache,
		// here smaller than the 200 devices, so that states are read both
		// from the cache and, after evictions, from Badger.
		for _, kind := range []string{"memory", "badger", "cached"} {
			p := newPipeline(nil)
			switch kind {
			case "badger":
				p.device, p.user = openBadger(t), openBadger(t)
			case "cached":
				p.device, p.user = state.NewCached(openBadger(t), 120), state.NewCached(openBadger(t), 120)
			}
			var out []schemas.Classified
			for rest := stream; len(rest) > 0; {
				k := min(1+r.Intn(300), len(rest))
				out = append(out, p.batch(t, rest[:k])...)
				rest = rest[k:]
			}
			if got := renderAll(out); got != want {
				t.Fatalf("seed %d %s: output differs from one-batch memory run (%d vs %d bytes)", seed, kind, len(got), len(want))
			}
		}
	}
}

func openBadger(t testing.TB) state.Store {
	t.Helper()
	s, err := state.OpenBadger(t.TempDir(), state.BadgerOptions{LevelZeroTables: state.RewrittenLevelZeroTables}) // as the stages open it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBusyDeviceStateIsBounded: 100k events and clicks on one device keep
// its state under 8 KB.
func TestBusyDeviceStateIsBounded(t *testing.T) {
	const limit = 8 << 10
	p := newPipeline(nil)
	r := rand.New(rand.NewSource(7))
	now := t0
	batch := make([]schemas.Input, 0, 1000)
	for i := 0; i < 100000; i++ {
		now = now.Add(time.Duration(r.Int63n(int64(time.Minute))))
		if i%3 == 0 {
			batch = append(batch, clickAt(fmt.Sprintf("click-%d-%s", i, strings.Repeat("x", 20)), now))
		} else {
			batch = append(batch, eventAt(fmt.Sprintf("0b9c2a3e-event-%d", i), eventTypes[r.Intn(len(eventTypes))], now))
		}
		if len(batch) == cap(batch) {
			p.batch(t, batch)
			batch = batch[:0]
		}
	}
	v, err := p.device.Get([]byte(stateKey(app, "d1")))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > limit {
		t.Fatalf("busy device state is %d bytes, want <= %d", len(v), limit)
	}
	if os.Getenv("CLASSIFY_REPORT") != "" {
		t.Logf("busy device state: %d bytes", len(v))
	}
	var s deviceState
	if err := decodeDeviceState(v, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.clicks) > maxTouches || len(s.eventIDs) > maxEventIDs || len(s.transactions) > maxTransactionIDs {
		t.Fatalf("bounds exceeded: %d clicks, %d ids, %d transactions", len(s.clicks), len(s.eventIDs), len(s.transactions))
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	st := state.NewMemory()
	st.Apply(&state.Batch{Writes: []state.Write{{Key: []byte(stateKey(app, "d1")), Value: []byte{1, 0, 2}}}})
	if _, err := NewDevice(nil).Classify(st, []schemas.Input{eventAt("e1", schemas.EventLaunch, t0)}); err == nil {
		t.Fatal("corrupt state accepted")
	}
}

func FuzzDecodeDeviceState(f *testing.F) {
	s := deviceState{flags: flagKnown, first: schemas.Attribution{Touch: schemas.TouchClick, ClickID: "c", Partner: "p"},
		clicks: []touch{{ts: 5, clickID: "c"}}, eventIDs: []seenID{{hash: 1, ts: 2}}}
	f.Add(appendDeviceState(nil, &s))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s deviceState
		if decodeDeviceState(b, &s) == nil {
			var again deviceState
			if err := decodeDeviceState(appendDeviceState(nil, &s), &again); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		}
	})
}
