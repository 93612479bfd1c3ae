package partner

import (
	"fmt"

	"net/netip"
	"syscall"
)

// forbiddenPrefixes are the address ranges a postback must not reach unless
// allow_private_networks is set, beyond what netip's predicates cover.
var forbiddenPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved, broadcast
		"::/96",           // IPv4-compatible (deprecated)
		"64:ff9b::/96",    // NAT64: may embed any IPv4
		"64:ff9b:1::/48",  // local-use NAT64
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: may embed a private IPv4
		"fec0::/10",       // site-local (deprecated)
		"100::/64",        // discard
		"2001::/32",       // Teredo: embeds an IPv4
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// forbidden reports why ip may not be dialled, or "" when it may.
func forbidden(ip netip.Addr) string {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !ip.IsValid():
		return "invalid address"
	case ip.IsLoopback():
		return "loopback address"
	case ip.IsPrivate():
		return "private address"
	case ip.IsLinkLocalUnicast():
		return "link-local address"
	case ip.IsUnspecified():
		return "unspecified address"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast address"
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return "reserved address"
		}
	}
	return ""
}

// guardControl is a net.Dialer Control hook: it runs after name resolution,
// for every address the dialer tries, so a name that resolves (or
// re-resolves) to an internal address is refused too.
func guardControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbiddenAddress, address)
	}
	if why := forbidden(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s %s", ErrForbiddenAddress, why, ap.Addr())
	}
	return nil
}
