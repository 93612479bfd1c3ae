package partner

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// problemsOf parses src's sink section and checks its endpoints, and
// returns the problems as text, one a line.
func problemsOf(t *testing.T, src string) string {
	t.Helper()
	node := sinkNode(t, src)
	c, errs := ParseConfig("c.yaml", node, nil)
	errs = append(errs, checkEndpoints("c.yaml", node, c)...)
	var msgs []string
	for _, e := range errs {
		if _, ok := e.(*FieldError); !ok {
			t.Errorf("%T is not a *FieldError", e)
		}
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "\n")
}

// onePartner is a sink section with one partner; extra goes at partner
// level (line 5 on), rule in its one rule (line 9 on, or later by extra's
// lines); the url is on line 7 (or later).
func onePartner(allowPrivate bool, url, extra, rule string) string {
	return fmt.Sprintf(`sink:
  allow_private_networks: %t
  partners:
    - id: p
%s      rules:
        - types: [install, purchase]
          url: %q
          method: POST
%s`, allowPrivate, extra, url, rule)
}

func TestParseConfigRefusesTimeoutsUnderAMillisecond(t *testing.T) {
	got := problemsOf(t, onePartner(false, "https://p.example/pb", "      timeouts: {connect: 999us, headers: 1ns, total: 1ms}\n", ""))
	for _, want := range []string{
		"c.yaml:5: sink.partners[0].timeouts.connect: must be at least 1ms, got 999µs",
		"c.yaml:5: sink.partners[0].timeouts.headers: must be at least 1ms, got 1ns",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "timeouts.total") {
		t.Errorf("1ms refused:\n%s", got)
	}
}

func TestParseConfigRefusesNegativeOrNaNMinRevenue(t *testing.T) {
	for value, want := range map[string]string{
		"-0.01": "c.yaml:9: sink.partners[0].rules[0].min_revenue: must not be negative, got -0.01",
		".nan":  "c.yaml:9: sink.partners[0].rules[0].min_revenue: want a number, got NaN",
		".inf":  "c.yaml:9: sink.partners[0].rules[0].min_revenue: want a number, got +Inf",
		"0":     "",
		"2.5":   "",
	} {
		got := problemsOf(t, onePartner(false, "https://p.example/pb", "", "          min_revenue: "+value+"\n"))
		if got != want {
			t.Errorf("min_revenue %s: problems\n%s\nwant\n%s", value, got, want)
		}
	}
}

func TestParseConfigRefusesControlCharactersInHeaderValues(t *testing.T) {
	got := problemsOf(t, onePartner(false, "https://p.example/pb", "", `          headers:
            X-Crlf: "a\r\nX-Injected: 1"
            X-Lf: |
              two
              lines
            X-Nul: "a\x00b"
            X-Tab: "a\tb"
            X-Plain: "{partner}"
`))
	for _, want := range []string{
		"c.yaml:10: sink.partners[0].rules[0].headers.X-Crlf: CR or LF in a header value",
		"c.yaml:11: sink.partners[0].rules[0].headers.X-Lf: CR or LF in a header value",
		`c.yaml:14: sink.partners[0].rules[0].headers.X-Nul: control character '\x00' in a header value`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "X-Tab") || strings.Contains(got, "X-Plain") {
		t.Errorf("a tab or a macro refused:\n%s", got)
	}
}

