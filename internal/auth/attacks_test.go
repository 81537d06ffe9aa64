package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// What a tester from the internet tried, each refused or fixed (issue 28).

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirects.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// countingFetcher counts metadata document fetches; each fails.
type countingFetcher struct{ n atomic.Int64 }

func (c *countingFetcher) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("dial tcp 10.0.0.1:443: connect: network is unreachable")
}

// M2: a document is fetched only within the limits, and a failure is
// remembered, so a flood of client_id URLs is a handful of fetches.
func TestDocumentFetchesWithinTheLimits(t *testing.T) {
	p := portaltest.Start(t, nil)
	fetcher := &countingFetcher{}
	limits := auth.Limits{SignIns: auth.Rate{PerSource: 1, SourceBurst: 10, Overall: 6000, OverallBurst: 1000},
		Documents: auth.Rate{PerSource: 1, SourceBurst: 3, Overall: 6000, OverallBurst: 1000}}
	s := startSignIn(t, p, nil, app.Options{MetadataClient: &http.Client{Transport: fetcher}, SignInLimits: limits})
	statuses := map[int]int{}
	for i := range 60 {
		doc := "https://client" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example/client.json"
		resp, body := get(t, authorizeURL(s, goodAuthorize(s, doc, "https://app.example/cb", newPKCE(), "")))
		statuses[resp.StatusCode]++
		if strings.Contains(body, "10.0.0.1") || strings.Contains(body, "dial") {
			t.Fatalf("the page shows the dial error: %s", body)
		}
	}
	if n := fetcher.n.Load(); n != 3 {
		t.Errorf("60 client_id URLs past the limits made %d fetches, want the 3 the documents limit allows (%v)", n, statuses)
	}
	if statuses[http.StatusTooManyRequests] != 57 {
		t.Errorf("statuses %v: want 57 refused with 429", statuses)
	}
	// The same failing URL again and again, within the limits: one fetch.
	s2 := startSignIn(t, p, nil, app.Options{MetadataClient: &http.Client{Transport: fetcher}})
	before := fetcher.n.Load()
	for range 20 {
		get(t, authorizeURL(s2, goodAuthorize(s2, "https://same.example/client.json", "https://app.example/cb", newPKCE(), "")))
	}
	if n := fetcher.n.Load() - before; n != 1 {
		t.Errorf("one failing document asked for 20 times: %d fetches, want 1", n)
	}
}

// M3: an internationalised redirect host is shown in ASCII, and said to be one.
func TestHomoglyphRedirectShownInASCII(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	redirect := "https://сlaude.ai/api/mcp/auth_callback" // a Cyrillic с
	client := register(t, s, redirect)
	_, page := get(t, authorizeURL(s, goodAuthorize(s, client, redirect, newPKCE(), "")))
	if !strings.Contains(page, "https://xn--laude-0ye.ai") || strings.Contains(page, "сlaude") || !strings.Contains(page, "internationalised name") {
		t.Errorf("the consent page: %s", page)
	}
}

