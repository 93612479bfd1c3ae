package partner

import (
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// scenarioRecords reads the classified records a replay scenario of the
// project's own expects (replay's exact output).
func scenarioRecords(t *testing.T, name string) []schemas.Classified {
	t.Helper()
	sc := testkit.Scenario{Name: name, OutPath: filepath.Join(testkit.ScenarioDir(), name+".out.jsonl")}
	var out []schemas.Classified
	for _, line := range testkit.Lines(sc.Out(t)) {
		c, err := schemas.DecodeClassifiedJSON(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// sentTypes runs recs through one partner with rules and returns
// "type@event_id" of each request, by the URL's t and e parameters,
// sorted.
func sentTypes(t *testing.T, rules []RuleConfig, recs []schemas.Classified) ([]string, []url.Values) {
	t.Helper()
	dp, base := newPartner(t, nil)
	for i := range rules {
		rules[i].URL = base + rules[i].URL
	}
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "adnet", Rules: rules}))
	run(t, s, pub, state.NewMemory(), jobs(recs...))
	var got []string
	var queries []url.Values
	for _, r := range dp.Requests() {
		u, err := url.Parse(r.URI)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		got = append(got, q.Get("t")+"@"+q.Get("e"))
		queries = append(queries, q)
	}
	slices.Sort(got)
	return got, queries
}

var everyType = schemas.RecordTypes

// TestPostbackWindows: scenario 52's records (an install on January 1, a
// re-engagement on March 1, events up to September) through a rule with
// a 30-day window: what is sent is what lies at most 30 days after the
// attribution each record carries, the first attribution's for the plain
// records, the re-engagement's for the _ca and user-level ones.
func TestPostbackWindows(t *testing.T) {
	recs := scenarioRecords(t, "52-windows-attributed-at")
	got, _ := sentTypes(t, []RuleConfig{{Types: everyType, Mode: ModeAll, Window: Duration(30 * 24 * time.Hour),
		URL: "/pb?t={type}&e={event_id}&at={attributed_at}"}}, recs)
	want := []string{
		"first_purchase@w2", "first_purchase_ca@w2", "first_purchase_ca@w4", "first_registration@w7",
		"install@w1", "new_user@w1", "purchase@w2", "purchase_ca@w2", "purchase_ca@w4",
		"reengagement@w3", "reengagement_user@w3", "registration@w7", "registration_ca@w7",
	}
	// Left out: purchase@w4 (63 days after the install), custom_event@w5
	// (243 days) and custom_event_ca@w5 (184 days after the re-engagement).
	if !slices.Equal(got, want) {
		t.Errorf("sent %v\nwant %v", got, want)
	}
	all, _ := sentTypes(t, []RuleConfig{{Types: everyType, Mode: ModeAll, URL: "/pb?t={type}&e={event_id}"}}, recs)
	if len(all) != len(recs) {
		t.Errorf("without a window %d of %d sent", len(all), len(recs))
	}

	// The bound is inclusive, like the lookbacks; a record without
	// attributed_at (written before v3) is not held to the window.
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(id string, after time.Duration, known bool) schemas.Classified {
		r := record(id, schemas.TypePurchase, "adnet")
		r.EventTS = at.Add(after)
		if known {
			r.AttributedAt = at
		}
		return r
	}
	got, _ = sentTypes(t, []RuleConfig{{Types: everyType, Window: Duration(7 * 24 * time.Hour), URL: "/pb?t={type}&e={event_id}"}},
		[]schemas.Classified{rec("edge", 7*24*time.Hour, true), rec("past", 7*24*time.Hour+time.Microsecond, true), rec("old", 400*24*time.Hour, false)})
	if want := []string{"purchase@edge", "purchase@old"}; !slices.Equal(got, want) {
		t.Errorf("bounds: sent %v, want %v", got, want)
	}
}

// TestRejectedRecords: scenario 51's records through a partner in all
// mode: the fraud tool's rejected install and purchase (and its new_user)
// are not sent by a rule without include_rejected, and are sent, with the
// verdict in the macros, by one with it. A later rule with
// include_rejected catches what the first one left.
func TestRejectedRecords(t *testing.T) {
	recs := scenarioRecords(t, "51-fraud-verdicts")
	got, _ := sentTypes(t, []RuleConfig{{Types: everyType, Mode: ModeAll, URL: "/pb?t={type}&e={event_id}"}}, recs)
	for _, g := range got {
		if strings.HasSuffix(g, "@e3") || strings.HasSuffix(g, "@e6") {
			t.Errorf("rejected record sent: %s", g)
		}
	}
	if len(got) != 7 { // e1, e2, e4 (3), e5, e7
		t.Errorf("sent %d records, want 7: %v", len(got), got)
	}
	got, qs := sentTypes(t, []RuleConfig{
		{Types: everyType, Mode: ModeAll, URL: "/pb?t={type}&e={event_id}&rule=plain"},
		{Types: everyType, Mode: ModeAll, IncludeRejected: true, URL: "/pb?t={type}&e={event_id}&rule=rejected&r={rejected}&why={reject_reason}"},
	}, recs)
	if len(got) != len(recs) {
		t.Fatalf("with include_rejected %d of %d sent: %v", len(got), len(recs), got)
	}
	for _, q := range qs {
		rejected := q.Get("e") == "e3" || q.Get("e") == "e6"
		if rejected != (q.Get("rule") == "rejected") || (rejected && (q.Get("r") != "true" || q.Get("why") == "")) {
			t.Errorf("%s@%s: %v", q.Get("t"), q.Get("e"), q)
		}
	}
}
