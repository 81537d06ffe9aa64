package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Fetching a client metadata document is an outbound request whose URL
// anyone can name. So a direct fetch connects only to a global unicast
// address: the check is made on the address actually connected to (DNS can
// answer anything), against IANA's IPv4 and IPv6 special-purpose address
// registries, and an IPv4 address embedded in an IPv6 one (mapped,
// compatible, NAT64, 6to4) is judged as itself. Through a proxy
// (HTTPS_PROXY, honoured as everywhere), the server cannot see where the
// proxy connects: egress policy is then the proxy's.

// notGlobal4 are IPv4 special-purpose blocks (RFC 6890 and IANA's
// registry) and the multicast and reserved space: no document is fetched
// from them.
var notGlobal4 = prefixes(
	"0.0.0.0/8",          // this network
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // shared address space (CGNAT; cloud metadata on some providers)
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local (cloud metadata)
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation (TEST-NET-1)
	"192.31.196.0/24",    // AS112-v4
	"192.52.193.0/24",    // AMT
	"192.88.99.0/24",     // deprecated 6to4 relay anycast
	"192.168.0.0/16",     // private
	"192.175.48.0/24",    // direct delegation AS112
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation (TEST-NET-2)
	"203.0.113.0/24",     // documentation (TEST-NET-3)
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // limited broadcast
)

// notGlobal6 are IPv6 special-purpose blocks inside the global unicast
// space 2000::/3 (everything outside it is refused anyway: loopback,
// unspecified, ULA, link- and site-local, multicast, discard, SRv6).
var notGlobal6 = prefixes(
	"2001::/23",         // IETF protocol assignments (Teredo, ORCHID, benchmarking...)
	"2001:db8::/32",     // documentation
	"2620:4f:8000::/48", // direct delegation AS112
	"3fff::/20",         // documentation
)

var (
	global6  = netip.MustParsePrefix("2000::/3")
	mapped   = netip.MustParsePrefix("::ffff:0:0/96")
	compat   = netip.MustParsePrefix("::/96")
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	nat64Loc = netip.MustParsePrefix("64:ff9b:1::/48")
	sixTo4   = netip.MustParsePrefix("2002::/16")
)

func prefixes(list ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, p := range list {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// publicAddress reports whether ip is a global unicast address a client
// metadata document may be fetched from.
func publicAddress(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4() {
		for _, p := range notGlobal4 {
			if p.Contains(ip) {
				return false
			}
		}
		return true
	}
	switch {
	case mapped.Contains(ip):
		return publicAddress(ip.Unmap())
	case nat64.Contains(ip):
		return publicAddress(embedded4(ip, 12))
	case compat.Contains(ip), nat64Loc.Contains(ip):
		return false // deprecated or local-use: never a public host
	case sixTo4.Contains(ip):
		return publicAddress(embedded4(ip, 2))
	case !global6.Contains(ip):
		return false
	}
	for _, p := range notGlobal6 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// embedded4 is the IPv4 address at byte offset at of an IPv6 one.
func embedded4(ip netip.Addr, at int) netip.Addr {
	b := ip.As16()
	return netip.AddrFrom4([4]byte{b[at], b[at+1], b[at+2], b[at+3]})
}

// errNotPublic refuses a connection to an address that is not public.
type errNotPublic struct{ addr netip.Addr }

func (e errNotPublic) Error() string {
	return fmt.Sprintf("%s is not a public address", e.addr)
}

// guardedClient fetches client metadata documents: https only (the
// caller checks the URL), 5 s, no redirects, and a direct connection only
// to a public address. A proxy from the environment (HTTPS_PROXY,
// NO_PROXY) is used as the rest of the server uses it, and connecting to
// it is allowed.
func guardedClient(env *httpproxy.Config) *http.Client {
	proxyFor := env.ProxyFunc()
	proxies := map[string]bool{}
	for _, raw := range []string{env.HTTPSProxy, env.HTTPProxy} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			port := u.Port()
			if port == "" {
				port = map[string]string{"https": "443", "socks5": "1080"}[u.Scheme]
				if port == "" {
					port = "80"
				}
			}
			proxies[net.JoinHostPort(u.Hostname(), port)] = true
		}
	}
	direct := &net.Dialer{Timeout: 5 * time.Second}
	guarded := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if !publicAddress(ap.Addr()) {
			return errNotPublic{ap.Addr()}
		}
		return nil
	}}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = func(r *http.Request) (*url.URL, error) { return proxyFor(r.URL) }
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if proxies[addr] {
			return direct.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	t.MaxResponseHeaderBytes = 16 << 10
	return &http.Client{Timeout: 5 * time.Second, Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// fetchFailure words why a document could not be fetched for a person:
// the plain reason, never the resolved addresses or the dial error (which
// would make the server an oracle of what it can reach).
func fetchFailure(err error) string {
	var np errNotPublic
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &np):
		return "its host is not on the public internet"
	case errors.As(err, &dns):
		return "its host name does not resolve from this server"
	case errors.As(err, &ne) && ne.Timeout():
		return "its host did not answer in time"
	}
	return "its host could not be reached from this server"
}
