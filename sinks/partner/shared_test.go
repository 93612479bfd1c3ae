package partner

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackd/postbackd/state"
)

// TestSinksPerPartner builds one Sink per partner (ForPartner) sharing
// their metrics and status cache (WithShared) on one registry, as the sink
// stage does: registering twice would fail, each Sink offers a fresh
// record to its own partner only, and one admin handler over both merges
// their statuses and resends through each.
func TestSinksPerPartner(t *testing.T) {
	dp, url := newPartner(t, nil) // both partners, at /p/a and /p/b
	cfg := testConfig(
		PartnerConfig{ID: "a", Rules: []RuleConfig{getRule(url+"/p/a", "install")}},
		PartnerConfig{ID: "b", Rules: []RuleConfig{getRule(url+"/p/b", "install")}},
	)
	calls := func(partner string) int { return dp.Stats().Partners[partner].Received }
	reg := prometheus.NewRegistry()
	shared, err := NewShared(cfg, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewShared(cfg, WithRegisterer(reg)); err == nil {
		t.Fatal("a second registration of the sink's metrics on one registry succeeded; the Sinks must share one")
	}
	sa, pubA := newTestSink(t, cfg, WithShared(shared), ForPartner("a"))
	sb, pubB := newTestSink(t, cfg, WithShared(shared), ForPartner("b"))
	if !sa.Handles("a") || sa.Handles("b") || len(sa.Partners()) != 1 {
		t.Fatalf("sink for a handles %v", sa.Partners())
	}

	// ModeAll: the record matches both partners' rules; each Sink sends it
	// to its own partner only, and records only its own dedup key.
	rec := record("e1", "install", "a")
	storeA, storeB := state.NewMemory(), state.NewMemory()
	run(t, sa, pubA, storeA, jobs(rec))
	run(t, sb, pubB, storeB, jobs(rec))
	if na, nb := calls("a"), calls("b"); na != 1 || nb != 1 {
		t.Fatalf("partner a saw %d calls, b %d; want 1 each", na, nb)
	}
	if _, err := storeA.Get(DedupKey("b", rec.PostbackID)); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("a's store has b's dedup key (err %v)", err)
	}
	for _, e := range pubA.entries() {
		if e.Partner != "a" {
			t.Fatalf("a's Sink logged an entry of %s", e.Partner)
		}
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "postbackd_sink_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var partner, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "partner":
					partner = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			if outcome == OutcomeDelivered {
				delivered[partner] += m.GetCounter().GetValue()
			}
		}
	}
	if delivered["a"] != 1 || delivered["b"] != 1 {
		t.Fatalf("shared metrics count deliveries %v, want 1 for each partner", delivered)
	}

	admin := httptest.NewServer(AdminHandler("t0ken", sa, sb))
	defer admin.Close()
	do := func(method, path string) (int, []Status) {
		req, _ := http.NewRequest(method, admin.URL+path, nil)
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Partners []Status `json:"partners"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Partners
	}
	if code, st := do("GET", "/v1/postbacks/"+rec.PostbackID); code != 200 || len(st) != 2 {
		t.Fatalf("status: %d with %d partners, want 200 with both", code, len(st))
	}
	if code, _ := do("GET", "/v1/postbacks/unknown"); code != 404 {
		t.Fatalf("unknown: %d, want 404", code)
	}
	code, st := do("POST", "/v1/postbacks/"+rec.PostbackID+"/resend")
	if code != 200 || len(st) != 2 {
		t.Fatalf("resend: %d with %d partners, want 200 with both", code, len(st))
	}
	for _, s := range st {
		if s.Attempts != 2 || s.Outcome != OutcomeDelivered {
			t.Errorf("after resend %s: %d attempts, %s; want 2, delivered", s.Partner, s.Attempts, s.Outcome)
		}
	}
	if na, nb := calls("a"), calls("b"); na != 2 || nb != 2 {
		t.Fatalf("after resend partner a saw %d calls, b %d; want 2 each (each resent once, by its own Sink)", na, nb)
	}
	if code, _ := do("POST", "/v1/postbacks/unknown/resend"); code != 404 {
		t.Fatalf("resend unknown: %d, want 404", code)
	}
}

func TestForPartnerUnknown(t *testing.T) {
	cfg := testConfig(PartnerConfig{ID: "a", Rules: []RuleConfig{getRule("http://127.0.0.1:1/x", "install")}})
	if _, err := New(cfg, &fakePub{}, ForPartner("nope")); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ForPartner of an unconfigured partner: %v, want ErrInvalidConfig", err)
	}
}
