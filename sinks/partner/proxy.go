package partner

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
)

// parseProxy reads a proxy_url: "" is none; otherwise http, https or
// socks5 with a host and port. Its messages never repeat the URL, which
// may hold the proxy's password.
func parseProxy(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	switch u.Scheme {
	case "http", "https", "socks5":
	default:
		return nil, fmt.Errorf("want an http://, https:// or socks5:// proxy, got scheme %q", u.Scheme)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("want host:port after the scheme")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("a proxy URL has no path or query")
	}
	return u, nil
}

// targetGuard is the guard against internal addresses when postbacks go
// through an egress proxy: the proxy, not this process, dials the target,
// so the dial guard cannot see it. Before each try it resolves the
// target's host and refuses the try when any address is one the dial
// guard would refuse (loopback, private, link-local, metadata, reserved),
// as ErrForbiddenAddress: final, never retried.
//
// A plain http:// target is then sent to the address checked (the URL's
// host replaced by it, the Host header kept), so the proxy cannot resolve
// the name to another one. An https:// target keeps its name, which its
// certificate must match: the proxy resolves it again, and a name whose
// answer changes between the two lookups (DNS rebinding) could still
// reach an internal address the proxy can reach; the proxy's own egress
// rules are the second line there (README, "Partners behind a proxy").
type targetGuard struct {
	rt       http.RoundTripper
	resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
}

func (g targetGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if why := forbiddenHost(host); why != "" {
		return nil, fmt.Errorf("%w: %s (%s), through the proxy", ErrForbiddenAddress, host, why)
	}
	addrs, err := g.resolver.LookupNetIP(req.Context(), "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if why := forbidden(a); why != "" {
			return nil, fmt.Errorf("%w: %s resolves to %s %s, through the proxy", ErrForbiddenAddress, host, why, a)
		}
	}
	if req.URL.Scheme != "http" || len(addrs) == 0 {
		return g.rt.RoundTrip(req)
	}
	pinned := req.Clone(req.Context())
	if pinned.Host == "" {
		pinned.Host = req.URL.Host
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	pinned.URL.Host = net.JoinHostPort(addrs[0].Unmap().String(), port)
	return g.rt.RoundTrip(pinned)
}
