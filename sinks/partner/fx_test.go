package partner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/postbackd/postbackd/state"
)

func writeRates(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rates.csv")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFXConvertsRevenue: revenue in EUR goes to the partner in the base
// currency ({revenue_base}, {revenue_usd}) and in the partner's own
// ({revenue_partner}, here GBP) at the rates of its day; min_revenue is
// compared in the base currency; a currency without a rate for the day
// is sent without the converted values (null in JSON) and counted, and a
// rule with min_revenue does not match it.
func TestFXConvertsRevenue(t *testing.T) {
	rates := writeRates(t, "date,currency,rate\n2026-01-01,EUR,1.10\n2026-01-01,GBP,1.25\n2026-01-02,EUR,1.20\n")
	dp, url := newPartner(t, nil)
	body := `{"id":"{postback_id}","usd":{revenue_base},"usd2":{revenue_usd},"gbp":{revenue_partner},"cur":"{currency_partner}"}`
	all := RuleConfig{Types: []string{"purchase"}, Mode: ModeAll, URL: url + "/all", Method: "POST", Body: body}
	min := 11.5
	big := RuleConfig{Types: []string{"purchase"}, Mode: ModeAll, URL: url + "/big?id={postback_id}", MinRevenue: &min}
	cfg := testConfig(
		PartnerConfig{ID: "p", Currency: "GBP", Rules: []RuleConfig{all}},
		PartnerConfig{ID: "q", Rules: []RuleConfig{big}},
	)
	cfg.FX = FXConfig{Base: "USD", RatesFile: rates}
	s, pub := newTestSink(t, cfg)

	rec := func(id string, rev float64, cur string, day time.Time) Job {
		r := record(id, "purchase", "p")
		r.Revenue, r.Currency, r.EventTS = &rev, cur, day
		r.PostbackID = id // readable in the assertions
		return Job{Record: r}
	}
	d1 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	d2 := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC) // GBP carried from the 1st
	run(t, s, pub, state.NewMemory(), []Job{
		rec("e1", 10, "EUR", d1),                   // 11 USD: under min_revenue
		rec("e2", 10, "EUR", d2),                   // 12 USD: over it
		rec("e3", 10, "CHF", d1),                   // no CHF rate
		rec("e4", 10, "EUR", d1.AddDate(0, 0, 30)), // past the 7 days a rate is carried
	})
	bodies := map[string]string{}
	var big2 []string
	for _, r := range dp.Requests() {
		switch {
		case strings.HasPrefix(r.Path, "/all"):
			var b struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r.Body, &b)
			bodies[b.ID] = string(r.Body)
		case strings.HasPrefix(r.Path, "/big"):
			big2 = append(big2, r.Query.Get("id"))
		}
	}
	want := map[string]string{
		"e1": `{"id":"e1","usd":11,"usd2":11,"gbp":8.8,"cur":"GBP"}`,
		"e2": `{"id":"e2","usd":12,"usd2":12,"gbp":9.6,"cur":"GBP"}`,
		"e3": `{"id":"e3","usd":null,"usd2":null,"gbp":null,"cur":"GBP"}`,
		"e4": `{"id":"e4","usd":null,"usd2":null,"gbp":null,"cur":"GBP"}`,
	}
	for id, w := range want {
		if bodies[id] != w {
			t.Errorf("%s: body %s, want %s", id, bodies[id], w)
		}
	}
	if len(big2) != 1 || big2[0] != "e2" {
		t.Errorf("the min_revenue rule (11.5 USD) sent %q, want e2 only", big2)
	}
	for _, cur := range []string{"CHF", "EUR"} {
		if counterValue(t, s.metrics.fxMissing.WithLabelValues(cur)) == 0 {
			t.Errorf("no fx_missing count for %s", cur)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFXConfigChecked: bad rates lines are reported with the file and
// line; a partner currency needs sink.fx.
func TestFXConfigChecked(t *testing.T) {
	for text, want := range map[string]string{
		"2026-01-01,EUR,1.1\n2026-13-01,EUR,1.2\n": "rates.csv:2: date",
		"2026-01-01,eur,1.1\n":                     "rates.csv:1: currency",
		"2026-01-01,EUR,-1\n":                      "rates.csv:1: rate",
		"2026-01-01,EUR,1\n2026-01-01,EUR,2\n":     "two rates",
	} {
		if _, err := loadFX(FXConfig{Base: "USD", RatesFile: writeRates(t, text)}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	cfg := testConfig(PartnerConfig{ID: "p", Currency: "GBP", Rules: []RuleConfig{getRule("http://example.com/pb", "install")}})
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "sink.partners[0].currency") {
		t.Errorf("Validate: %v", err)
	}
}
