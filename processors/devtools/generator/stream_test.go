package generator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/generator"
)

// line is the JSON form of a raw record, as the tests read it back.
type line struct {
	Kind          string            `json:"kind"`
	ClickID       string            `json:"click_id"`
	Touch         string            `json:"touch"`
	Partner       string            `json:"partner"`
	Campaign      string            `json:"campaign"`
	EventID       string            `json:"event_id"`
	AppID         string            `json:"app_id"`
	Platform      string            `json:"platform"`
	DeviceID      string            `json:"device_id"`
	UserID        string            `json:"user_id"`
	Type          string            `json:"type"`
	TS            string            `json:"ts"`
	Name          string            `json:"name"`
	Revenue       *float64          `json:"revenue"`
	Currency      string            `json:"currency"`
	TransactionID string            `json:"transaction_id"`
	Params        map[string]string `json:"params"`
}

func decode(t testing.TB, r generator.Record) line {
	t.Helper()
	var l line
	if err := json.Unmarshal(r.Value, &l); err != nil {
		t.Fatalf("record %s does not decode: %v", r.Value, err)
	}
	return l
}

// summary is what the tests check of a stream: per-device history and the
// variety of what happened.
type summary struct {
	records, malformed            int
	first, last                   time.Time
	kinds, types, touches         map[string]int
	currencies, partners, customs map[string]int
	userDevices                   map[string]map[string]bool
	dupEventIDs, dupTxIDs         int
	reengagements, reinstalls     int // activity after a gap >= 30 days, by raw type
}

func summarize(t testing.TB, cfg generator.Config, n int) summary {
	t.Helper()
	s := summary{
		kinds: map[string]int{}, types: map[string]int{}, touches: map[string]int{},
		currencies: map[string]int{}, partners: map[string]int{}, customs: map[string]int{},
		userDevices: map[string]map[string]bool{},
	}
	type history struct {
		lastTS, lastActivity time.Time
		events, txs          map[string]bool
	}
	devices := map[string]*history{}
	g := generator.New(cfg)
	var prev time.Time
	for range n {
		r := g.Next()
		s.records++
		if r.Time.Before(prev) {
			t.Fatalf("record at %s after one at %s", r.Time, prev)
		}
		prev = r.Time
		if s.first.IsZero() {
			s.first = r.Time
		}
		s.last = r.Time
		if string(r.Key) != r.DeviceID {
			t.Fatalf("key %q is not device id %q", r.Key, r.DeviceID)
		}
		if r.Malformed {
			s.malformed++
			continue
		}
		l := decode(t, r)
		s.kinds[l.Kind]++
		if l.Kind != r.Kind || l.DeviceID != r.DeviceID {
			t.Fatalf("record %+v does not match its line %s", r, r.Value)
		}
		ts, err := time.Parse(time.RFC3339, l.TS)
		if err != nil {
			t.Fatalf("bad ts in %s: %v", r.Value, err)
		}
		h := devices[l.DeviceID]
		if h == nil {
			h = &history{events: map[string]bool{}, txs: map[string]bool{}}
			devices[l.DeviceID] = h
		}
		if l.Kind == generator.KindClick {
			if !ts.Equal(r.Time) || ts.Before(h.lastTS) {
				t.Fatalf("click out of order: %s", r.Value)
			}
			h.lastTS = ts
			s.touches[l.Touch]++
			s.partners[l.Partner]++
			continue
		}
		if h.events[l.EventID] {
			s.dupEventIDs++
			continue
		}
		h.events[l.EventID] = true
		if !ts.Equal(r.Time) || ts.Before(h.lastTS) {
			t.Fatalf("event out of order: %s", r.Value)
		}
		h.lastTS = ts
		s.types[l.Platform+"/"+l.Type]++
		if l.UserID != "" {
			if s.userDevices[l.UserID] == nil {
				s.userDevices[l.UserID] = map[string]bool{}
			}
			s.userDevices[l.UserID][l.DeviceID] = true
		}
		switch l.Type {
		case "purchase":
			s.currencies[l.Currency]++
			if h.txs[l.TransactionID] {
				s.dupTxIDs++
			}
			h.txs[l.TransactionID] = true
		case "custom_event":
			s.customs[l.Name]++
		}
		switch l.Type {
		case "install", "launch", "visit", "registration", "login", "purchase":
			if !h.lastActivity.IsZero() && ts.Sub(h.lastActivity) >= 30*24*time.Hour {
				if l.Type == "install" {
					s.reinstalls++
				} else {
					s.reengagements++
				}
			}
			h.lastActivity = ts
		}
	}
	return s
}

