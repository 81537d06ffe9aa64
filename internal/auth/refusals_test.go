package auth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// What `curl` of the two metadata documents and an unauthenticated POST
// show a client.
func TestDiscovery(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)

	get := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: HTTP %d %v", path, resp.StatusCode, err)
		}
		return m
	}
	for path, resource := range map[string]string{"/.well-known/oauth-protected-resource": s.URL,
		"/.well-known/oauth-protected-resource/mcp": s.URL + "/mcp", "/.well-known/oauth-protected-resource/sse": s.URL + "/sse"} {
		m := get(path)
		if m["resource"] != resource || m["authorization_servers"].([]any)[0] != s.URL {
			t.Errorf("%s: %v", path, m)
		}
	}
	as := get("/.well-known/oauth-authorization-server")
	if as["issuer"] != s.URL || as["code_challenge_methods_supported"].([]any)[0] != "S256" || as["client_id_metadata_document_supported"] != true ||
		as["registration_endpoint"] != s.URL+"/register" || as["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("authorization server metadata: %v", as)
	}

	for _, path := range []string{"/mcp", "/sse"} {
		var resp *http.Response
		if path == "/mcp" {
			resp = rpc(t, s, "", initialize)
		} else {
			resp, _ = http.Get(s.URL + path)
			resp.Body.Close()
		}
		want := `Bearer resource_metadata="` + s.URL + `/.well-known/oauth-protected-resource` + path + `"`
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), want) {
			t.Errorf("%s without a token: HTTP %d, WWW-Authenticate %q; want 401 starting %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
		}
	}
	if resp := rpc(t, s, "b24mcp_at.forged.x", initialize); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("a forged token: HTTP %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// Each way a sign-in can be wrong is refused with its RFC's error, stores
// nothing, and sends nothing to Bitrix24.
func TestSignInRefusals(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	redirect := "http://127.0.0.1:41999/cb"
	client := register(t, s, redirect)
	pk := newPKCE()
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(change map[string]string) (int, url.Values, string) {
		t.Helper()
		params := goodAuthorize(s, client, redirect, pk, "")
		for k, v := range change {
			params[k] = v
		}
		resp, err := noRedirects.Get(authorizeURL(s, params))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil {
			return resp.StatusCode, nil, string(body)
		}
		return resp.StatusCode, loc.Query(), string(body)
	}
	before := p.Stats()

	// Until the client and redirect URI are known good: a page, no redirect.
	for name, change := range map[string]map[string]string{
		"unregistered client":      {"client_id": "b24mcp-nobody"},
		"unregistered redirect":    {"redirect_uri": "http://127.0.0.1:41999/elsewhere"},
		"redirect to another host": {"redirect_uri": "https://attacker.example/cb"},
	} {
		status, q, body := authorize(change)
		if status != http.StatusBadRequest || q.Get("code") != "" || q.Get("error") != "" || !strings.Contains(body, "not valid") {
			t.Errorf("%s: HTTP %d, redirect %v; want 400 and a page", name, status, q)
		}
	}
	// Known good, but nobody has consented to the client yet: a page
	// naming the error (no redirect to a URI nobody vouched for). After a
	// person consented to it once: back to the client with the error,
	// state and iss.
	wrong := map[string]struct {
		change map[string]string
		code   string
	}{
		"no PKCE":          {map[string]string{"code_challenge": ""}, "invalid_request"},
		"plain PKCE":       {map[string]string{"code_challenge_method": "plain"}, "invalid_request"},
		"short challenge":  {map[string]string{"code_challenge": "abc"}, "invalid_request"},
		"missing resource": {map[string]string{"resource": ""}, "invalid_request"},
		"another resource": {map[string]string{"resource": "https://other.example/mcp"}, "invalid_target"},
		"unknown scope":    {map[string]string{"scope": "chat:read admin"}, "invalid_scope"},
		"token flow":       {map[string]string{"response_type": "token"}, "unsupported_response_type"},
	}
	for name, c := range wrong {
		status, q, body := authorize(c.change)
		if status != http.StatusBadRequest || q.Get("error") != "" || !strings.Contains(body, c.code) {
			t.Errorf("%s before any consent: HTTP %d %v; want 400 and a page naming %s", name, status, q, c.code)
		}
	}
	if _, err := testkit.NewBrowser().Authorize(authorizeURL(s, goodAuthorize(s, client, redirect, pk, "")), redirect); err != nil {
		t.Fatal(err)
	}
	for name, c := range wrong {
		status, q, _ := authorize(c.change)
		if status != http.StatusFound || q.Get("error") != c.code || q.Get("state") != "st-123" || q.Get("iss") != s.URL || q.Get("code") != "" {
			t.Errorf("%s after a consent: HTTP %d %v; want a redirect with error=%s", name, status, q, c.code)
		}
	}
	before = p.Stats()

	// A forged state at the callback: nothing is traded with Bitrix24.
	resp, err := http.Get(s.URL + "/callback?code=stolen&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged state: HTTP %d, want 400", resp.StatusCode)
	}
	// A real state, but from another browser (no cookie): refused too.
	b := testkit.NewBrowser()
	b.Client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.Contains(r.URL.Path, "/oauth/authorize") {
			return http.ErrUseLastResponse // stop before Bitrix24: keep its state
		}
		return nil
	}
	page, _ := b.Client.Get(authorizeURL(s, goodAuthorize(s, client, redirect, pk, "")))
	raw, _ := io.ReadAll(page.Body)
	page.Body.Close()
	id := strings.Split(strings.Split(string(raw), `name="signin" value="`)[1], `"`)[0]
	consent, _ := b.Client.PostForm(s.URL+"/authorize/consent", url.Values{"signin": {id}, "decision": {"allow"}})
	consent.Body.Close()
	if consent.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: HTTP %d", consent.StatusCode)
	}
	resp, _ = http.Get(s.URL + "/callback?code=x&state=" + url.QueryEscape(id))
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback from another browser: HTTP %d, want 400", resp.StatusCode)
	}
	// The person declines on the consent page: access_denied, before Bitrix24.
	denier := testkit.NewBrowser()
	denier.Decide = "deny"
	if q, err := denier.Authorize(authorizeURL(s, goodAuthorize(s, client, redirect, pk, "")), redirect); err != nil || q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Get("iss") != s.URL {
		t.Errorf("declined: %v %v", q, err)
	}
	if after := p.Stats(); after.TokenRequests != before.TokenRequests || after.Requests != before.Requests {
		t.Errorf("refused sign-ins reached Bitrix24: token requests %d -> %d, REST %d -> %d", before.TokenRequests, after.TokenRequests, before.Requests, after.Requests)
	}

	// At the token endpoint: a wrong verifier, a wrong redirect, another client.
	code := func() string {
		q, err := testkit.NewBrowser().Authorize(authorizeURL(s, goodAuthorize(s, client, redirect, pk, "")), redirect)
		if err != nil {
			t.Fatal(err)
		}
		return q.Get("code")
	}
	exchange := func(c string, change url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect}, "client_id": {client}, "code_verifier": {pk.verifier}, "resource": {s.URL + "/mcp"}}
		for k, v := range change {
			if v == nil {
				delete(form, k)
			} else {
				form[k] = v
			}
		}
		return postForm(t, s.URL+"/token", form)
	}
	for name, c := range map[string]struct {
		change url.Values
		code   string
	}{
		"wrong verifier":         {url.Values{"code_verifier": {newPKCE().verifier}}, "invalid_grant"},
		"one-character verifier": {url.Values{"code_verifier": {"x"}}, "invalid_grant"},
		"wrong redirect":         {url.Values{"redirect_uri": {"http://127.0.0.1:41999/other"}}, "invalid_grant"},
		"no redirect":            {url.Values{"redirect_uri": nil}, "invalid_request"},
		"another client":         {url.Values{"client_id": {register(t, s, redirect)}}, "invalid_grant"},
		"another resource":       {url.Values{"resource": {"https://other.example/mcp"}}, "invalid_target"},
		"no resource":            {url.Values{"resource": nil}, "invalid_request"},
	} {
		status, out := exchange(code(), c.change)
		if status != http.StatusBadRequest || out["error"] != c.code || out["access_token"] != nil {
			t.Errorf("%s: HTTP %d %v, want %s", name, status, out, c.code)
		}
	}
	// A code works once; its second use revokes what the first bought.
	c := code()
	status, first := exchange(c, nil)
	if status != 200 {
		t.Fatalf("first use: HTTP %d %v", status, first)
	}
	if resp := rpc(t, s, first["access_token"].(string), initialize); resp.StatusCode != 200 {
		t.Fatalf("the token works: HTTP %d", resp.StatusCode)
	}
	if status, out := exchange(c, nil); status != 400 || out["error"] != "invalid_grant" {
		t.Errorf("reused code: HTTP %d %v", status, out)
	}
	if resp := rpc(t, s, first["access_token"].(string), initialize); resp.StatusCode != 401 {
		t.Errorf("after the code's reuse its token still works: HTTP %d", resp.StatusCode)
	}
	if status, out := postForm(t, s.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}, "client_id": {client}}); status != 400 || out["error"] != "invalid_grant" {
		t.Errorf("after the code's reuse its refresh token still works: HTTP %d %v", status, out)
	}
}

