package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The scope policy: what a request is granted, how a refresh narrows it.
func TestScopePolicy(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		given bool
		want  []string
		bad   bool
	}{
		{"", false, []string{ScopeRead, ScopeWrite}, false}, // no scope parameter: the documented default
		{"", true, []string{ScopeRead, ScopeWrite}, false},
		{"offline_access", true, []string{ScopeRead}, false}, // names no chat scope: the least that does anything
		{"chat:read", true, []string{ScopeRead}, false},
		{"chat:write", true, []string{ScopeRead, ScopeWrite}, false}, // writing needs the reads around it
		{"chat:write chat:read offline_access chat:read", true, []string{ScopeRead, ScopeWrite}, false},
		{"chat:read admin", true, nil, true},
		{"openid", true, nil, true},
	} {
		got, err := grantedScopes(tc.raw, tc.given)
		if (err != nil) != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("grantedScopes(%q, %v) = %v, %v; want %v (error %v)", tc.raw, tc.given, got, err, tc.want, tc.bad)
		}
		if tc.bad && err.(*oauthError).code != "invalid_scope" {
			t.Errorf("%q: %v, want invalid_scope", tc.raw, err)
		}
	}
	for _, tc := range []struct{ granted, asked, want string }{
		{"chat:read chat:write", "", "chat:read chat:write"},
		{"chat:read chat:write", "chat:read", "chat:read"},
		{"chat:read chat:write", "offline_access", "chat:read chat:write"},
		{"chat:read", "chat:write", ""},
		{"chat:read", "chat:read chat:write", ""},
	} {
		got, err := narrowScopes(tc.granted, tc.asked)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("narrowScopes(%q, %q) = %q, %v; want %q", tc.granted, tc.asked, got, err, tc.want)
		}
	}
	if w := consentWords([]string{ScopeRead}); len(w) != 1 || !strings.Contains(w[0], "chat:read") {
		t.Errorf("consent words for chat:read: %v", w)
	}
}

// PKCE: S256 only, a challenge of 43 base64url characters, a verifier of
// 43 to 128 unreserved characters that hashes to it.
func TestPKCE(t *testing.T) {
	verifier := strings.Repeat("aB3-._~", 7)[:45]
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		challenge, method string
		ok                bool
	}{
		{challenge, "S256", true},
		{challenge, "plain", false},
		{challenge, "", false},
		{"", "S256", false},
		{challenge[:42], "S256", false},
		{challenge + "A", "S256", false},
		{strings.Repeat("+", 43), "S256", false},
	} {
		if err := checkChallenge(tc.challenge, tc.method); (err == nil) != tc.ok {
			t.Errorf("checkChallenge(%q, %q): %v", tc.challenge, tc.method, err)
		}
	}
	for _, tc := range []struct {
		verifier string
		want     string // in the refusal; "" for none
	}{
		{verifier, ""},
		{"x", "43 to 128"},
		{verifier[:42], "43 to 128"},
		{strings.Repeat("a", 129), "43 to 128"},
		{verifier[:44] + "!", "43 to 128"},
		{strings.Repeat("b", 43), "does not match"}, // well formed, another challenge
	} {
		err := checkVerifier(tc.verifier, challenge)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkVerifier(%q): %v, want %q", tc.verifier, err, tc.want)
		}
	}
}

// Redirect URIs: what may be registered, and how a requested one matches.
func TestRedirects(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://app.example/cb":                          true,
		"http://127.0.0.1/callback":                       true,
		"http://localhost:6274/oauth/cb":                  true,
		"http://[::1]:8080/cb":                            true,
		"cursor://anysphere.cursor/cb":                    true,
		"http://evil.example/cb":                          false,
		"https://app.example/cb#frag":                     false,
		"https://user@app.example/cb":                     false,
		"javascript:alert(1)":                             false,
		"data:text/html,x":                                false,
		"/relative":                                       false,
		"https:///nohost":                                 false,
		"https://app.example/\u202ecb":                    false,
		"https://app.example/" + strings.Repeat("a", 600): false,
	} {
		if err := checkRedirectURI(raw); (err == nil) != ok {
			t.Errorf("checkRedirectURI(%q): %v", raw, err)
		}
	}
	for _, tc := range []struct {
		registered, asked string
		ok                bool
	}{
		{"https://app.example/cb", "https://app.example/cb", true},
		{"https://app.example/cb", "https://app.example/cb/", false},
		{"https://app.example/cb", "https://app.example:443/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53412/cb", true},
		{"http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53412/cb?x=1", false},
		{"http://127.0.0.1/cb", "http://localhost:53412/cb", false},
		{"http://127.0.0.1/cb", "http://user@127.0.0.1:53412/cb", false},
		{"http://localhost/cb", "http://LOCALHOST:1234/cb", true},
		{"cursor://a/cb", "cursor://a/cb2", false},
	} {
		if got := redirectMatches(tc.registered, tc.asked); got != tc.ok {
			t.Errorf("redirectMatches(%q, %q) = %v", tc.registered, tc.asked, got)
		}
	}
}

func TestCheckPublicURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://mcp.example.com":     "https://mcp.example.com",
		"https://mcp.example.com/":    "https://mcp.example.com",
		"http://127.0.0.1:8080":       "http://127.0.0.1:8080",
		"http://mcp.example.com":      "",
		"https://mcp.example.com/mcp": "",
		"https://u@mcp.example.com":   "",
		"ftp://mcp.example.com":       "",
		"":                            "",
		"https://mcp.example.com?x=1": "",
	} {
		got, err := CheckPublicURL(raw)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("CheckPublicURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func TestBearerHeader(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc":    "abc",
		"bearer abc":    "abc",
		" BEARER  abc ": "abc",
		"Basic abc":     "",
		"Bearer":        "",
		"Bearer ":       "",
		"":              "",
	} {
		got, ok := bearer(header)
		if got != want && ok || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", header, got, ok, want)
		}
	}
}

