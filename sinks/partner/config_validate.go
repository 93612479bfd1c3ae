package partner

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// FieldError is one problem of the sink section, with its file, line and
// dotted field path (e.g. sink.partners[2].rules[0].url); its message reads
// "file:line: field: problem".
type FieldError = config.FieldError

// ParseConfig decodes the `sink:` section of a configuration file. node is
// the section's value node from a yaml.v3 decode of the whole file (nil or
// empty: the defaults); file names the file in errors; knownApps says
// whether an app id is configured (nil: accept any). It reports every
// problem found, each a *FieldError, not only the first. What depends on
// the machine or the network is left to readSecrets and checkEndpoints,
// which `postbackd run` and check-config call next.
func ParseConfig(file string, node *yaml.Node, knownApps func(string) bool) (Config, []error) {
	var c Config
	d := &config.Decoder{File: file}
	if node != nil && node.Kind != 0 {
		d.Decode(node, "sink", &c)
	}
	c.setDefaults()
	_, probs := c.compile(knownApps)
	for _, p := range probs {
		d.Add(nodeAt(node, p.field), "sink."+p.field, "%s", p.msg)
	}
	return c, d.Problems
}

// Validate checks a Config that setDefaults has completed; New calls both.
func (c *Config) Validate() error {
	_, probs := c.compile(nil)
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = fmt.Errorf("%w: sink.%s: %s", ErrInvalidConfig, p.field, p.msg)
	}
	return errors.Join(errs...)
}

// compiledPartner is a partner with its rules compiled.
type compiledPartner struct {
	cfg   PartnerConfig
	rules []*rule
}

