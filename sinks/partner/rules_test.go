package partner

import (
	"testing"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

func TestRuleKinds(t *testing.T) {
	minRev := 5.0
	cases := []struct {
		name string
		rule RuleConfig
		rec  func() schemas.Classified
		want bool
	}{
		{"types match", RuleConfig{Types: []string{"install"}}, func() schemas.Classified { return record("e", "install", "p") }, true},
		{"types filter", RuleConfig{Types: []string{"install"}}, func() schemas.Classified { return record("e", "purchase", "p") }, false},
		{"attributed to another partner", RuleConfig{Types: []string{"install"}}, func() schemas.Classified { return record("e", "install", "other") }, false},
		{"mode all sends others' records", RuleConfig{Types: []string{"install"}, Mode: ModeAll}, func() schemas.Classified { return record("e", "install", "other") }, true},
		{"organic not sent in attributed mode", RuleConfig{Types: []string{"install"}}, func() schemas.Classified {
			r := record("e", "install", "")
			r.Attribution = schemas.Organic
			return r
		}, false},
		{"min revenue met", RuleConfig{Types: []string{"purchase"}, MinRevenue: &minRev}, func() schemas.Classified { return record("e", "purchase", "p") }, true},
		{"min revenue not met", RuleConfig{Types: []string{"purchase"}, MinRevenue: &minRev}, func() schemas.Classified {
			r := record("e", "purchase", "p")
			low := 1.0
			r.Revenue = &low
			return r
		}, false},
		{"min revenue without revenue", RuleConfig{Types: []string{"install"}, MinRevenue: &minRev}, func() schemas.Classified {
			r := record("e", "install", "p")
			r.Revenue = nil
			return r
		}, false},
		{"apps filter match", RuleConfig{Types: []string{"install"}, Apps: []string{"app1"}}, func() schemas.Classified { return record("e", "install", "p") }, true},
		{"apps filter miss", RuleConfig{Types: []string{"install"}, Apps: []string{"app2"}}, func() schemas.Classified { return record("e", "install", "p") }, false},
		{"apps star", RuleConfig{Types: []string{"install"}, Apps: []string{"*"}}, func() schemas.Classified { return record("e", "install", "p") }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dp, url := newPartner(t, nil)
			tc.rule.URL = url + "/pb?id={postback_id}"
			s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{tc.rule}}))
			run(t, s, pub, state.NewMemory(), jobs(tc.rec()))
			if got := len(dp.Requests()) == 1; got != tc.want {
				t.Fatalf("sent = %v, want %v (requests %d)", got, tc.want, len(dp.Requests()))
			}
		})
	}
}

func TestEventNameMappingAndFirstRuleWins(t *testing.T) {
	dp, url := newPartner(t, nil)
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{
		{Types: []string{"first_purchase_ca"}, URL: url + "/a?ev={partner_event}&t={type}",
			EventNames: map[string]string{"first_purchase_ca": "FirstPurchase"}},
		{Types: []string{"first_purchase_ca", "install"}, URL: url + "/b?ev={partner_event}"},
	}}))
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "first_purchase_ca", "p"), record("e2", "install", "p")))
	reqs := dp.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	got := map[string]bool{reqs[0].URI: true, reqs[1].URI: true}
	for _, want := range []string{"/a?ev=FirstPurchase&t=first_purchase_ca", "/b?ev=install"} {
		if !got[want] {
			t.Errorf("missing request %s in %v", want, got)
		}
	}
}
