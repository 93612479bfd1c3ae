package generator_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/generator"
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
