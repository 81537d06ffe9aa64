package auth_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Two people through one server: each sees their own chats and acts with
// their own permissions, and the audit trail names who did what.
func TestTwoPeople(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := startSignIn(t, p, nil, app.Options{Metrics: telemetry.ForServer("test")})

	p.ConsentAs(1271) // Dmitry: not in chat 4000
	ba := testkit.NewBrowser()
	a := goSDKSession(t, s, ba, dcr(ba, "http://127.0.0.1:43123/callback"))
	p.ConsentAs(1269) // Alexander: owns chat 4000
	bb := testkit.NewBrowser()
	b := goSDKSession(t, s, bb, dcr(bb, "http://127.0.0.1:43124/callback"))

	_, textA := callTool(t, a, "find_chats", map[string]any{"query": "sales"})
	_, textB := callTool(t, b, "find_chats", map[string]any{"query": "sales"})
	if strings.Contains(textA, "Sales floor") || !strings.Contains(textB, "Sales floor") {
		t.Errorf("each should see only their chats:\nA: %s\nB: %s", textA, textB)
	}
	if res, text := callTool(t, a, "list_dialog_users", map[string]any{"dialog_id": "chat4000"}); !res.IsError {
		t.Errorf("A read a chat A is not in: %s", text)
	}

	res, text := callTool(t, a, "add_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1291}})
	if !res.IsError || !strings.Contains(text, "ACCESS_ERROR") || !strings.Contains(text, "You have no access") {
		t.Errorf("A's invite to a chat A may not change: %s", text)
	}
	res, text = callTool(t, b, "add_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1291}})
	if res.IsError {
		t.Errorf("B's invite: %s", text)
	}
	if p.ActiveMemberCount(4000) != 4 {
		t.Errorf("chat 4000 has %d members, want 4", p.ActiveMemberCount(4000))
	}

	// Metrics: two sign-ins, two people active, no user id in a label.
	resp := send(t, s, http.MethodGet, "/metrics", "", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: HTTP %d", resp.StatusCode)
	}
	p.ConsentAs(1291)
	tok := signInByHand(t, s, "chat:read")
	scrape := readAll(send(t, s, http.MethodGet, "/metrics", tok.access, ""))
	for _, want := range []string{`bitrix24_mcp_signin_events_total{event="sign_in"} 3`, "bitrix24_mcp_people_active 2"} {
		if !strings.Contains(scrape, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	if strings.Contains(scrape, `"1271"`) || strings.Contains(scrape, `"1269"`) {
		t.Error("a user id is in the metrics")
	}

	var writes []map[string]any
	for _, l := range auditLines(t, s.Audit) {
		if l["event"] != "sign-in" && l["outcome"] != "attempt" {
			writes = append(writes, l)
		}
	}
	if len(writes) != 2 || writes[0]["event"] != "refused" || writes[0]["bitrix24_user_id"] != "1271" || writes[1]["bitrix24_user_id"] != "1269" ||
		writes[0]["mcp_client_id"] == writes[1]["mcp_client_id"] || writes[1]["outcome"] != "done" {
		t.Errorf("the audit trail's changes should name A then B: %v", writes)
	}
}

// Twenty calls of one person meet an expired Bitrix24 token at once: their
// pair is refreshed once, and every call succeeds. Bitrix24 refusing the
// refresh token later ends their sign-in.
func TestOnePersonAcrossAnExpiry(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	b := testkit.NewBrowser()
	cs := goSDKSession(t, s, b, dcr(b, "http://127.0.0.1:43123/callback"))
	callTool(t, cs, "get_chat", map[string]any{"dialog_id": "chat2725"})
	before := p.UserRefreshes(1271)
	p.ExpireUserToken(1271)
	concurrently(t, 20, func(int) {
		if res, text := callTool(t, cs, "get_chat", map[string]any{"dialog_id": "chat2725"}); res.IsError {
			t.Errorf("a call across the expiry failed: %s", text)
		}
	})
	if n := p.UserRefreshes(1271) - before; n != 1 {
		t.Errorf("%d refreshes of the person's pair, want 1", n)
	}

	p.RevokeUser(1271)
	res, text := callTool(t, cs, "get_chat", map[string]any{"dialog_id": "chat2725"})
	if !res.IsError || !strings.Contains(text, "sign in again") {
		t.Errorf("after Bitrix24 refused the refresh token: %s", text)
	}
	found := false
	for _, l := range auditLines(t, s.Audit) {
		found = found || (l["event"] == "sign-out" && strings.Contains(l["reason"].(string), "invalid_grant"))
	}
	if !found {
		t.Error("the revocation is not in the audit trail")
	}
}

func concurrently(t *testing.T, n int, f func(i int)) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}

// The Go SDK's client registers with a Client ID Metadata Document; the
// server fetches it (here from a TLS server the test trusts) and shows its
// host on the consent page.
func TestGoSDKSignsInWithAMetadataDocument(t *testing.T) {
	redirect := "http://127.0.0.1:43125/callback"
	var doc *httptest.Server
	doc = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": doc.URL + "/client.json", "client_name": "Document client",
			"redirect_uris": []string{redirect}, "grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none"})
	}))
	defer doc.Close()
	p := portaltest.Start(t, nil)
	s := startSignIn(t, p, nil, app.Options{MetadataClient: doc.Client()})
	p.ConsentAs(1271)
	b := testkit.NewBrowser()
	cs := goSDKSession(t, s, b, auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: doc.URL + "/client.json"},
		RedirectURL:                    redirect, AuthorizationCodeFetcher: b.Fetcher(redirect)})
	if res, text := callTool(t, cs, "get_chat", map[string]any{"dialog_id": "chat2725"}); res.IsError {
		t.Fatal(text)
	}
	if len(b.Pages) != 1 || !strings.Contains(b.Pages[0], "Document client") || !strings.Contains(b.Pages[0], "127.0.0.1") {
		t.Errorf("the consent page should name the document's client and its host: %q", b.Pages)
	}

	// The default fetcher refuses a document on a private address: a
	// client listening on loopback is told so (it stops waiting), anyone
	// else sees a page; neither learns the dial error or the address.
	s2 := StartSignIn(t, p, nil)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Get(authorizeURL(s2, goodAuthorize(s2, doc.URL+"/client.json", redirect, newPKCE(), "")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("error") != "invalid_client" ||
		!strings.Contains(loc.Query().Get("error_description"), "MCP_CLIENT_METADATA_DOCUMENTS=false") || strings.Contains(loc.String(), "dial") {
		t.Errorf("a document on a loopback address, for a loopback client: HTTP %d %s", resp.StatusCode, loc)
	}
	resp, err = noRedirects.Get(authorizeURL(s2, goodAuthorize(s2, doc.URL+"/client.json", "https://app.example/cb", newPKCE(), "")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "not on the public internet") ||
		strings.Contains(string(body), "dial") || strings.Contains(string(body), "refusing") {
		t.Errorf("a document on a loopback address, for another client: HTTP %d %s", resp.StatusCode, body)
	}
}

// Registrations survive a restart (clients cache their ids); loopback
// redirects match on any port; custom schemes and several redirect URIs
// per client work (Cursor registers three).
func TestRegistrationsAndRedirects(t *testing.T) {
	p := portaltest.Start(t, nil)
	dir := t.TempDir()
	key := testkit.NewKey()
	store := map[string]string{"MCP_AUTH_STORE": dir + "/signin.db", "MCP_STATE_KEY": key}
	s := StartSignIn(t, p, store)
	client := register(t, s, "cursor://anysphere.cursor-retrieval/oauth/user-callback", "http://127.0.0.1/callback", "http://localhost:6274/oauth/callback")
	s.srv.Close()
	_ = s.App.Close()

	s = StartSignIn(t, p, store)
	p.ConsentAs(1271)
	for _, redirect := range []string{"http://127.0.0.1:53412/callback", "cursor://anysphere.cursor-retrieval/oauth/user-callback", "http://localhost:6274/oauth/callback"} {
		q, err := testkit.NewBrowser().Authorize(authorizeURL(s, goodAuthorize(s, client, redirect, newPKCE(), "")), redirect)
		if err != nil || q.Get("code") == "" || q.Get("iss") != s.URL {
			t.Errorf("%s after a restart: %v %v", redirect, err, q)
		}
	}
	for _, bad := range []string{"http://127.0.0.1:53412/other", "cursor://anysphere.cursor-retrieval/other", "http://evil.example/callback"} {
		if _, err := testkit.NewBrowser().Authorize(authorizeURL(s, goodAuthorize(s, client, bad, newPKCE(), "")), bad); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
	resp, _ := http.Post(s.URL+"/register", "application/json", strings.NewReader(`{"redirect_uris":["http://evil.example/cb"]}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("registering an http redirect off loopback: HTTP %d, want 400", resp.StatusCode)
	}
}

var _ = tls.VersionTLS12
var _ = context.Background
var _ sdk.Transport

// A Streamable HTTP session belongs to the person who opened it; legacy
// SSE carries each person's token too.
func TestSessionsAndSSE(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, map[string]string{"MCP_MAX_SESSIONS": "4", "MCP_MAX_SESSIONS_PER_PERSON": "2"})
	p.ConsentAs(1271)
	a := signInByHand(t, s, "")
	p.ConsentAs(1269)
	b := signInByHand(t, s, "")

	resp := rpc(t, s, a.access, initialize)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: HTTP %d, session %q", resp.StatusCode, sid)
	}
	list := func(token string) int {
		return send(t, s, http.MethodPost, "/mcp", token, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
			"Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-06-18").StatusCode
	}
	if got := list(b.access); got != http.StatusNotFound {
		t.Errorf("B with A's session: HTTP %d, want 404", got)
	}
	if got := list(a.access); got != http.StatusOK {
		t.Errorf("A with A's session: HTTP %d, want 200", got)
	}
	// One person cannot hold every session: A's tenth ends A's least
	// recently used, and B still gets one.
	for i := range 10 {
		if resp := rpc(t, s, a.access, initialize); resp.StatusCode != http.StatusOK {
			t.Fatalf("A's session %d: HTTP %d", i+2, resp.StatusCode)
		}
	}
	if got := list(a.access); got != http.StatusNotFound {
		t.Errorf("A's first session after ten more: HTTP %d, want 404 (ended)", got)
	}
	if resp := rpc(t, s, b.access, initialize); resp.StatusCode != http.StatusOK {
		t.Errorf("B's initialize after A opened eleven: HTTP %d", resp.StatusCode)
	}

	// A legacy SSE session is A's alone too: B posting to it is told it
	// does not exist, and A's stream carries nothing of B's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+a.access)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("A's SSE stream: %v %v", err, stream)
	}
	defer stream.Body.Close()
	events := bufio.NewScanner(stream.Body)
	endpoint := ""
	for endpoint == "" && events.Scan() {
		endpoint = strings.TrimPrefix(events.Text(), "data: ")
		if endpoint == events.Text() {
			endpoint = ""
		}
	}
	if got := send(t, s, http.MethodPost, endpoint, b.access, initialize).StatusCode; got != http.StatusNotFound {
		t.Errorf("B posting to A's SSE session: HTTP %d, want 404", got)
	}
	if got := send(t, s, http.MethodPost, endpoint, a.access, initialize).StatusCode; got != http.StatusAccepted {
		t.Errorf("A posting to A's SSE session: HTTP %d, want 202", got)
	}
	for events.Scan() {
		if line := events.Text(); strings.HasPrefix(line, "data: ") {
			if !strings.Contains(line, `"id":1`) || !strings.Contains(line, `"result"`) {
				t.Errorf("A's stream: %s", line)
			}
			break
		}
	}
	// A holds two legacy SSE sessions at most: a third ends A's first.
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/sse", nil)
		req.Header.Set("Authorization", "Bearer "+a.access)
		more, err := http.DefaultClient.Do(req)
		if err != nil || more.StatusCode != 200 {
			t.Fatalf("another SSE stream of A's: %v %v", err, more)
		}
		defer more.Body.Close()
	}
	ended := make(chan struct{})
	go func() {
		for events.Scan() {
		}
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Error("A's third SSE stream did not end A's first")
	}
	cancel()

	cs := testkit.ConnectGoSDK(t, &sdk.SSEClientTransport{Endpoint: s.Base + "/sse", HTTPClient: testkit.Bearer(a.access)}, "2024-11-05", nil)
	if res, text := callTool(t, cs, "find_chats", map[string]any{"query": "sales"}); res.IsError || strings.Contains(text, "Sales floor") || !strings.Contains(text, "Sales team") {
		t.Errorf("find_chats over SSE as A: %s", text)
	}
}

// Every tool, as a signed-in person, through the Go SDK: the whole matrix
// cell (schemas, both channels, errors, cancel, 50 concurrent calls,
// removal declined, cancelled and accepted) over Streamable HTTP and legacy
// SSE, the person being the one the fixture's webhook stands for.
func TestEveryToolSignedIn(t *testing.T) {
	for _, c := range []struct{ kind, version string }{{"http", "2025-11-25"}, {"http", "2026-07-28"}, {"sse", "2024-11-05"}} {
		t.Run(c.kind+"/"+c.version, func(t *testing.T) {
			t.Parallel()
			p := portaltest.Start(t, nil)
			s := StartSignIn(t, p, map[string]string{"BITRIX24_RATE_LIMIT": "1000", "BITRIX24_RATE_BURST": "1000"})
			p.ConsentAs(p.Fixture().Webhook.UserID)
			tk := signInByHand(t, s, "")
			var tr sdk.Transport = &sdk.StreamableClientTransport{Endpoint: s.Base + "/mcp", HTTPClient: testkit.Bearer(tk.access), MaxRetries: -1}
			if c.kind == "sse" {
				tr = &sdk.SSEClientTransport{Endpoint: s.Base + "/sse", HTTPClient: testkit.Bearer(tk.access)}
			}
			asker := &testkit.Asker{}
			cs := testkit.ConnectGoSDK(t, tr, c.version, asker.ClientOptions())
			t.Logf("%d checks", testkit.GoSDKCell(t, cs, asker, p, c.version, true))
		})
	}
}
