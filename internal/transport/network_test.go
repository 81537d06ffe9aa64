package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

const testToken = "test-bearer-token-0123456789"

type netServer struct {
	url    string
	net    *HTTP
	http   *httptest.Server
	portal *fakeportal.Portal
	logs   *testkit.LockedBuffer
	client *bitrix.Client
}

// startNetwork serves the network transports in-process over loopback,
// configured exactly as the binary would be from this environment.
func startNetwork(t *testing.T, p *fakeportal.Portal, env map[string]string, args ...string) *netServer {
	t.Helper()
	base := map[string]string{"MCP_AUTH_TOKEN": testToken, "BITRIX24_RATE_LIMIT": "1000", "BITRIX24_RATE_BURST": "1000", "LOG_LEVEL": "debug"}
	if env["BITRIX24_CLIENT_ENDPOINT"] == "" {
		base = testkit.PortalEnv(p, base)
	}
	for k, v := range env {
		base[k] = v
	}
	cfg := testkit.Config(t, base, append([]string{"--transport", "http"}, args...)...)
	logs := &testkit.LockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := testkit.Assemble(t, cfg, app.Options{Logger: logger, Metrics: telemetry.ForServer("test")})
	n := NewHTTP(a, logger)
	srv := httptest.NewServer(n)
	t.Cleanup(srv.Close)
	return &netServer{url: srv.URL, net: n, http: srv, portal: p, logs: logs, client: a.Client}
}

func connect(t *testing.T, ns *netServer, kind, protocol string, token string) *client.Client {
	t.Helper()
	headers := map[string]string{}
	if token != "" {
		headers["Authorization"] = "Bearer " + token
	}
	var c *client.Client
	var err error
	var opts []client.ClientOption
	if protocol != "" {
		opts = append(opts, client.WithProtocolVersion(protocol))
	}
	switch kind {
	case "http":
		var tr *transport.StreamableHTTP
		tr, err = transport.NewStreamableHTTP(ns.url+"/mcp", transport.WithHTTPHeaders(headers))
		if err == nil {
			c = client.NewClient(tr, opts...)
		}
	case "sse":
		var tr *transport.SSE
		tr, err = transport.NewSSE(ns.url+"/sse", transport.WithHeaders(headers))
		if err == nil {
			c = client.NewClient(tr, opts...)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// Start's context lives as long as the SSE stream: not a timeout's.
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	testkit.Initialize(t, c, protocol)
	t.Cleanup(func() { c.Close() })
	return c
}

func callWith(t *testing.T, c *client.Client) func(string, map[string]any) *mcp.CallToolResult {
	return func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		return testkit.Call(t, c, name, args)
	}
}

func TestNetworkTransportsRunTheTools(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ kind, protocol string }{
		{"http", mcp.ProtocolVersion20251125}, {"http", ""}, {"sse", mcp.ProtocolVersion20251125},
	} {
		t.Run(tc.kind+"/"+tc.protocol, func(t *testing.T) {
			p := portaltest.Start(t, nil)
			ns := startNetwork(t, p, nil)
			c := connect(t, ns, tc.kind, tc.protocol, testToken)
			testkit.ExerciseTools(t, callWith(t, c), p)
			portaltest.AssertNoSecret(t, p, "the log", ns.logs.String())
		})
	}
}

func TestStatelessHTTP(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil, "--stateless")
	c := connect(t, ns, "http", mcp.ProtocolVersion20251125, testToken)
	testkit.ExerciseTools(t, callWith(t, c), p)
	// Stateless means a request needs no session: a bare tools/call works.
	resp := request(t, "POST", ns.url+"/mcp", map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json",
		"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"},
		`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_chat","arguments":{"dialog_id":"chat2935"}}}`)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Sales team") {
		t.Fatalf("a sessionless call: %d %s", resp.StatusCode, body)
	}
}

