package auth

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// Fuzz targets where attackers aim. `make test` runs each on its seed
// corpus (testdata/fuzz); `go test -fuzz FuzzX ./internal/auth` explores.

// A requested redirect URI that matches a registered one is one a code
// may go to, and differs from it only in a loopback port.
func FuzzRedirect(f *testing.F) {
	for _, seed := range [][2]string{
		{"http://127.0.0.1/cb", "http://127.0.0.1:5000/cb"},
		{"https://app.example/cb", "https://app.example/cb"},
		{"http://localhost/cb", "http://localhost:99999/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:5000@evil.example/cb"},
		{"cursor://a/cb", "cursor://a/cb"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, registered, asked string) {
		if checkRedirectURI(registered) != nil || !redirectMatches(registered, asked) {
			return
		}
		if checkRedirectURI(asked) != nil {
			t.Fatalf("%q matches %q but may not take a code", asked, registered)
		}
		if asked == registered {
			return
		}
		r, _ := url.Parse(registered)
		a, _ := url.Parse(asked)
		if a.Scheme != "http" || !loopbackHost(a.Hostname()) || !strings.EqualFold(r.Hostname(), a.Hostname()) {
			t.Fatalf("%q matches %q off loopback", asked, registered)
		}
	})
}

// Only tokens this server minted verify.
func FuzzTokenParse(f *testing.F) {
	s := newTestServer(f, f.TempDir())
	minted := addPeople(f, s, 1, 1)[0]
	f.Add(minted)
	f.Add(minted[:len(minted)-1] + "A")
	f.Add("b24mcp_at.e30.AAAA")
	f.Add("b24mcp_at..")
	f.Add(s.mintRefresh(1, "g1", 1))
	f.Fuzz(func(t *testing.T, token string) {
		id, err := s.Verify(context.Background(), token)
		if err == nil && token != minted {
			t.Fatalf("%q verifies as %+v", token, id)
		}
		if rc, ok := s.parseRefresh(token); ok && !strings.HasPrefix(token, refreshPrefix) {
			t.Fatalf("%q parses as a refresh token %+v", token, rc)
		}
	})
}

// What MCP_PUBLIC_URL becomes is scheme://host only, https off loopback.
func FuzzCheckPublicURL(f *testing.F) {
	for _, seed := range []string{"https://mcp.example.com", "http://127.0.0.1:8080/", "http://evil.example", "https://a/b", "https://[::1]"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := CheckPublicURL(raw)
		if err != nil {
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Host == "" {
			t.Fatalf("%q became %q", raw, got)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())) {
			t.Fatalf("%q became %q: http off loopback", raw, got)
		}
	})
}

// A bearer header yields a token without spaces, or nothing.
func FuzzBearer(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "bearer  x y", "Basic abc", "Bearer", " Bearer\tabc "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := bearer(header)
		if ok && (tok == "" || strings.TrimSpace(tok) != tok) {
			t.Fatalf("bearer(%q) = %q", header, tok)
		}
	})
}
