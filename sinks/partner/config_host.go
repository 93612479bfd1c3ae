package partner

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// metadataAddrs are cloud instance-metadata endpoints, named in the
// message because "link-local" does not tell an operator why it matters.
// forbidden refuses them already, as link-local, private or reserved.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task credentials
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

// checkEndpoints reports, as a *FieldError at the rule's url wrapping
// ErrForbiddenAddress, each rule of c (as ParseConfig returned it) whose
// URL host is, as written, an address the dial guard refuses (loopback,
// private, link-local, metadata, reserved) or a name that always means
// loopback ("localhost"), while allow_private_networks is false. Names that
// resolve to such an address are left to the guard: resolving them at
// load would prove nothing about the address dialled later.
//
// The guard refuses such a delivery anyway, at every try; this check is so
// the operator learns at start, at the line, not from deadletters. It is
// not part of ParseConfig or Validate so that the guard itself can still
// be tested with a literal address, through a file or in code.
func checkEndpoints(file string, node *yaml.Node, c Config) []error {
	if c.AllowPrivateNetworks {
		return nil
	}
	compiled, _ := c.compile(nil)
	var errs []error
	sample := sampleVars()
	for i, cp := range compiled {
		for j, r := range cp.rules {
			if r == nil || r.url == nil {
				continue // ParseConfig reported it
			}
			u, err := url.Parse(string(r.url.render(nil, sample)))
			if err != nil {
				continue
			}
			why := forbiddenHost(u.Hostname())
			if why == "" {
				continue
			}
			field := fmt.Sprintf("partners[%d].rules[%d].url", i, j)
			line := 0
			if n := nodeAt(node, field); n != nil {
				line = n.Line
			}
			errs = append(errs, &FieldError{File: file, Line: line, Field: "sink." + field, Err: ErrForbiddenAddress,
				Msg: fmt.Sprintf("host %s is not public (%s): deliveries to it are refused while allow_private_networks is false", u.Hostname(), why)})
		}
	}
	return errs
}

// forbiddenHost says why a URL's host, as written, may not be dialled, or
// "" when only its resolution can tell.
func forbiddenHost(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "loopback name" // RFC 6761: never resolves elsewhere
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		var ok bool
		if ip, ok = parseLegacyIPv4(h); !ok {
			return ""
		}
	}
	why := forbidden(ip)
	if why != "" && metadataAddrs[ip.Unmap().WithZone("")] {
		why = "cloud metadata, " + why
	}
	return why
}

// parseLegacyIPv4 reads the forms inet_aton accepts and netip does not:
// "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1". A system resolver
// (cgo, getaddrinfo) dials them as addresses, so they are literals too.
func parseLegacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" && base != 8 {
			return netip.Addr{}, false
		}
		if p == "" {
			p = "0"
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	// Every part but the last is one byte; the last fills the rest.
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
