package partner

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// TestExplainEveryReason: Router.Explain says, per partner, whether a
// record would be sent and, if not, the reason of every rule that does not
// take it (type, app, mode, rejected, window, min_revenue) or the privacy
// rule that stops it; a limited record for a strip_ids partner is sent
// with its ids blank.
func TestExplainEveryReason(t *testing.T) {
	minRev := 5.0
	cfg := testConfig(
		PartnerConfig{ID: "p", Rules: []RuleConfig{
			{Types: []string{"purchase"}, URL: "http://127.0.0.1/a"},
			{Types: []string{"install"}, Apps: []string{"other"}, URL: "http://127.0.0.1/b"},
			{Types: []string{"install"}, Window: Duration(24 * time.Hour), MinRevenue: &minRev, URL: "http://127.0.0.1/c"},
			{Types: []string{"install"}, Mode: ModeAll, URL: "http://127.0.0.1/d"},
		}},
		PartnerConfig{ID: "q", Privacy: PrivacyConfig{RequireConsent: []string{schemas.SignalAdUserData}},
			Rules: []RuleConfig{{Types: []string{"install"}, Mode: ModeAll, URL: "http://127.0.0.1/e"}}},
	)
	router, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := record("e1", "install", "other-partner")
	rec.AttributedAt, rec.EventTS = at, at.Add(48*time.Hour)
	got := router.Explain(&rec)
	want := []Explanation{
		{Partner: "p", Send: true, Rule: 3, Rules: []RuleMismatch{{0, WhyType}, {1, WhyApp}, {2, WhyMode}}},
		{Partner: "q", Rule: 0, Reason: ExplainPrivacy + "consent:ad_user_data"},
	}
	if !jsonEqual(t, got, want) {
		t.Errorf("got  %s\nwant %s", js(t, got), js(t, want))
	}

	rec = record("e2", "install", "p")
	rec.AttributedAt, rec.EventTS = at, at.Add(48*time.Hour)
	rec.Rejected = true
	rec.Privacy = schemas.Privacy{LimitAdTracking: schemas.BoolPtr(true), AdUserData: schemas.ConsentGranted}
	got = router.Explain(&rec)
	want = []Explanation{
		{Partner: "p", Rule: -1, Reason: ExplainNoRule, Rules: []RuleMismatch{{0, WhyType}, {1, WhyApp}, {2, WhyRejected}, {3, WhyRejected}}},
		{Partner: "q", Rule: -1, Reason: ExplainNoRule, Rules: []RuleMismatch{{0, WhyRejected}}},
	}
	if !jsonEqual(t, got, want) {
		t.Errorf("rejected: got  %s\nwant %s", js(t, got), js(t, want))
	}

	rec.Rejected = false
	got = router.Explain(&rec)
	if got[0].Rules[2].Reason != WhyWindow || !got[0].Send || !got[0].StripIDs || !got[1].Send || !got[1].StripIDs {
		t.Errorf("window and strip_ids: %s", js(t, got))
	}
	rec.EventTS = at.Add(time.Hour)
	low := 1.0
	rec.Revenue = &low
	if got = router.Explain(&rec); got[0].Rules[2].Reason != WhyMinRevenue {
		t.Errorf("min_revenue: %s", js(t, got))
	}
}

// TestExplainPrivacyAndRates: the reasons TestExplainEveryReason leaves
// out: an opted-out record for a partner that suppresses them, a limited
// one for a partner that suppresses rather than strips, and a revenue
// whose currency has no rate for its day against a min_revenue rule.
func TestExplainPrivacyAndRates(t *testing.T) {
	minRev := 1.0
	cfg := testConfig(
		PartnerConfig{ID: "out", Rules: []RuleConfig{{Types: []string{"install"}, Mode: ModeAll, URL: "http://127.0.0.1/o"}}},
		PartnerConfig{ID: "lim", Privacy: PrivacyConfig{Limited: "suppress"},
			Rules: []RuleConfig{{Types: []string{"install"}, Mode: ModeAll, URL: "http://127.0.0.1/l"}}},
		PartnerConfig{ID: "rev", Rules: []RuleConfig{{Types: []string{"purchase"}, Mode: ModeAll, MinRevenue: &minRev, URL: "http://127.0.0.1/r"}}},
	)
	cfg.FX = FXConfig{Base: "USD", RatesFile: writeRates(t, "date,currency,rate\n2026-01-01,EUR,1.10\n")}
	router, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := record("o1", "install", "out")
	rec.Privacy = schemas.Privacy{OptOut: schemas.BoolPtr(true)}
	if got := router.Explain(&rec); got[0].Reason != ExplainPrivacy+"opted_out" || got[0].Send {
		t.Errorf("opted out: %s", js(t, got))
	}
	rec.Privacy = schemas.Privacy{LimitAdTracking: schemas.BoolPtr(true)}
	if got := router.Explain(&rec); got[1].Reason != ExplainPrivacy+"limited" || got[1].Send || !got[0].Send || !got[0].StripIDs {
		t.Errorf("limited: %s", js(t, got))
	}
	buy := record("r1", "purchase", "rev")
	chf := 10.0
	buy.Revenue, buy.Currency, buy.EventTS = &chf, "CHF", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if got := router.Explain(&buy); got[2].Send || len(got[2].Rules) != 1 || got[2].Rules[0].Reason != WhyNoRate {
		t.Errorf("no rate: %s", js(t, got))
	}
}

// TestExplainAdminAPI: POST /v1/explain explains a record sent in the body,
// or one known by postback_id from the status cache, where a partner it
// was delivered to says duplicate; without the token, nothing.
func TestExplainAdminAPI(t *testing.T) {
	_, url := newPartner(t, nil)
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}}))
	rec := record("e1", "install", "p")
	run(t, s, pub, state.NewMemory(), jobs(rec))
	admin := httptest.NewServer(s.AdminHandler("t0ken"))
	defer admin.Close()
	post := func(token string, body []byte) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, admin.URL+"/v1/explain", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	if code, _ := post("wrong", schemas.AppendClassifiedJSON(nil, &rec)); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	fresh := record("e2", "install", "p")
	code, out := post("t0ken", schemas.AppendClassifiedJSON(nil, &fresh))
	if p := out["partners"].([]any)[0].(map[string]any); code != 200 || p["send"] != true {
		t.Errorf("a fresh record: %d %v", code, out)
	}
	code, out = post("t0ken", []byte(`{"postback_id": "`+rec.PostbackID+`"}`))
	if p := out["partners"].([]any)[0].(map[string]any); code != 200 || p["send"] != false || p["reason"] != ExplainDuplicate {
		t.Errorf("a delivered postback by id: %d %v", code, out)
	}
	if code, _ := post("t0ken", []byte(`{"postback_id": "unknown"}`)); code != http.StatusNotFound {
		t.Errorf("an unknown id: %d", code)
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonEqual(t *testing.T, a, b any) bool { return js(t, a) == js(t, b) }