// A request's source is its peer, or with a trusted proxy the last
// untrusted hop of X-Forwarded-For; IPv6 sources are /64s.
func TestSourceOf(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.7:5000", "", "203.0.113.7/32"},
		{"203.0.113.7:5000", "198.51.100.1", "203.0.113.7/32"}, // an untrusted peer's header is ignored
		{"10.1.2.3:5000", "198.51.100.1", "198.51.100.1/32"},
		{"10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1/32"},
		{"10.1.2.3:5000", "1.2.3.4, 198.51.100.1, 10.9.9.9", "198.51.100.1/32"}, // what the client wrote itself is not trusted
		{"10.1.2.3:5000", "junk", "10.1.2.3/32"},
		{"[::1]:5000", "2001:db8:1:2::5", "2001:db8:1:2::/64"},
		{"[2001:db8::1]:5000", "", "2001:db8::/64"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := sourceOf(r, proxies); got != netip.MustParsePrefix(tc.want) {
			t.Errorf("peer %s, X-Forwarded-For %q: source %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8, nope"); err == nil {
		t.Error("a list with junk parsed")
	}
}

// What clients name themselves: plain text only, and hosts shown in ASCII.
func TestTextHygiene(t *testing.T) {
	for s, ok := range map[string]bool{
		"Claude Code":        true,
		"Кириллица 日本語":      true,
		"evil\u202eedoC":     false,
		"a\u2066b":           false,
		"a\u200fb":           false,
		"row\nforged":        false,
		"bell\x07":           false,
		"\x1b[31mred":        false,
		string([]byte{0xff}): false,
	} {
		if err := plainText("client_name", s); (err == nil) != ok {
			t.Errorf("plainText(%q): %v", s, err)
		}
	}
	if got := truncate("ab日本", 4); got != "ab" {
		t.Errorf("truncate split a character: %q", got)
	}
	for host, want := range map[string]struct {
		ascii string
		intl  bool
	}{
		"claude.ai":        {"claude.ai", false},
		"сlaude.ai":        {"xn--laude-0ye.ai", true},
		"xn--laude-0ye.ai": {"xn--laude-0ye.ai", true},
		"Пример.рф:8443":   {"xn--e1afmkfd.xn--p1ai:8443", true},
	} {
		got, intl := displayHost(host)
		if got != want.ascii || intl != want.intl {
			t.Errorf("displayHost(%q) = %q, %v; want %q, %v", host, got, intl, want.ascii, want.intl)
		}
	}
	if got := escapeForTerminal("ok\x1b[2J\u202e"); strings.ContainsAny(got, "\x1b\u202e") {
		t.Errorf("escapeForTerminal left %q", got)
	}
}

// The live-grant table forgets what is past its time, and stays bounded.
func TestLiveGrantsStayBounded(t *testing.T) {
	var l liveGrants
	now := time.Unix(1000, 0)
	for i := range 1000 {
		l.mark("g"+string(rune('a'+i%26))+string(rune(i)), now)
	}
	now = now.Add(liveFor + time.Second)
	l.mark("fresh", now)
	if n := l.size(); n != 1 {
		t.Errorf("%d grants kept after they lapsed", n)
	}
	if !l.known("fresh", now) || l.known("fresh", now.Add(liveFor)) {
		t.Error("a grant is known live for liveFor, then not")
	}
}

// checkAuthorize without HTTP: each way a request is wrong, its error, and
// whether it may go back to the client (only once someone consented to it).
func TestCheckAuthorize(t *testing.T) {
	s := newTestServer(t, t.TempDir(), func(c *Config) { c.upstream = fakeUpstream{uid: 1} })
	ctx := t.Context()
	redirect := "http://127.0.0.1:41999/cb"
	c := &client{ID: "b24mcp-table", Name: "table", RedirectURIs: []string{redirect}}
	if err := s.records.putClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	good := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "state": {"st"},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "resource": {s.issuer + "/mcp"}}
	}
	src := netip.MustParsePrefix("192.0.2.1/32")
	cases := []struct {
		name    string
		change  func(url.Values)
		code    string
		toKnown bool // the error may go back to the client, once trusted
	}{
		{"good", func(url.Values) {}, "", true},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, "invalid_client", false},
		{"foreign redirect", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, "invalid_request", false},
		{"repeated parameter", func(q url.Values) { q.Add("state", "again") }, "invalid_request", false},
		{"token flow", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", true},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge") }, "invalid_request", true},
		{"no resource", func(q url.Values) { q.Del("resource") }, "invalid_request", true},
		{"another resource", func(q url.Values) { q.Set("resource", "https://other.example/mcp") }, "invalid_target", true},
		{"unknown scope", func(q url.Values) { q.Set("scope", "admin") }, "invalid_scope", true},
	}
	for _, trusted := range []bool{false, true} {
		if trusted {
			if err := s.trustClient(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range cases {
			q := good()
			tc.change(q)
			ar, to, err := s.checkAuthorize(ctx, q, src)
			code := ""
			if err != nil {
				code = err.(*oauthError).code
			}
			if code != tc.code || (err == nil) != (ar != nil) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.code)
			}
			if wantTo := trusted && tc.toKnown; (to != nil) != wantTo {
				t.Errorf("%s (trusted %v): back to the client %v, want %v", tc.name, trusted, to, wantTo)
			}
		}
	}
}