// M5, L2, L3: every registered field is capped and plain text.
func TestRegistrationFieldsAreCapped(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	long := "https://app.example/" + strings.Repeat("a", 2900)
	var twenty []string
	for range 20 {
		twenty = append(twenty, long)
	}
	for name, meta := range map[string]map[string]any{
		"20 redirect URIs of 2.9 KB":     {"redirect_uris": twenty},
		"one redirect URI of 2.9 KB":     {"redirect_uris": []string{long}},
		"11 redirect URIs":               {"redirect_uris": strings.Split(strings.Repeat("http://127.0.0.1/cb,", 11), ",")[:11]},
		"a client_uri of 3 KB":           {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_uri": "https://x.example/" + strings.Repeat("b", 3000)},
		"a client_uri that is not https": {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_uri": "javascript:alert(1)"},
		"a name of 300 bytes":            {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": strings.Repeat("n", 300)},
		"a right-to-left override":       {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": "Claude\u202eedoC"},
		"a bidi isolate":                 {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": "A\u2066B"},
		"a terminal escape":              {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": "ok\x1b[2J"},
		"a forged row":                   {"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": "x\n1 2026-01-01 chat:write Claude"},
		"a body over 16 KiB":             {"redirect_uris": []string{"http://127.0.0.1/cb"}, "junk": strings.Repeat("j", 20000)},
	} {
		body, _ := json.Marshal(meta)
		resp, err := http.Post(s.URL+"/register", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || out["client_id"] != nil {
			t.Errorf("%s: HTTP %d %v", name, resp.StatusCode, out)
		}
	}
	if list, err := s.App.Auth.Registrations(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("refused registrations were kept: %v %v", list, err)
	}
}

// L4: another browser presenting a sign-in's state spends nothing: the
// person's own callback still finishes it.
func TestCallbackFromAnotherBrowserSpendsNothing(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	redirect := "http://127.0.0.1:41999/cb"
	client := register(t, s, redirect)
	b := testkit.NewBrowser()
	var atPortal *url.URL
	b.Client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.Contains(r.URL.Path, "/oauth/authorize") {
			atPortal = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	pk := newPKCE()
	page, err := b.Client.Get(authorizeURL(s, goodAuthorize(s, client, redirect, pk, "")))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(page.Body)
	page.Body.Close()
	id := strings.Split(strings.Split(string(raw), `name="signin" value="`)[1], `"`)[0]
	resp, err := b.Client.PostForm(s.URL+"/authorize/consent", url.Values{"signin": {id}, "decision": {"allow"}})
	if err != nil || atPortal == nil {
		t.Fatalf("consent: %v", err)
	}
	resp.Body.Close()
	// The attacker, without the cookie.
	if resp, _ := get(t, s.URL+"/callback?code=x&state="+url.QueryEscape(id)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("another browser's callback: HTTP %d", resp.StatusCode)
	}
	// The person goes on: Bitrix24 sends them to the callback, which works.
	var arrived *url.URL
	b.Client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			arrived = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err = b.Client.Get(atPortal.String())
	if err == nil {
		resp.Body.Close()
	}
	if arrived == nil || arrived.Query().Get("code") == "" {
		t.Fatalf("the person's own callback after another browser's try: %v %v", arrived, err)
	}
}

// L5: state and every other parameter is capped before anything is kept.
func TestLongParametersAreRefused(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	redirect := "http://127.0.0.1:41999/cb"
	client := register(t, s, redirect)
	params := goodAuthorize(s, client, redirect, newPKCE(), "")
	params["state"] = strings.Repeat("s", 60000)
	resp, body := get(t, authorizeURL(s, params))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "state") {
		t.Errorf("a 60,000-character state: HTTP %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("a refused sign-in set a cookie (so was kept)")
	}
}

// L7, L8: a refresh token from before a key change, or from another
// server sharing the store, is refused with invalid_grant (sign in again),
// not a 503 to retry for ever.
func TestRefreshTokensAfterAKeyChangeAndElsewhere(t *testing.T) {
	p := portaltest.Start(t, nil)
	redis := testkit.StartRedis(t)
	key := testkit.NewKey()
	a := StartSignIn(t, p, map[string]string{"BITRIX24_STATE_URL": redis.URL, "MCP_STATE_KEY": key})
	b := StartSignIn(t, p, map[string]string{"BITRIX24_STATE_URL": redis.URL, "MCP_STATE_KEY": key})
	p.ConsentAs(1271)
	p.SetRedirectURI(a.URL + "/callback")
	tk := signInByHand(t, a, "")
	refresh := func(s *SignInServer, rt string) (int, map[string]any) {
		return postForm(t, s.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {tk.client}})
	}
	if status, out := refresh(b, tk.refresh); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("a refresh token issued at %s, shown at %s: HTTP %d %v", a.URL, b.URL, status, out)
	}
	if status, _ := refresh(a, tk.refresh); status != http.StatusOK {
		t.Errorf("the refresh token where it was issued, after the other server refused it: HTTP %d", status)
	}
	// A code issued at a, shown at b.
	pk := newPKCE()
	redirect := "http://127.0.0.1:41999/cb"
	q, err := testkit.NewBrowser().Authorize(authorizeURL(a, goodAuthorize(a, tk.client, redirect, pk, "")), redirect)
	if err != nil {
		t.Fatal(err)
	}
	if status, out := postForm(t, b.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {tk.client},
		"redirect_uri": {redirect}, "code_verifier": {pk.verifier}, "resource": {a.URL + "/mcp"}}); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("a code issued at %s, exchanged at %s: HTTP %d %v", a.URL, b.URL, status, out)
	}

	// A key change without the previous key: sign in again, not retry.
	dir := t.TempDir()
	env := map[string]string{"MCP_AUTH_STORE": dir + "/signin.db", "MCP_STATE_KEY": testkit.NewKey()}
	c := StartSignIn(t, p, env)
	p.SetRedirectURI(c.URL + "/callback")
	tk = signInByHand(t, c, "")
	c.srv.Close()
	_ = c.App.Close()
	env["MCP_STATE_KEY"] = testkit.NewKey()
	c2 := StartSignIn(t, p, env)
	if status, out := postForm(t, c2.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.refresh}, "client_id": {tk.client}}); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("a refresh token after MCP_STATE_KEY changed: HTTP %d %v, want 400 invalid_grant", status, out)
	}
}

// L9: a token is revoked only for the client it was issued to.
func TestRevocationIsTheClientsOwn(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	tk := signInByHand(t, s, "")
	other := register(t, s, "http://127.0.0.1:41999/cb")
	if status, out := postForm(t, s.URL+"/revoke", url.Values{"token": {tk.refresh}, "client_id": {other}}); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("revoking another client's token: HTTP %d %v", status, out)
	}
	if status, out := postForm(t, s.URL+"/revoke", url.Values{"token": {tk.access}}); status != http.StatusBadRequest || out["error"] != "invalid_request" {
		t.Errorf("revoking without client_id: HTTP %d %v", status, out)
	}
	if resp := rpc(t, s, tk.access, initialize); resp.StatusCode != http.StatusOK {
		t.Fatalf("the victim's token after the refused revocations: HTTP %d", resp.StatusCode)
	}
	if status, _ := postForm(t, s.URL+"/revoke", url.Values{"token": {tk.access}, "client_id": {tk.client}}); status != http.StatusOK {
		t.Fatalf("revoking one's own: HTTP %d", status)
	}
	if resp := rpc(t, s, tk.access, initialize); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after its own client revoked it: HTTP %d", resp.StatusCode)
	}
}