func TestStreamVariety(t *testing.T) {
	s := summarize(t, generator.Config{Seed: 42}, 20000)
	t.Logf("%d records span %s", s.records, s.last.Sub(s.first))
	t.Logf("%+v", s.types)
	t.Logf("kinds %v touches %v currencies %v partners %v customs %v", s.kinds, s.touches, s.currencies, s.partners, s.customs)
	multi := 0
	for _, ds := range s.userDevices {
		if len(ds) > 1 {
			multi++
		}
	}
	t.Logf("users %d multi-device %d dup events %d dup tx %d reengagements %d reinstalls %d",
		len(s.userDevices), multi, s.dupEventIDs, s.dupTxIDs, s.reengagements, s.reinstalls)

	for _, typ := range []string{"android/install", "ios/install", "android/launch", "web/visit",
		"android/registration", "ios/login", "web/login", "android/purchase", "ios/custom_revenue",
		"web/custom_revenue", "android/custom_event"} {
		if s.types[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	if s.touches["click"] == 0 || s.touches["impression"] == 0 || len(s.partners) != 4 {
		t.Errorf("touches %v from partners %v", s.touches, s.partners)
	}
	if len(s.currencies) < 4 || len(s.customs) < 4 {
		t.Errorf("currencies %v, custom events %v", s.currencies, s.customs)
	}
	if multi == 0 || s.dupEventIDs == 0 || s.dupTxIDs == 0 || s.reengagements == 0 || s.reinstalls == 0 {
		t.Error("missing multi-device users, duplicates, re-engagements or re-installs")
	}
}

func TestSingleDeviceUsers(t *testing.T) {
	s := summarize(t, generator.Config{Seed: 5, Devices: 300, SingleDeviceUsers: true}, 10000)
	if len(s.userDevices) == 0 {
		t.Fatal("no users")
	}
	for u, ds := range s.userDevices {
		if len(ds) != 1 {
			t.Errorf("user %s is on %d devices", u, len(ds))
		}
	}
}

func TestMalformedRate(t *testing.T) {
	s := summarize(t, generator.Config{Seed: 9, Devices: 100, MalformedRate: 0.1}, 20000)
	if s.malformed < 1700 || s.malformed > 2300 {
		t.Errorf("%d malformed records of 20000 at rate 0.1", s.malformed)
	}
	g := generator.New(generator.Config{Seed: 9, MalformedRate: 1})
	kinds := map[string]int{}
	for range 200 {
		r := g.Next()
		if !r.Malformed || r.DeviceID == "" || len(r.Key) == 0 || len(r.Value) == 0 {
			t.Fatalf("record %+v", r)
		}
		kinds[r.Kind]++
	}
	if kinds[generator.KindGarbage] == 0 || kinds[generator.KindEvent] == 0 {
		t.Errorf("malformed kinds %v", kinds)
	}
}

func TestTimeCompression(t *testing.T) {
	span := func(tc time.Duration) time.Duration {
		g := generator.New(generator.Config{Seed: 1, Devices: 50, TimeCompression: tc})
		first := g.Next().Time
		var last time.Time
		for range 20000 {
			last = g.Next().Time
		}
		return last.Sub(first)
	}
	// Long pauses put a floor under the span: 50 devices cannot make
	// 20,000 records in less than some 600 days.
	fast, slow := span(time.Hour), span(6*time.Hour)
	t.Logf("20000 records span %s at 1h/record, %s at 6h/record", fast, slow)
	if fast < 300*24*time.Hour || slow < fast*18/10 {
		t.Errorf("spans %s and %s", fast, slow)
	}
}

func TestValidate(t *testing.T) {
	if err := (generator.Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	bad := []generator.Config{
		{Devices: -1},
		{MalformedRate: 1.5},
		{MultiDeviceUsers: -0.1},
		{TimeCompression: -time.Second},
		{Apps: []generator.App{{ID: "a", Platforms: []string{"symbian"}}}},
		{Apps: []generator.App{{ID: "", Platforms: []string{"web"}}}},
		{Partners: []string{""}},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, generator.ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	// New clamps what Validate reports.
	g := generator.New(generator.Config{Devices: -1, MalformedRate: 2, Apps: []generator.App{{ID: "only.web", Platforms: []string{"web", "symbian"}}}})
	if c := g.Config(); c.Devices != 1000 || c.MalformedRate != 1 || len(c.Apps) != 1 || len(c.Apps[0].Platforms) != 1 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestWriteJSONLines(t *testing.T) {
	var buf bytes.Buffer
	g := generator.New(generator.Config{Seed: 2, Devices: 10, MalformedRate: 0.2})
	if err := generator.WriteJSONLines(&buf, g, 500); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 500 {
		t.Fatalf("%d lines, want 500", len(lines))
	}
	want := generator.New(generator.Config{Seed: 2, Devices: 10, MalformedRate: 0.2})
	for i, l := range lines {
		if r := want.Next(); !r.Malformed && !bytes.Equal(l, r.Value) {
			t.Fatalf("line %d = %s, want %s", i, l, r.Value)
		}
	}
}

// TestLargeRunMemory checks memory stays O(devices): a million records over
// 100,000 devices.
func TestLargeRunMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million records")
	}
	g := generator.New(generator.Config{Seed: 1, Devices: 100_000, MalformedRate: 0.01})
	var ms runtime.MemStats
	heap := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	start := time.Now()
	var at100k uint64
	for i := range 1_000_000 {
		g.Next()
		if i == 100_000 {
			at100k = heap()
		}
	}
	elapsed := time.Since(start)
	end := heap()
	t.Logf("1M records in %s; live heap %d MB after 100k records, %d MB after 1M", elapsed, at100k>>20, end>>20)
	if end > at100k+at100k/2 || end > 200<<20 {
		t.Errorf("live heap grew from %d to %d bytes", at100k, end)
	}
	runtime.KeepAlive(g)
}

func TestDeterministic(t *testing.T) {
	cfg := generator.Config{Seed: 3, Devices: 50, MalformedRate: 0.05}
	a, b := generator.New(cfg), generator.New(cfg)
	for i := range 5000 {
		ra, rb := a.Next(), b.Next()
		if !bytes.Equal(ra.Value, rb.Value) || !ra.Time.Equal(rb.Time) {
			t.Fatalf("record %d differs: %s vs %s", i, ra.Value, rb.Value)
		}
	}
}
