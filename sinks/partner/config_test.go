package partner

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const goodYAML = `
sink:
  allow_private_networks: true
  admin: {listen: "127.0.0.1:8088", token_env: ADMIN_TOKEN}
  retry:
    in_process: {max_attempts: 3, max_wait: 2s}
    tiers: [1m, 5m, 15m, 1h, 6h, 1d]
    retry_after_cap: 1h
  redact: {query_params: [token]}
  partners:
    - id: acme
      secret_env: ACME_SECRET
      rate_per_second: 100
      concurrency: 4
      timeouts: {connect: 2s, headers: 5s, total: 10s}
      breaker: {failures: 5, open_for: 30s}
      rules:
        - apps: ["*"]
          types: [install, first_purchase_ca]
          event_names: {first_purchase_ca: purchase}
          min_revenue: 0.5
          method: POST
          url: "https://acme.example.com/pb?app={app_id}"
          body: '{"id": "{postback_id}", "rev": {revenue}}'
          headers: {X-Key: "{partner}"}
`

func sinkNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	return mappingValue(root.Content[0], "sink")
}

func TestParseConfigGood(t *testing.T) {
	c, errs := ParseConfig("c.yaml", sinkNode(t, goodYAML), func(a string) bool { return a == "app1" })
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	p := c.Partners[0]
	if p.ID != "acme" || p.Rules[0].Mode != ModeAttributed || len(c.Retry.Tiers) != 6 || c.Retry.Tiers[5].D().Hours() != 24 ||
		*p.Rules[0].MinRevenue != 0.5 || p.SignatureParam != "signature" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	src := `
sink:
  retry:
    tiers: [1m, soon]
  colour: blue
  partners:
    - id: acme
      rules:
        - types: [install]
          url: "https://acme.example.com/pb?x={bogus}"
    - id: acme
      timeouts: {total: -1s}
      rules:
        - types: [installz]
          apps: [nope]
          url: "ftp://x/"
          method: PUT
          body: '{"a": }'
`
	_, errs := ParseConfig("c.yaml", sinkNode(t, src), func(a string) bool { return a == "app1" })
	var msgs []string
	for _, e := range errs {
		if _, ok := e.(*FieldError); !ok {
			t.Errorf("%T is not a *FieldError", e)
		}
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"c.yaml:4: sink.retry.tiers: ",
		"c.yaml:5: sink.colour: unknown field",
		"c.yaml:10: sink.partners[0].rules[0].url: unknown macro {bogus}",
		"c.yaml:11: sink.partners[1].id: partner \"acme\" listed twice",
		"c.yaml:12: sink.partners[1].timeouts.total: ",
		"c.yaml:14: sink.partners[1].rules[0].types[0]: unknown record type \"installz\"",
		"c.yaml:15: sink.partners[1].rules[0].apps[0]: unknown app \"nope\"",
		"c.yaml:16: sink.partners[1].rules[0].url: want an http or https URL",
		"c.yaml:17: sink.partners[1].rules[0].method: want GET or POST",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
}

func TestParseConfigNewPartnerStart(t *testing.T) {
	c, errs := ParseConfig("c.yaml", sinkNode(t, goodYAML), nil)
	if len(errs) > 0 || c.NewPartnerStart != StartEarliest {
		t.Fatalf("default new_partner_start = %q, %v; want earliest", c.NewPartnerStart, errs)
	}
	src := "sink:\n  new_partner_start: sometimes\n  partners: []\n"
	_, errs = ParseConfig("c.yaml", sinkNode(t, src), nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "c.yaml:2: sink.new_partner_start: want earliest or latest") {
		t.Fatalf("errors = %v", errs)
	}
}