func TestNetworkRefusals(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	post := func(path, auth, host string, body io.Reader) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, ns.url+path, body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	p.ResetStats()
	for _, tc := range []struct {
		name, path, auth, host string
		body                   io.Reader
		status                 int
	}{
		{"no token", "/mcp", "", "", strings.NewReader(body), 401},
		{"wrong token", "/mcp", "Bearer nope", "", strings.NewReader(body), 401},
		{"basic auth", "/mcp", "Basic " + testToken, "", strings.NewReader(body), 401},
		{"sse without token", "/message?sessionId=x", "", "", strings.NewReader(body), 401},
		{"oversized body", "/mcp", "Bearer " + testToken, "", strings.NewReader(`{"x":"` + strings.Repeat("a", 2<<20) + `"}`), 413},
		{"dns rebinding", "/mcp", "Bearer " + testToken, "evil.example:80", strings.NewReader(body), 403},
		{"good", "/mcp", "Bearer " + testToken, "", strings.NewReader(body), 200},
	} {
		resp := post(tc.path, tc.auth, tc.host, tc.body)
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: no WWW-Authenticate header", tc.name)
		}
	}
	// A chunked body has no Content-Length: the limit still holds.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"`))
		for i := 0; i < 3<<10; i++ {
			pw.Write([]byte(strings.Repeat("a", 1024)))
		}
		pw.Write([]byte(`"}}`))
		pw.Close()
	}()
	if resp := post("/mcp", "Bearer "+testToken, "", pr); resp.StatusCode < 400 {
		t.Fatalf("chunked oversized body: status %d", resp.StatusCode)
	}
	resp, err := http.Get(ns.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz without auth: %v %v", err, resp)
	}
	if p.Stats().Requests != 0 {
		t.Fatal("a refused request reached the portal")
	}
}

func TestNonLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"http", "sse"} {
		cfg := testkit.Config(t, map[string]string{"BITRIX24_WEBHOOK_URL": "https://p.example/rest/1/abcd/"}, "--transport", transport, "--addr", "0.0.0.0:0")
		a := testkit.Assemble(t, cfg, app.Options{})
		err := ListenAndServe(context.Background(), a, slog.New(slog.DiscardHandler))
		var ue *app.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "MCP_AUTH_TOKEN") {
			t.Fatalf("%s: %v", transport, err)
		}
	}
	if IsLoopback("0.0.0.0:8080") || IsLoopback("[::]:1") || !IsLoopback("127.0.0.1:8080") || !IsLoopback("localhost:1") || !IsLoopback("[::1]:80") {
		t.Fatal("IsLoopback")
	}
}

// Graceful shutdown: SIGTERM while a call is in flight lets it finish, the
// process exits 0, and no new work is accepted meanwhile.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	p.SetLatency(800 * time.Millisecond)
	ns := startNetwork(t, p, nil)
	c := connect(t, ns, "http", mcp.ProtocolVersion20251125, testToken)
	done := make(chan *mcp.CallToolResult, 1)
	go func() { done <- callWith(t, c)("get_bot_chat", map[string]any{"dialog_id": "chat5"}) }()
	time.Sleep(300 * time.Millisecond)

	srv := &http.Server{Handler: ns.net.handler}
	shut := make(chan error, 1)
	go func() { shut <- ns.net.shutdown(srv) }()
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Get(ns.url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("while draining, healthz should say 503: %v %v", err, resp)
	}
	res := <-done
	if res.IsError {
		t.Fatalf("the call in flight failed: %s", testkit.Text(res))
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}

}

func TestProgressAndCancellation(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	c := connect(t, ns, "http", mcp.ProtocolVersion20251125, testToken)
	var mu sync.Mutex
	var progress []float64
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			progress = append(progress, n.Params.AdditionalFields["progress"].(float64))
			mu.Unlock()
		}
	})
	req := mcp.CallToolRequest{}
	req.Params.Name = "list_dialog_users"
	req.Params.Arguments = map[string]any{"dialog_id": "chat9002", "all": true, "max_users": 10000}
	req.Params.Meta = &mcp.Meta{ProgressToken: "p1"}
	res, err := c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatalf("%v %v", err, res)
	}
	mu.Lock()
	got := append([]float64(nil), progress...)
	mu.Unlock()
	if len(got) < 2 || got[0] != 200 || got[len(got)-1] != 4952 {
		t.Fatalf("progress notifications: %v", got)
	}

	// Cancellation: a slow portal, a listing cancelled after its first request began.
	p.SetLatency(500 * time.Millisecond)
	p.ResetStats()
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	go func() { time.Sleep(150 * time.Millisecond); cancel() }()
	req.Params.Meta = nil
	_, err = c.CallTool(ctx, req)
	if err == nil || time.Since(start) > 450*time.Millisecond {
		t.Fatalf("cancelled call: err=%v after %s", err, time.Since(start))
	}
	time.Sleep(1200 * time.Millisecond) // would be time for two more pages
	if st := p.Stats(); st.Requests > 0 {
		t.Fatalf("pagination went on after cancellation: %d requests answered", st.Requests)
	}
}