// Refresh tokens rotate; an old one shown again ends the sign-in. A token
// for another server (same key, another public URL) and a revoked one are
// refused. Signing out ends every token of the person.
func TestTokensRotateAndRevoke(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	tk := signInByHand(t, s, "")

	refresh := func(rt string) (int, map[string]any) {
		return postForm(t, s.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {tk.client}})
	}
	status, next := refresh(tk.refresh)
	if status != 200 || next["refresh_token"] == tk.refresh || next["access_token"] == nil {
		t.Fatalf("refresh: HTTP %d %v", status, next)
	}
	if status, out := refresh(tk.refresh); status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("the rotated-out refresh token: HTTP %d %v", status, out)
	}
	// Its reuse revoked the grant: the new pair is dead too.
	if resp := rpc(t, s, next["access_token"].(string), initialize); resp.StatusCode != 401 {
		t.Errorf("after a refresh token's reuse, the grant's access token: HTTP %d, want 401", resp.StatusCode)
	}
	if status, _ := refresh(next["refresh_token"].(string)); status != 400 {
		t.Errorf("after a refresh token's reuse, the grant's new refresh token: HTTP %d, want 400", status)
	}

	// Another server with the same key but another public URL.
	other := StartSignIn(t, p, map[string]string{"MCP_STATE_KEY": s.Key})
	p.SetRedirectURI(s.URL + "/callback")
	tk = signInByHand(t, s, "")
	if resp := rpc(t, other, tk.access, initialize); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "another server") {
		t.Errorf("a token for another audience: HTTP %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// RFC 7009 revocation.
	if status, _ := postForm(t, s.URL+"/revoke", url.Values{"token": {tk.refresh}, "client_id": {tk.client}}); status != 200 {
		t.Fatalf("revoke: HTTP %d", status)
	}
	if resp := rpc(t, s, tk.access, initialize); resp.StatusCode != 401 {
		t.Errorf("a revoked sign-in's access token: HTTP %d, want 401", resp.StatusCode)
	}

	// Signing out at the server ends every sign-in of the person.
	a, b := signInByHand(t, s, ""), signInByHand(t, s, "")
	if resp := send(t, s, http.MethodPost, "/signout", a.access, ""); resp.StatusCode != 200 {
		t.Fatalf("signout: HTTP %d", resp.StatusCode)
	}
	for _, tok := range []string{a.access, b.access} {
		if resp := rpc(t, s, tok, initialize); resp.StatusCode != 401 {
			t.Errorf("after signing out, a token: HTTP %d, want 401", resp.StatusCode)
		}
	}
	trail, _ := os.ReadFile(s.Audit)
	if n := strings.Count(string(trail), `"event":"sign-out"`); n < 4 {
		t.Errorf("the audit trail has %d sign-outs, want 4 (reuse, revoke, sign-out x2):\n%s", n, trail)
	}
	portaltest.AssertNoSecret(t, p, "audit trail", string(trail))
	for _, secret := range []string{tk.access, tk.refresh, a.refresh} {
		if strings.Contains(string(trail), secret) {
			t.Error("the audit trail holds one of our tokens")
		}
	}
}

// A token that may only read gets 403 insufficient_scope for a write (the
// client may step up), and reads work.
func TestReadOnlyScope(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	tk := signInByHand(t, s, "chat:read")
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add_chat_users","arguments":{"chat_id":2725,"user_ids":[99]}}}`
	resp := rpc(t, s, tk.access, call)
	if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusForbidden || !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, "chat:write") {
		t.Errorf("a write with chat:read: HTTP %d %q, want 403 insufficient_scope", resp.StatusCode, h)
	}
	if n := p.Stats().AddUserCalls; n != 0 {
		t.Errorf("%d adds reached the portal", n)
	}
}