func TestParseConfigRefusesLiteralInternalHosts(t *testing.T) {
	for host, why := range map[string]string{
		"127.0.0.1":          "loopback address",
		"[::1]":              "loopback address",
		"localhost":          "loopback name",
		"LocalHost.":         "loopback name",
		"api.localhost":      "loopback name",
		"[::ffff:127.0.0.1]": "loopback address",
		"127.1":              "loopback address",
		"2130706433":         "loopback address",
		"0x7f.0.0.1":         "loopback address",
		"10.1.2.3":           "private address",
		"172.16.0.1":         "private address",
		"192.168.1.1":        "private address",
		"[fd12::1]":          "private address",
		"169.254.1.1":        "link-local address",
		"[fe80::1%25eth0]":   "link-local address",
		"169.254.169.254":    "cloud metadata, link-local address",
		"[fd00:ec2::254]":    "cloud metadata, private address",
		"100.100.100.200":    "cloud metadata, reserved address",
		"0.0.0.0":            "unspecified address",
	} {
		url := "https://" + host + ":8443/pb?id={postback_id}"
		got := problemsOf(t, onePartner(false, url, "", ""))
		want := "c.yaml:7: sink.partners[0].rules[0].url: host "
		if !strings.HasPrefix(got, want) || !strings.Contains(got, " is not public ("+why+"): deliveries to it are refused while allow_private_networks is false") {
			t.Errorf("%s: problems %q, want %q...%q", host, got, want, why)
		}
		if got := problemsOf(t, onePartner(true, url, "", "")); got != "" {
			t.Errorf("%s with allow_private_networks: %s", host, got)
		}
	}
	for _, host := range []string{"p.example", "8.8.8.8", "134744072", "[2606:4700::1111]", "localhost.example", "10.example"} {
		if got := problemsOf(t, onePartner(false, "https://"+host+"/pb", "", "")); got != "" {
			t.Errorf("%s refused: %s", host, got)
		}
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.01": "127.0.0.1",
		"10.0x10.5": "10.16.0.5", "0": "0.0.0.0", "192.168.257": "192.168.1.1",
	} {
		if got, ok := parseLegacyIPv4(in); !ok || got.String() != want {
			t.Errorf("parseLegacyIPv4(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "a.b", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "0x", "1..2", "4294967296", "08", "1.2.65536", "example.com"} {
		if got, ok := parseLegacyIPv4(in); ok {
			t.Errorf("parseLegacyIPv4(%q) = %v, want no address", in, got)
		}
	}
}

// TestValidateRefusesWhatParseConfigRefusesInValues: New (through
// Validate) refuses the same timeouts, revenues and headers as the file
// check, for configs built in code.
func TestValidateRefusesWhatParseConfigRefusesInValues(t *testing.T) {
	neg := -1.0
	c := Config{Partners: []PartnerConfig{{ID: "p", Timeouts: TimeoutsConfig{Total: Duration(time.Microsecond)},
		Rules: []RuleConfig{{Types: []string{"install"}, URL: "https://p.example/", MinRevenue: &neg, Headers: map[string]string{"X-A": "a\nb"}}}}}}
	c.setDefaults()
	err := c.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"timeouts.total: must be at least 1ms", "min_revenue: must not be negative", "headers.X-A: CR or LF"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestReadSecretsReportsEachMissingOrBadSecret(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("whsec_"+base64.StdEncoding.EncodeToString([]byte("key"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PD_TEST_EMPTY", "")
	t.Setenv("PD_TEST_BAD_WHSEC", "whsec_not base64!")
	t.Setenv("PD_TEST_NO_KEY", "whsec_")
	t.Setenv("PD_TEST_PLAIN", "plain-secret")
	os.Unsetenv("PD_TEST_UNSET") //nolint:errcheck // absent either way
	var src strings.Builder
	src.WriteString("sink:\n  partners:\n")
	sources := []string{
		"secret_env: PD_TEST_UNSET",     // 0
		"secret_env: PD_TEST_EMPTY",     // 1
		"secret_file: " + dir + "/none", // 2
		"secret_file: " + empty,         // 3
		"secret_env: PD_TEST_BAD_WHSEC", // 4
		"secret_env: PD_TEST_NO_KEY",    // 5
		"secret_env: PD_TEST_PLAIN",     // 6: fine
		"secret_file: " + good,          // 7: fine
		"rate_per_second: 1",            // 8: unsigned, fine
	}
	for i, s := range sources {
		fmt.Fprintf(&src, "    - id: p%d\n      %s\n      rules: [{types: [install], url: 'https://p.example/'}]\n", i, s)
	}
	node := sinkNode(t, src.String())
	c, errs := ParseConfig("c.yaml", node, nil)
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs)
	}
	errs = readSecrets("c.yaml", node, &c)
	var msgs []string
	for _, e := range errs {
		if !errors.Is(e, ErrMissingSecret) {
			t.Errorf("%v does not wrap ErrMissingSecret", e)
		}
		msgs = append(msgs, e.Error())
	}
	got := strings.Join(msgs, "\n")
	want := strings.Join([]string{
		"c.yaml:4: sink.partners[0].secret_env: environment variable PD_TEST_UNSET is not set",
		"c.yaml:7: sink.partners[1].secret_env: environment variable PD_TEST_EMPTY is empty",
		"c.yaml:10: sink.partners[2].secret_file: cannot read the secret: " + dir + "/none: no such file or directory",
		"c.yaml:13: sink.partners[3].secret_file: " + empty + " is empty",
		"c.yaml:16: sink.partners[4].secret_env: whsec_ secret is not base64: a Standard Webhooks secret is whsec_ and the key in base64",
		"c.yaml:19: sink.partners[5].secret_env: whsec_ secret holds no key",
	}, "\n")
	if got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "not base64!") {
		t.Error("a message holds the secret's value")
	}
	if c.Partners[6].Secret != "plain-secret" || !strings.HasPrefix(c.Partners[7].Secret, "whsec_") || c.Partners[8].Secret != "" {
		t.Errorf("secrets read: %q, %q, %q", c.Partners[6].Secret, c.Partners[7].Secret, c.Partners[8].Secret)
	}
}

// TestCheckEndpointsIsApartFromParseConfig: ParseConfig and Validate
// accept a literal internal address (the dial guard refuses it, and is
// tested so); checkEndpoints, which run calls, reports it with its
// sentinel.
func TestCheckEndpointsIsApartFromParseConfig(t *testing.T) {
	node := sinkNode(t, onePartner(false, "http://169.254.169.254/latest", "", ""))
	c, errs := ParseConfig("c.yaml", node, nil)
	if len(errs) > 0 {
		t.Fatalf("ParseConfig: %v", errs)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	errs = checkEndpoints("c.yaml", node, c)
	if len(errs) != 1 || !errors.Is(errs[0], ErrForbiddenAddress) {
		t.Fatalf("checkEndpoints = %v, want one ErrForbiddenAddress", errs)
	}
}
