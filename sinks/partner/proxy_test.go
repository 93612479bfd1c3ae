package partner

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/postbackd/postbackd/state"
)

// recordingProxy is a forward HTTP proxy on loopback that records every
// request it forwards.
type recordingProxy struct {
	mu   sync.Mutex
	seen []string // absolute URL and Host of each forwarded request
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, r.URL.String()+" host="+r.Host)
	p.mu.Unlock()
	out, err := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *recordingProxy) forwarded() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestPostbacksGoThroughTheProxy: with proxy_url, the partner's postback
// goes through the proxy, to the partner; a partner's own proxy_url wins
// over the sink's.
func TestPostbacksGoThroughTheProxy(t *testing.T) {
	dp, url := newPartner(t, nil)
	proxy := &recordingProxy{}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	cfg := testConfig(PartnerConfig{ID: "p", ProxyURL: ps.URL, Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}})
	cfg.ProxyURL = "http://127.0.0.1:1" // the sink's: unused, the partner's wins
	s, pub := newTestSink(t, cfg)
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	if n := len(dp.Requests()); n != 1 {
		t.Fatalf("the partner got %d requests, want 1 (deadletters %+v)", n, pub.deadLetters())
	}
	seen := proxy.forwarded()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], url+"/pb?id=") {
		t.Fatalf("the proxy forwarded %q, want the postback to %s", seen, url)
	}
}

// TestProxyDoesNotBypassTheGuard: through a proxy, a postback whose
// target is internal (a loopback literal, "localhost", a metadata
// address) is refused before it reaches the proxy, once and for good, as
// without one.
func TestProxyDoesNotBypassTheGuard(t *testing.T) {
	dp, url := newPartner(t, nil)
	proxy := &recordingProxy{}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	port := url[strings.LastIndex(url, ":"):]
	for _, target := range []string{url + "/pb", "http://localhost" + port + "/pb", "http://169.254.169.254/latest/meta-data"} {
		cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(target+"?id={postback_id}", "install")}})
		cfg.AllowPrivateNetworks, cfg.ProxyURL = false, ps.URL
		s, pub := newTestSink(t, cfg)
		run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
		if dead := pub.deadLetters(); len(dead) != 1 || !strings.Contains(dead[0].reason, "not allowed") {
			t.Fatalf("%s: deadletters %+v", target, dead)
		}
		if n := len(pub.entries()); n != 1 {
			t.Errorf("%s: %d log entries, want 1 (one try, no retry)", target, n)
		}
	}
	if seen := proxy.forwarded(); len(seen) != 0 {
		t.Fatalf("the proxy forwarded %q", seen)
	}
	if n := len(dp.Requests()); n != 0 {
		t.Fatalf("%d requests reached the partner", n)
	}
}

// fakeResolver answers every name with addrs.
type fakeResolver []netip.Addr

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return f, nil
}

type lastRequest struct{ req *http.Request }

func (l *lastRequest) RoundTrip(req *http.Request) (*http.Response, error) {
	l.req = req
	return &http.Response{StatusCode: 204, Body: http.NoBody, Request: req}, nil
}

// TestTargetGuardResolvesAndPins: a name that resolves to an internal
// address is refused; a public one is sent, as plain http, to the address
// checked with the name kept as Host, so that the proxy cannot resolve it
// elsewhere; https keeps the name its certificate must match.
func TestTargetGuardResolvesAndPins(t *testing.T) {
	inner := &lastRequest{}
	internal := targetGuard{rt: inner, resolver: fakeResolver{netip.MustParseAddr("10.1.2.3")}}
	req, _ := http.NewRequest(http.MethodGet, "http://partner.example/pb?id=1", nil)
	if _, err := internal.RoundTrip(req); !errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), "10.1.2.3") {
		t.Fatalf("a name resolving to 10.1.2.3: %v, want ErrForbiddenAddress naming it", err)
	}
	public := targetGuard{rt: inner, resolver: fakeResolver{netip.MustParseAddr("93.184.216.34")}}
	if _, err := public.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if inner.req.URL.Host != "93.184.216.34:80" || inner.req.Host != "partner.example" {
		t.Errorf("sent to %s with Host %q, want 93.184.216.34:80 and partner.example", inner.req.URL.Host, inner.req.Host)
	}
	tls, _ := http.NewRequest(http.MethodGet, "https://partner.example/pb", nil)
	if _, err := public.RoundTrip(tls); err != nil {
		t.Fatal(err)
	}
	if inner.req.URL.Host != "partner.example" {
		t.Errorf("https sent to %s, want the name kept", inner.req.URL.Host)
	}
}

// TestProxyURLChecked: a bad proxy_url is a config problem at its field,
// and its message does not repeat the URL (it may hold a password).
func TestProxyURLChecked(t *testing.T) {
	for _, bad := range []string{"ftp://p:1", "http://user:secret@proxy", "http://proxy:3128/path", "::"} {
		if _, err := parseProxy(bad); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("parseProxy(%q) = %v, want an error without the URL", bad, err)
		}
	}
	for _, good := range []string{"", "http://proxy:3128", "https://u:p@proxy:443", "socks5://127.0.0.1:1080"} {
		if _, err := parseProxy(good); err != nil {
			t.Errorf("parseProxy(%q): %v", good, err)
		}
	}
	cfg := testConfig(PartnerConfig{ID: "p", ProxyURL: "gopher://x:1", Rules: []RuleConfig{getRule("http://example.com/pb", "install")}})
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "sink.partners[0].proxy_url") {
		t.Errorf("Validate: %v, want a problem at sink.partners[0].proxy_url", err)
	}
}