// logging/setLevel is honoured, and rate-limit waits reach the client as warnings.
func TestRateLimitWaitsAreLogged(t *testing.T) {
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"BITRIX24_RATE_LIMIT": "2", "BITRIX24_RATE_BURST": "1"})
	c := connect(t, ns, "http", mcp.ProtocolVersion20251125, testToken)
	var warnings atomic.Int64
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/message" && n.Params.AdditionalFields["level"] == "warning" {
			warnings.Add(1)
		}
	})
	burst := func() {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); callWith(t, c)("get_bot_chat", map[string]any{"dialog_id": "chat5"}) }()
		}
		wg.Wait()
	}
	// Logging is deprecated at 2026-07-28, but clients of earlier revisions
	// still set a level, and the server honours it.
	//lint:ignore SA1019 clients before 2026-07-28 still send logging/setLevel
	if err := c.SetLevel(context.Background(), mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelError}}); err != nil {
		t.Fatal(err)
	}
	burst()
	if warnings.Load() != 0 {
		t.Fatalf("level error still got %d warnings", warnings.Load())
	}
	//lint:ignore SA1019 clients before 2026-07-28 still send logging/setLevel
	if err := c.SetLevel(context.Background(), mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelWarning}}); err != nil {
		t.Fatal(err)
	}
	burst()
	time.Sleep(100 * time.Millisecond)
	if warnings.Load() == 0 {
		t.Fatal("no rate-limit warning reached the client")
	}
}

// OAuth through the server: expiry under concurrent calls means one
// refresh, the rotated pair lands in the token file, and a restart with
// the same environment works from the file.
func TestOAuthEndToEnd(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	tokenFile := filepath.Join(t.TempDir(), "tokens.json")
	env := map[string]string{
		"BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f.OAuth.ClientID,
		"BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret, "BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(),
		"BITRIX24_TOKEN_FILE": tokenFile, "BITRIX24_BOT_ID": "456",
	}
	ns := startNetwork(t, p, env)
	c := connect(t, ns, "http", mcp.ProtocolVersion20251125, testToken)
	call := callWith(t, c)
	testkit.AsMap(t, call("get_bot_chat", map[string]any{"dialog_id": "chat5"}))
	p.ExpireToken()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name, args := "list_dialog_users", map[string]any{"dialog_id": "chat2935"}
			if i%2 == 1 {
				name, args = "bot_chat_members", map[string]any{"chat_id": 2725}
			}
			if res := call(name, args); res.IsError {
				failed.Add(1)
				t.Log(testkit.Text(res))
			}
		}(i)
	}
	wg.Wait()
	if st := p.Stats(); failed.Load() != 0 || st.Refreshes != 1 {
		t.Fatalf("failed=%d refreshes=%d", failed.Load(), st.Refreshes)
	}
	raw, err := os.ReadFile(tokenFile)
	access, _ := p.Tokens()
	if err != nil || !strings.Contains(string(raw), access) {
		t.Fatalf("token file: %v", err)
	}
	var saved map[string]any
	if json.Unmarshal(raw, &saved) != nil || saved["refresh_token"] == f.OAuth.RefreshToken {
		t.Fatal("token file does not hold the rotated refresh token")
	}
	portaltest.AssertNoSecret(t, p, "the log", ns.logs.String())
	if strings.Contains(ns.logs.String(), access) {
		t.Fatal("the new access token leaked into the log")
	}

	// Restart with the same environment: the configured pair is dead now.
	ns2 := startNetwork(t, p, env)
	c2 := connect(t, ns2, "http", mcp.ProtocolVersion20251125, testToken)
	testkit.AsMap(t, callWith(t, c2)("get_bot_chat", map[string]any{"dialog_id": "chat5"}))
	if st := p.Stats(); st.Refreshes != 1 {
		t.Fatalf("restart refreshed again (%d): it did not use the token file", st.Refreshes)
	}
}
