package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// Each special-purpose range of IANA's registries, v4 and v6, and the
// IPv6 forms that embed an IPv4 address, is refused; global unicast
// addresses pass.
func TestPublicAddress(t *testing.T) {
	for addr, public := range map[string]bool{
		// IPv4 special-purpose blocks.
		"0.1.2.3":         false, // this network
		"10.0.0.1":        false,
		"100.64.0.1":      false, // CGNAT
		"100.100.100.200": false, // cloud metadata in CGNAT space
		"127.0.0.1":       false,
		"169.254.169.254": false,
		"172.16.0.1":      false,
		"172.31.255.255":  false,
		"192.0.0.1":       false,
		"192.0.2.1":       false,
		"192.31.196.1":    false,
		"192.52.193.1":    false,
		"192.88.99.1":     false,
		"192.168.1.1":     false,
		"192.175.48.1":    false,
		"198.18.0.1":      false,
		"198.19.255.255":  false,
		"198.51.100.1":    false,
		"203.0.113.1":     false,
		"224.0.0.1":       false,
		"239.255.255.250": false,
		"240.0.0.1":       false,
		"255.255.255.255": false,
		// IPv4 global unicast.
		"8.8.8.8":        true,
		"1.1.1.1":        true,
		"100.63.255.255": true,
		"100.128.0.1":    true,
		"172.32.0.1":     true,
		"198.20.0.1":     true,
		// IPv6 outside 2000::/3, and special-purpose inside it.
		"::":              false,
		"::1":             false,
		"fe80::1":         false,
		"fec0::1":         false, // site-local
		"fc00::1":         false,
		"fd12:3456::1":    false,
		"ff02::1":         false,
		"100::1":          false, // discard
		"5f00::1":         false, // SRv6
		"2001::1":         false, // Teredo
		"2001:2::1":       false, // benchmarking
		"2001:10::1":      false, // ORCHID
		"2001:db8::1":     false,
		"3fff::1":         false,
		"2620:4f:8000::1": false, // AS112 direct delegation
		"64:ff9b:1::1":    false, // local-use NAT64
		// IPv4 inside IPv6: judged as itself.
		"::ffff:10.0.0.1":        false,
		"::ffff:169.254.169.254": false,
		"::ffff:8.8.8.8":         true,
		"::a9fe:a9fe":            false, // IPv4-compatible 169.254.169.254
		"::8.8.8.8":              false, // IPv4-compatible (deprecated) at all
		"64:ff9b::a9fe:a9fe":     false, // NAT64 to 169.254.169.254
		"64:ff9b::a00:1":         false, // NAT64 to 10.0.0.1
		"64:ff9b::808:808":       true,  // NAT64 to 8.8.8.8
		"2002:a9fe:a9fe::1":      false, // 6to4 of 169.254.169.254
		"2002:0a00:0001::1":      false, // 6to4 of 10.0.0.1
		"2002:0808:0808::1":      true,  // 6to4 of 8.8.8.8
		// IPv6 global unicast.
		"2606:4700:4700::1111": true,
		"2a00:1450:4001::1":    true,
		"fe80::1%eth0":         false,
	} {
		ip := netip.MustParseAddr(addr)
		if got := publicAddress(ip); got != public {
			t.Errorf("publicAddress(%s) = %v, want %v", addr, got, public)
		}
	}
}

// The metadata fetcher does not connect to a private address (the check is
// on the address connected to), names no address or dial error to the
// person, and goes through a configured proxy, connecting to that.
func TestGuardedClient(t *testing.T) {
	hits := 0
	doc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer doc.Close()
	c := guardedClient(&httpproxy.Config{})
	_, err := c.Get(doc.URL + "/client.json")
	var np errNotPublic
	if !errors.As(err, &np) || hits != 0 {
		t.Fatalf("a fetch from loopback: %v (%d requests reached it)", err, hits)
	}
	if why := fetchFailure(err); strings.Contains(why, "127.0.0.1") || strings.Contains(why, "dial") {
		t.Errorf("the person is told %q", why)
	}

	// Through a proxy: the proxy is connected to, whatever its address.
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied = append(proxied, r.URL.String())
		w.WriteHeader(http.StatusTeapot)
	}))
	defer proxy.Close()
	c = guardedClient(&httpproxy.Config{HTTPProxy: proxy.URL})
	resp, err := c.Get("http://documents.example/client.json")
	if err != nil || resp.StatusCode != http.StatusTeapot || len(proxied) != 1 {
		t.Fatalf("through a proxy: %v %v %v", err, resp, proxied)
	}
	resp.Body.Close()
	// NO_PROXY names a host that is dialled directly, with the guard.
	c = guardedClient(&httpproxy.Config{HTTPProxy: proxy.URL, NoProxy: "127.0.0.1"})
	u, _ := url.Parse(doc.URL)
	if _, err := c.Get("http://" + u.Host + "/client.json"); !errors.As(err, &np) {
		t.Errorf("NO_PROXY's host, dialled directly: %v", err)
	}
}