// compile checks c and compiles every partner's rules.
func (c *Config) compile(knownApps func(string) bool) ([]compiledPartner, []problem) {
	var probs []problem
	add := func(field, format string, args ...any) {
		probs = append(probs, problem{field, fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
		add("admin.listen", "want host:port: %v", err)
	}
	if a := c.Admin.Advertise; a != "" {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" || port == "0" {
			add("admin.advertise", "want the host:port other copies reach this admin API at, got %q", a)
		}
	}
	if c.Admin.TokenEnv != "" && c.Admin.TokenFile != "" {
		add("admin.token_file", "set token_env or token_file, not both")
	}
	if c.Retry.InProcess.MaxAttempts < 1 {
		add("retry.in_process.max_attempts", "must be at least 1")
	}
	for i, t := range c.Retry.Tiers {
		if t <= 0 {
			add(fmt.Sprintf("retry.tiers[%d]", i), "must be positive")
		}
	}
	if c.BatchWait <= 0 {
		add("batch_wait", "must be positive")
	}
	if c.NewPartnerStart != StartEarliest && c.NewPartnerStart != StartLatest {
		add("new_partner_start", "want earliest or latest, got %q", c.NewPartnerStart)
	}
	if c.StatusCacheSize < 1 {
		add("status_cache_size", "must be at least 1")
	}
	if _, err := parseProxy(c.ProxyURL); err != nil {
		add("proxy_url", "%v", err)
	}
	switch {
	case c.FX.Base != "" && !isCurrency(c.FX.Base):
		add("fx.base", "want a 3-letter ISO 4217 code such as USD, got %q", c.FX.Base)
	case c.FX.Base == "" && c.FX.RatesFile != "":
		add("fx.base", "required with a rates_file: the currency the rates are in")
	}
	seen := make(map[string]bool)
	out := make([]compiledPartner, 0, len(c.Partners))
	for i, p := range c.Partners {
		at := fmt.Sprintf("partners[%d]", i)
		switch {
		case p.ID == "":
			add(at+".id", "required")
		case strings.ContainsAny(p.ID, "/ \t\n"):
			add(at+".id", "no slashes or spaces in a partner id")
		case p.ID == ReservedPartnerID:
			add(at+".id", "%q is reserved: the sink's fan-out has the consumer group <group_prefix>.sink.fanout", p.ID)
		case seen[p.ID]:
			add(at+".id", "partner %q listed twice", p.ID)
		}
		seen[p.ID] = true
		for _, pr := range p.Privacy.problems(at + ".privacy") {
			add(pr.field, "%s", pr.msg)
		}
		if d := p.Delay.D(); d != 0 && (d < MinDelay || d > MaxDelay) {
			add(at+".delay", "want %v to %v (or 0: none), got %v", MinDelay, MaxDelay, d)
		}
		if p.SecretEnv != "" && p.SecretFile != "" {
			add(at+".secret_file", "set secret_env or secret_file, not both")
		}
		if p.PreviousSecretEnv != "" && p.PreviousSecretFile != "" {
			add(at+".previous_secret_file", "set previous_secret_env or previous_secret_file, not both")
		}
		if (p.PreviousSecretEnv != "" || p.PreviousSecretFile != "" || p.PreviousSecret != "") && p.SecretEnv == "" && p.SecretFile == "" && p.Secret == "" {
			add(at+".previous_secret_env", "a previous secret is for a rotation: set the new one in secret_env or secret_file too")
		}
		if (p.Auth.CertFile == "") != (p.Auth.KeyFile == "") {
			add(at+".auth.key_file", "a client certificate needs both cert_file and key_file")
		}
		if o := p.Auth.OAuth2; o.TokenURL != "" || o.ClientID != "" {
			switch u, err := url.Parse(o.TokenURL); {
			case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
				add(at+".auth.oauth2.token_url", "want an http(s) URL of the token endpoint")
			case o.ClientID == "":
				add(at+".auth.oauth2.client_id", "required with a token_url")
			case o.ClientSecretEnv != "" && o.ClientSecretFile != "":
				add(at+".auth.oauth2.client_secret_file", "set client_secret_env or client_secret_file, not both")
			case o.ClientSecretEnv == "" && o.ClientSecretFile == "" && o.ClientSecret == "":
				add(at+".auth.oauth2.client_secret_env", "required: client_secret_env or client_secret_file")
			}
			if p.Auth.BearerTokenEnv != "" || p.Auth.BearerTokenFile != "" {
				add(at+".auth.oauth2", "set a static bearer token or oauth2, not both")
			}
		}
		if p.Auth.BearerTokenEnv != "" && p.Auth.BearerTokenFile != "" {
			add(at+".auth.bearer_token_file", "set bearer_token_env or bearer_token_file, not both")
		}
		if p.RatePerSecond < 0 {
			add(at+".rate_per_second", "must not be negative")
		}
		if _, err := parseProxy(p.ProxyURL); err != nil {
			add(at+".proxy_url", "%v", err)
		}
		switch {
		case p.Currency != "" && !isCurrency(p.Currency):
			add(at+".currency", "want a 3-letter ISO 4217 code such as EUR, got %q", p.Currency)
		case p.Currency != "" && c.FX.Base == "":
			add(at+".currency", "converting into it needs sink.fx (base and rates_file)")
		}
		if p.Concurrency < 1 {
			add(at+".concurrency", "must be at least 1")
		}
		if p.QueueSize < 1 {
			add(at+".queue_size", "must be at least 1")
		}
		for _, t := range []struct {
			name string
			d    Duration
		}{{"connect", p.Timeouts.Connect}, {"headers", p.Timeouts.Headers}, {"total", p.Timeouts.Total}} {
			// Under a millisecond no answer comes back: every try would
			// time out, and every postback go to the deadletter.
			if t.d < Duration(MinTimeout) {
				add(at+".timeouts."+t.name, "must be at least %s, got %s", MinTimeout, t.d)
			}
		}
		if p.Breaker.Failures < 1 {
			add(at+".breaker.failures", "must be at least 1")
		}
		if p.Breaker.OpenFor <= 0 {
			add(at+".breaker.open_for", "must be positive")
		}
		if len(p.Rules) == 0 {
			add(at+".rules", "required: a partner needs at least one rule")
		}
		cp := compiledPartner{cfg: p}
		for j, rc := range p.Rules {
			r, rp := compileRule(j, rc, knownApps)
			rp = append(rp, ruleValueProblems(rc)...)
			for _, q := range rp {
				probs = append(probs, problem{fmt.Sprintf("%s.rules[%d].%s", at, j, q.field), q.msg})
			}
			cp.rules = append(cp.rules, r)
		}
		out = append(out, cp)
	}
	return out, probs
}

// ruleValueProblems checks the values of rc that would compile but not
// work: a min_revenue that no revenue passes the way it reads (negative,
// NaN, infinite), and a header value that net/http refuses at every send
// (CR, LF or another control character: a header injection, if allowed).
func ruleValueProblems(rc RuleConfig) []problem {
	var probs []problem
	if m := rc.MinRevenue; m != nil {
		switch {
		case math.IsNaN(*m) || math.IsInf(*m, 0):
			probs = append(probs, problem{"min_revenue", fmt.Sprintf("want a number, got %v", *m)})
		case *m < 0:
			probs = append(probs, problem{"min_revenue", fmt.Sprintf("must not be negative, got %v", *m)})
		}
	}
	names := make([]string, 0, len(rc.Headers))
	for name := range rc.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := rc.Headers[name]
		switch i := strings.IndexFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }); {
		case strings.ContainsAny(v, "\r\n"):
			probs = append(probs, problem{"headers." + name, "CR or LF in a header value"})
		case i >= 0:
			probs = append(probs, problem{"headers." + name, fmt.Sprintf("control character %q in a header value", v[i])})
		}
	}
	return probs
}

// nodeAt returns the node at a dotted path such as partners[2].rules[0].url
// under mapping n, or the nearest existing parent for its line.
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	cur := n
	for _, seg := range strings.Split(path, ".") {
		key, idx := seg, -1
		if i := strings.IndexByte(seg, '['); i >= 0 && strings.HasSuffix(seg, "]") {
			key = seg[:i]
			if v, err := strconv.Atoi(seg[i+1 : len(seg)-1]); err == nil {
				idx = v
			}
		}
		next := mappingValue(cur, key)
		if next == nil {
			return cur
		}
		cur = next
		if idx >= 0 {
			if cur.Kind != yaml.SequenceNode || idx >= len(cur.Content) {
				return cur
			}
			cur = cur.Content[idx]
		}
	}
	return cur
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
