package partner

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/state"
)

var allMacros = []string{"postback_id", "type", "partner_event", "event_id", "event_ts", "event_unix", "app_id",
	"platform", "device_id", "user_id", "click_id", "campaign", "touch", "revenue", "currency", "name",
	"param.sku", "partner"}

func expectedMacros() map[string]string {
	r := record("ev 1/?&", "purchase", "p")
	r.Name = `n"q`
	return map[string]string{
		"postback_id": r.PostbackID, "type": "purchase", "partner_event": "Buy", "event_id": "ev 1/?&",
		"event_ts": "2026-01-02T03:04:05Z", "event_unix": "1767323045", "app_id": "app1", "platform": "android",
		"device_id": "dev-ev 1/?&", "user_id": "user-ev 1/?&", "click_id": "clk/1", "campaign": "camp 1",
		"touch": "click", "revenue": "9.99", "currency": "EUR", "name": `n"q`, "param.sku": "a b&c", "partner": "p",
	}
}

func macroRecord() Job {
	r := record("ev 1/?&", "purchase", "p")
	r.Name = `n"q`
	return Job{Record: r}
}

func TestMacrosGETQueryAndPath(t *testing.T) {
	dp, base := newPartner(t, nil)
	var q []string
	for i, m := range allMacros {
		q = append(q, "m"+string(rune('a'+i))+"={"+m+"}")
	}
	u := base + "/pb/{event_id}/x?" + strings.Join(q, "&")
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{{Types: []string{"purchase"},
		URL: u, EventNames: map[string]string{"purchase": "Buy"}, Headers: map[string]string{"X-Event": "{event_id}|{revenue}"}}}}))
	run(t, s, pub, state.NewMemory(), []Job{macroRecord()})
	reqs := dp.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	pu, err := url.ParseRequestURI(reqs[0].URI)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/pb/ev%201%2F%3F&/x"; pu.EscapedPath() != want {
		t.Errorf("path = %s, want %s", pu.EscapedPath(), want)
	}
	want := expectedMacros()
	vals := pu.Query()
	for i, m := range allMacros {
		if got := vals.Get("m" + string(rune('a'+i))); got != want[m] {
			t.Errorf("{%s} = %q, want %q", m, got, want[m])
		}
	}
	if got := reqs[0].Header.Get("X-Event"); got != "ev 1/?&|9.99" {
		t.Errorf("header = %q", got)
	}
	if reqs[0].Method != http.MethodGet {
		t.Errorf("method %s", reqs[0].Method)
	}
}

func TestMacrosPOSTBody(t *testing.T) {
	dp, base := newPartner(t, nil)
	var fields []string
	for _, m := range allMacros {
		fields = append(fields, `"`+m+`": "{`+m+`}"`)
	}
	body := "{" + strings.Join(fields, ", ") + `, "rev_num": {revenue}, "unix_num": {event_unix}, "id_bare": {postback_id}}`
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{{Types: []string{"purchase"},
		Method: "POST", URL: base + "/pb", Body: body, EventNames: map[string]string{"purchase": "Buy"}}}}))
	run(t, s, pub, state.NewMemory(), []Job{macroRecord()})
	reqs := dp.Requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost {
		t.Fatalf("requests: %+v", reqs)
	}
	var got map[string]any
	if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
		t.Fatalf("body %s: %v", reqs[0].Body, err)
	}
	for m, want := range expectedMacros() {
		if got[m] != want {
			t.Errorf("{%s} = %#v, want %q", m, got[m], want)
		}
	}
	if got["rev_num"] != 9.99 || got["unix_num"] != float64(1767323045) || got["id_bare"] != expectedMacros()["postback_id"] {
		t.Errorf("unquoted macros: %v %v %v", got["rev_num"], got["unix_num"], got["id_bare"])
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}

func TestUnquotedRevenueAbsentIsNull(t *testing.T) {
	tpl, err := compileTemplate(`{"r": {revenue}}`, kindBody)
	if err != nil {
		t.Fatal(err)
	}
	v := sampleVars()
	v.rec.Revenue = nil
	if got := string(tpl.render(nil, v)); got != `{"r": null}` {
		t.Fatalf("got %s", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	if _, err := compileTemplate("https://x/{nope}", kindURL); err == nil || !strings.Contains(err.Error(), "unknown macro {nope}") {
		t.Errorf("unknown macro: %v", err)
	}
	if _, err := compileTemplate("https://{app_id}.example.com/", kindURL); err == nil {
		t.Error("macro in host accepted")
	}
}
