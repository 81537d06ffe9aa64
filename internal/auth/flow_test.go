package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// The sign-in flow by hand, as a client would drive it, for the tests that
// need to step off it.

func register(t testing.TB, s *SignInServer, redirects ...string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"redirect_uris": redirects, "client_name": "hand-driven client",
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none"})
	resp, err := http.Post(s.URL+"/register", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated || out["client_id"] == "" || out["token_endpoint_auth_method"] != "none" {
		t.Fatalf("register: HTTP %d %v", resp.StatusCode, out)
	}
	return out["client_id"].(string)
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := oauth2.GenerateVerifier()
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authorizeURL builds an authorization request; empty values are left out.
func authorizeURL(s *SignInServer, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	return s.URL + "/authorize?" + q.Encode()
}

func goodAuthorize(s *SignInServer, client, redirect string, p pkce, scope string) map[string]string {
	return map[string]string{"response_type": "code", "client_id": client, "redirect_uri": redirect, "code_challenge": p.challenge,
		"code_challenge_method": "S256", "state": "st-123", "resource": s.URL + "/mcp", "scope": scope}
}

func postForm(t testing.TB, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

type tokens struct{ access, refresh, client string }

// signInByHand runs the whole flow for the person the portal consents as.
func signInByHand(t testing.TB, s *SignInServer, scope string) tokens {
	t.Helper()
	redirect := "http://127.0.0.1:41999/cb"
	if s.handClient == "" {
		s.handClient = register(t, s, redirect) // one client, as a real one registers once
	}
	client := s.handClient
	p := newPKCE()
	q, err := testkit.NewBrowser().Authorize(authorizeURL(s, goodAuthorize(s, client, redirect, p, scope)), redirect)
	if err != nil || q.Get("code") == "" {
		t.Fatalf("authorize: %v %v", err, q)
	}
	status, out := postForm(t, s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {redirect}, "client_id": {client}, "code_verifier": {p.verifier}, "resource": {s.URL + "/mcp"}})
	if status != http.StatusOK {
		t.Fatalf("token: HTTP %d %v", status, out)
	}
	return tokens{access: out["access_token"].(string), refresh: out["refresh_token"].(string), client: client}
}

// send makes one request of the server with a bearer token ("" for none);
// a body goes as JSON-RPC, and headers come in name, value pairs.
func send(t testing.TB, s *SignInServer, method, path, token, body string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, s.Base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// rpc posts one JSON-RPC message to /mcp.
func rpc(t testing.TB, s *SignInServer, token, body string) *http.Response {
	t.Helper()
	return send(t, s, http.MethodPost, "/mcp", token, body)
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func readAll(resp *http.Response) string {
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}