// A redirect URI left out of the authorization request (one registered)
// may be left out of the token request too (RFC 6749 4.1.3); named in one,
// it must be named in both.
func TestRedirectURILeftOut(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	redirect := "https://app.example/cb"
	client := register(t, s, redirect)
	for _, name := range []string{"left out of both", "named only at /token"} {
		pk := newPKCE()
		params := goodAuthorize(s, client, redirect, pk, "")
		delete(params, "redirect_uri")
		q, err := testkit.NewBrowser().Authorize(authorizeURL(s, params), redirect)
		if err != nil || q.Get("code") == "" {
			t.Fatalf("%s: authorize: %v %v", name, err, q)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {client}, "code_verifier": {pk.verifier}, "resource": {s.URL + "/mcp"}}
		if name == "named only at /token" {
			form.Set("redirect_uri", redirect)
		}
		if status, out := postForm(t, s.URL+"/token", form); status != http.StatusOK {
			t.Errorf("%s: HTTP %d %v", name, status, out)
		}
	}
}

// A sign-in whose Bitrix24 tokens are another portal's is refused, and
// nothing of it kept.
func TestAnotherPortalsSignInIsRefused(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	p.SetTokenEndpoints("https://other-company.bitrix24.com/rest/", "https://oauth.bitrix.info/rest/")
	redirect := "http://127.0.0.1:41999/cb"
	client := register(t, s, redirect)
	q, err := testkit.NewBrowser().Authorize(authorizeURL(s, goodAuthorize(s, client, redirect, newPKCE(), "")), redirect)
	if err != nil || q.Get("error") != "access_denied" || q.Get("code") != "" || !strings.Contains(q.Get("error_description"), "another portal") {
		t.Errorf("a sign-in on another portal: %v %v", q, err)
	}
	if list, _ := s.App.Auth.Signins(context.Background()); len(list) != 0 {
		t.Errorf("kept: %v", list)
	}
}

// The metadata documents are as committed (testdata), and the Go SDK
// reads them; OpenID discovery's address is not served (this server is no
// OpenID provider); with documents off, clients are told to register.
func TestMetadataDocuments(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	for path, golden := range map[string]string{
		"/.well-known/oauth-authorization-server":   "testdata/authorization-server.json",
		"/.well-known/oauth-protected-resource/mcp": "testdata/protected-resource-mcp.json",
	} {
		resp, body := get(t, s.URL+path)
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		portal, _ := url.Parse(p.TokenURL())
		got := strings.ReplaceAll(strings.ReplaceAll(body, s.URL, "{{issuer}}"), portal.Host, "{{portal}}")
		if resp.StatusCode != 200 || !jsonEqual(got, string(want)) {
			t.Errorf("%s differs from %s:\n%s", path, golden, got)
		}
	}
	ctx := context.Background()
	asm, err := oauthex.GetAuthServerMeta(ctx, s.URL+"/.well-known/oauth-authorization-server", s.URL, http.DefaultClient)
	if err != nil || asm.Issuer != s.URL || !asm.ClientIDMetadataDocumentSupported {
		t.Errorf("the Go SDK reads the authorization server's metadata: %+v %v", asm, err)
	}
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, s.URL+"/.well-known/oauth-protected-resource/mcp", s.URL+"/mcp", http.DefaultClient)
	if err != nil || prm.Resource != s.URL+"/mcp" {
		t.Errorf("the Go SDK reads the protected resource's metadata: %+v %v", prm, err)
	}
	if resp, _ := get(t, s.URL+"/.well-known/openid-configuration"); resp.StatusCode == http.StatusOK {
		t.Errorf("OpenID discovery served: HTTP %d", resp.StatusCode)
	}

	off := StartSignIn(t, p, map[string]string{"MCP_CLIENT_METADATA_DOCUMENTS": "false"})
	_, body := get(t, off.URL+"/.well-known/oauth-authorization-server")
	if !strings.Contains(body, `"client_id_metadata_document_supported":false`) {
		t.Errorf("with documents off, the metadata: %s", body)
	}
	resp, page := get(t, authorizeURL(off, goodAuthorize(off, "https://claude.ai/oauth/claude-code-client-metadata", "https://app.example/cb", newPKCE(), "")))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "register") {
		t.Errorf("a document client with documents off: HTTP %d %s", resp.StatusCode, page)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
