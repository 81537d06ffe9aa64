package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

func request(t *testing.T, method, url string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if host := header["Host"]; host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

// A web page must not drive a token-less loopback server: Origin is checked
// on every endpoint, POSTs must be JSON, and no wildcard CORS is sent.
func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"MCP_AUTH_TOKEN": "", "MCP_ALLOWED_ORIGINS": "https://app.example.com"})
	evil := map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	refused := 0
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		body         string
		status       int
	}{
		{"POST", "/mcp", evil, initializeBody, 403},
		{"GET", "/sse", evil, "", 403},
		{"POST", "/message?sessionId=x", evil, initializeBody, 403},
		{"OPTIONS", "/mcp", evil, "", 403},
		{"GET", "/healthz", evil, "", 403},
		{"POST", "/message?sessionId=x", map[string]string{"Content-Type": "text/plain"}, initializeBody, 415},
		{"POST", "/mcp", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json, text/event-stream"}, initializeBody, 415},
		// A no-cors GET or an iframe carries no Origin, but says where it comes from.
		{"GET", "/sse", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, "", 403},
		{"GET", "/sse", map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"}, "", 403},
		{"GET", "/mcp", map[string]string{"Sec-Fetch-Site": "cross-site", "Accept": "text/event-stream"}, "", 403},
		// A DNS-rebinding page names its own host, on every endpoint.
		{"GET", "/healthz", map[string]string{"Host": "evil.example"}, "", 403},
		{"POST", "/mcp", map[string]string{"Host": "evil.example", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}, initializeBody, 403},
	} {
		resp := request(t, tc.method, ns.url+tc.path, tc.header, tc.body)
		if resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s %s: status %d (want %d), Access-Control-Allow-Origin %q", tc.method, tc.path, resp.StatusCode, tc.status, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		refused++
	}
	t.Logf("%d cross-origin or non-JSON attempts refused", refused)
	if p.Stats().Requests != 0 {
		t.Fatal("a refused request reached the portal")
	}

	// The allowed origin is answered by name, preflight included.
	good := map[string]string{"Origin": "https://app.example.com", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	resp := request(t, "OPTIONS", ns.url+"/mcp", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}, "")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp = request(t, "POST", ns.url+"/mcp", good, initializeBody)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	// The server's own origin passes (the conformance suite's DNS-rebinding check sends it).
	own := map[string]string{"Origin": ns.url, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	if resp := request(t, "POST", ns.url+"/mcp", own, initializeBody); resp.StatusCode != 200 {
		t.Fatalf("own origin: %d", resp.StatusCode)
	}
	// No Origin (a desktop client): served, and the SSE stream carries no wildcard.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ns.url+"/sse", nil)
	sse, err := http.DefaultClient.Do(req)
	if err != nil || sse.StatusCode != 200 || sse.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("sse without Origin: %v %v", err, sse)
	}
	sse.Body.Close()
	// The user typing the address, or the server's own page: served.
	for _, site := range []string{"none", "same-origin"} {
		if resp := request(t, "GET", ns.url+"/healthz", map[string]string{"Sec-Fetch-Site": site}, ""); resp.StatusCode != 200 {
			t.Fatalf("Sec-Fetch-Site %s: %d", site, resp.StatusCode)
		}
	}
	// The bearer scheme is case-insensitive.
	ns2 := startNetwork(t, p, nil)
	for _, auth := range []string{"Bearer " + testToken, "bearer " + testToken, "BEARER " + testToken} {
		resp := request(t, "POST", ns2.url+"/mcp", map[string]string{"Authorization": auth, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}, initializeBody)
		if resp.StatusCode != 200 {
			t.Fatalf("%q: %d", auth, resp.StatusCode)
		}
	}
}

// serveForReal serves a network handler the way serveNetwork does: the
// connection cap and the read deadlines, on loopback.
func serveForReal(t *testing.T, ns *netServer, maxConns int, readTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(ns.net.handler, readTimeout)
	go srv.Serve(newCapListener(ln, maxConns))
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// Connections that send headers and then nothing are cut off at the read
// deadline.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	base := serveForReal(t, ns, 20, 500*time.Millisecond)
	addr := strings.TrimPrefix(base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", addr, testToken)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if waited := time.Since(start); !strings.Contains(line, "408") || waited > 2*time.Second {
		t.Fatalf("a slow body after %s: %q", waited, line)
	}
}

// Streamable HTTP sessions end at DELETE, and at most MCP_MAX_SESSIONS live.
func TestSessionsAreCapped(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"MCP_MAX_SESSIONS": "3"})
	h := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	var ids []string
	for i := 0; i < 3; i++ {
		resp := request(t, "POST", ns.url+"/mcp", h, initializeBody)
		if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" {
			t.Fatalf("session %d: %d", i, resp.StatusCode)
		}
		ids = append(ids, resp.Header.Get("Mcp-Session-Id"))
	}
	// An initialize that names a session opens a new one all the same.
	withID := map[string]string{"Mcp-Session-Id": ids[0]}
	for k, v := range h {
		withID[k] = v
	}
	for _, hdr := range []map[string]string{h, withID} {
		resp := request(t, "POST", ns.url+"/mcp", hdr, initializeBody)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 503 || !strings.Contains(string(body), "MCP_MAX_SESSIONS") || !strings.Contains(string(body), `"id":1`) {
			t.Fatalf("past the cap: %d %s", resp.StatusCode, body)
		}
	}
	del := map[string]string{"Authorization": "Bearer " + testToken, "Mcp-Session-Id": ids[0], "Mcp-Protocol-Version": "2025-11-25"}
	if resp := request(t, "DELETE", ns.url+"/mcp", del, ""); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if resp := request(t, "DELETE", ns.url+"/mcp", del, ""); resp.StatusCode != 404 {
		t.Fatalf("DELETE of an ended session: %d", resp.StatusCode)
	}
	if resp := request(t, "POST", ns.url+"/mcp", h, initializeBody); resp.StatusCode != 200 {
		t.Fatalf("after DELETE a new session fits: %d", resp.StatusCode)
	}
}

// A session exists only from a successful initialize: a GET, POST or
// DELETE naming an unknown session gets 404, a GET without one 400, a
// failed initialize leaves nothing, and none of them counts against
// MCP_MAX_SESSIONS.
func TestSessionsOnlyFromInitialize(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"MCP_MAX_SESSIONS": "2"})
	bearer := map[string]string{"Authorization": "Bearer " + testToken, "Mcp-Protocol-Version": "2025-11-25", "Accept": "text/event-stream"}
	with := func(extra ...string) map[string]string {
		h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
		for k, v := range bearer {
			h[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	unknown := "mcp-session-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	for _, tc := range []struct {
		method string
		header map[string]string
		body   string
		status int
	}{
		{"GET", bearer, "", 400},
		{"GET", with("Mcp-Session-Id", unknown), "", 404},
		{"DELETE", with("Mcp-Session-Id", unknown), "", 404},
		{"POST", with("Mcp-Session-Id", unknown), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, 404},
		{"POST", with(), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, 400},
	} {
		for i := 0; i < 50; i++ {
			if resp := request(t, tc.method, ns.url+"/mcp", tc.header, tc.body); resp.StatusCode != tc.status {
				t.Fatalf("%s with %v: %d, want %d", tc.method, tc.header["Mcp-Session-Id"], resp.StatusCode, tc.status)
			}
		}
	}
	// Initializes that fail leave no session behind.
	for i := 0; i < 50; i++ {
		resp := request(t, "POST", ns.url+"/mcp", with(), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":"not an object"}`)
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `"error"`) {
			t.Fatalf("a malformed initialize: %d %s", resp.StatusCode, body)
		}
	}
	if n := ns.net.sessions.count(); n != 0 {
		t.Fatalf("%d sessions after 300 requests and no successful initialize", n)
	}
	// Both sessions still fit; a GET stream ends with its session.
	resp := request(t, "POST", ns.url+"/mcp", with(), initializeBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	if resp := request(t, "POST", ns.url+"/mcp", with(), initializeBody); resp.StatusCode != 200 {
		t.Fatalf("the second session: %d", resp.StatusCode)
	}
	stream := request(t, "GET", ns.url+"/mcp", with("Mcp-Session-Id", sid), "")
	if stream.StatusCode != 200 {
		t.Fatalf("GET stream of a live session: %d", stream.StatusCode)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, stream.Body); ended <- err }()
	if resp := request(t, "DELETE", ns.url+"/mcp", with("Mcp-Session-Id", sid), ""); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the GET stream outlived its session")
	}
}

// Sessions idle past the TTL end; a signed-in person holds at most their
// share, a new one ending their least recently used, and never touches
// another person's.
func TestSessionStore(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newSessionStore(4, 2, time.Minute)
	m.now = func() time.Time { return now }
	open := func(person int) string {
		t.Helper()
		sid, _, err := m.reserve(person)
		if err != nil {
			t.Fatal(err)
		}
		m.confirm(sid)
		now = now.Add(time.Second)
		return sid
	}
	a1, a2, b1 := open(1), open(1), open(2)
	if !m.use(a1, 1) || m.use(a1, 2) || m.use(b1, 1) {
		t.Fatal("a session is its owner's alone")
	}
	// A third for person 1 ends a2, now their least recently used.
	sid, ended, err := m.reserve(1)
	if err != nil || len(ended) != 1 || ended[0] != a2 {
		t.Fatalf("person 1's third session ended %v (%v), want [%s]", ended, err, a2)
	}
	m.confirm(sid)
	if m.use(a2, 1) || !m.use(b1, 2) || m.count() != 3 {
		t.Fatalf("after the eviction: %d sessions", m.count())
	}
	open(3)
	if _, _, err := m.reserve(4); err == nil {
		t.Fatal("past MCP_MAX_SESSIONS")
	}
	// Idle past the TTL: they end, and there is room again.
	now = now.Add(2 * time.Minute)
	if m.use(b1, 2) {
		t.Fatal("an idle session must expire")
	}
	open(4)
	if _, ended, err := m.reserve(5); err != nil || len(ended) != 3 {
		t.Fatalf("at the cap after the TTL: %v, ended %d, want the 3 idle", err, len(ended))
	}
}

// sseClient is a raw legacy SSE session: every event the stream carries,
// by JSON-RPC id, and a way to POST messages to it.
type sseClient struct {
	t      *testing.T
	ns     *netServer
	post   string // the message endpoint
	mu     sync.Mutex
	events map[string]map[string]any // id -> the answer
	cancel context.CancelFunc
}

func openSSE(t *testing.T, ns *netServer) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", ns.url+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{t: t, ns: ns, events: map[string]map[string]any{}, cancel: cancel}
	sc := bufio.NewScanner(stream.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if after, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			c.post = after
			break
		}
	}
	go func() {
		defer stream.Body.Close()
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(data), &m) == nil && m["id"] != nil {
				c.mu.Lock()
				c.events[fmt.Sprint(m["id"])] = m
				c.mu.Unlock()
			}
		}
	}()
	c.send(initializeBody)
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

// send POSTs a message; the legacy transport acknowledges every one with 202.
func (c *sseClient) send(body string) {
	c.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}
	if resp := request(c.t, "POST", c.ns.url+c.post, h, body); resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("POST answered %d, want 202", resp.StatusCode)
	}
}

// answer waits for the stream's answer to id.
func (c *sseClient) answer(id string, within time.Duration) map[string]any {
	c.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c.mu.Lock()
		m := c.events[id]
		c.mu.Unlock()
		if m != nil {
			return m
		}
	}
	c.t.Fatalf("no answer to %s on the stream", id)
	return nil
}

func toolCall(id int, dialog string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"%s"}}}`, id, dialog)
}

// A legacy SSE session may run only so many calls, and queue so many more;
// the rest are refused on the stream, each with a JSON-RPC error for its id
// (a client that sees a failed POST drops the whole transport), and when the
// stream closes its calls stop calling Bitrix24.
func TestSSEBackpressure(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	// Slow enough that no call finishes (and frees its slot) while the 100
	// POSTs go out, even on a loaded machine.
	p.SetLatency(3 * time.Second)
	ns := startNetwork(t, p, map[string]string{"BITRIX24_RATE_LIMIT": "2", "BITRIX24_RATE_BURST": "5"})
	c := openSSE(t, ns)
	const posts, admitted = 200, maxCallsPerSSESession + maxQueuedPerSSESession
	for i := 0; i < posts; i++ {
		c.send(toolCall(100+i, fmt.Sprint(200000+i)))
	}
	refused := 0
	for i := 0; i < posts; i++ {
		c.mu.Lock()
		m := c.events[fmt.Sprint(100+i)]
		c.mu.Unlock()
		if m == nil {
			continue
		}
		e, _ := m["error"].(map[string]any)
		if e == nil || !strings.Contains(fmt.Sprint(e["message"]), fmt.Sprintf("already has %d tool calls running", maxCallsPerSSESession)) {
			t.Fatalf("an early answer that is no refusal: %v", m)
		}
		refused++
	}
	// The refusals are queued at once; wait for any still on their way.
	for deadline := time.Now().Add(2 * time.Second); refused < posts-admitted && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c.mu.Lock()
		refused = 0
		for _, m := range c.events {
			if m["error"] != nil {
				refused++
			}
		}
		c.mu.Unlock()
	}
	if refused != posts-admitted {
		t.Fatalf("refused %d of %d, want %d", refused, posts, posts-admitted)
	}
	// The client leaves: its calls stop.
	time.Sleep(300 * time.Millisecond)
	c.cancel()
	time.Sleep(300 * time.Millisecond)
	after := p.Stats().Requests
	time.Sleep(1500 * time.Millisecond)
	if n := p.Stats().Requests - after; n > 1 {
		t.Fatalf("%d requests reached the portal after the client left", n)
	}
}

// Messages that never reach a tool (a tools/call without an id, or with the
// wrong "jsonrpc") hold no slot: after 40 of them a valid call is served.
func TestSSEMessagesThatReachNoToolHoldNoSlot(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	c := openSSE(t, ns)
	for i := 0; i < 20; i++ {
		c.send(`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"chat2935"}}}`)
		c.send(fmt.Sprintf(`{"jsonrpc":"1.0","id":%d,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"chat2935"}}}`, 500+i))
	}
	c.send(toolCall(999, "chat2935"))
	m := c.answer("999", 10*time.Second)
	if m["result"] == nil {
		t.Fatalf("the valid call after 40 that reached no tool: %v", m)
	}
	calls := c.ns.net.calls
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if s := calls.sse[c.post[strings.Index(c.post, "sessionId=")+len("sessionId="):]]; s == nil || s.running != 0 {
		t.Fatalf("the session's slots: %+v", s)
	}
}

// On SIGTERM, a legacy SSE call whose POST was answered 202 still finishes
// and its result is delivered.
func TestSSECallsDrainOnShutdown(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	p.SetLatency(600 * time.Millisecond)
	ns := startNetwork(t, p, nil)
	c := connect(t, ns, "sse", mcp.ProtocolVersion20251125, testToken)
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		done <- testkit.Call(t, c, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019}})
	}()
	time.Sleep(300 * time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ns.net.shutdown(&http.Server{Handler: ns.net.handler}) }()
	select {
	case res := <-done:
		if res.IsError || !strings.Contains(testkit.Text(res), "added: 1019") {
			t.Fatalf("the call in flight: %s", testkit.Text(res))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the SSE call's result was never delivered")
	}
	wg.Wait()
}

// Notices a client may send that the server did not expect (unknown ones, a
// cancel for an unknown id or after the answer) are acknowledged and
// ignored on every HTTP transport, and the session goes on.
func TestUnexpectedNoticesKeepTheSession(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	notices := []string{
		`{"jsonrpc":"2.0","method":"notifications/no_such_thing","params":{}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":987654,"reason":"x"}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
	}
	// Streamable HTTP with a session (2025-11-25), and 2026-07-28 requests.
	h := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	resp := request(t, "POST", ns.url+"/mcp", h, initializeBody)
	h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = resp.Header.Get("Mcp-Session-Id"), "2025-11-25"
	request(t, "POST", ns.url+"/mcp", h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	modern := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2026-07-28"}
	for _, hdr := range []map[string]string{h, modern} {
		for _, n := range notices {
			if resp := request(t, "POST", ns.url+"/mcp", hdr, n); resp.StatusCode != http.StatusAccepted {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s at %s: %d %s", n, hdr["Mcp-Protocol-Version"], resp.StatusCode, body)
			}
		}
	}
	// A GET stream the client opens and never reads does not hold its calls up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	get, _ := http.NewRequestWithContext(ctx, "GET", ns.url+"/mcp", nil)
	for k, v := range map[string]string{"Authorization": "Bearer " + testToken, "Accept": "text/event-stream", "Mcp-Session-Id": h["Mcp-Session-Id"], "Mcp-Protocol-Version": "2025-11-25"} {
		get.Header.Set(k, v)
	}
	if stream, err := http.DefaultClient.Do(get); err == nil {
		defer stream.Body.Close() // never read
	}
	resp = request(t, "POST", ns.url+"/mcp", h, toolCall(5, "chat2935"))
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(body), "Alexander Smith") {
		t.Fatalf("the session after the notices: %d %s", resp.StatusCode, body)
	}
	// An early DELETE ends the session; the next call is told so, and a new
	// session works.
	del := map[string]string{"Authorization": "Bearer " + testToken, "Mcp-Session-Id": h["Mcp-Session-Id"], "Mcp-Protocol-Version": "2025-11-25"}
	request(t, "DELETE", ns.url+"/mcp", del, "")
	if resp := request(t, "POST", ns.url+"/mcp", h, toolCall(6, "chat2935")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a call after DELETE: %d", resp.StatusCode)
	}
	// Legacy SSE.
	c := openSSE(t, ns)
	for _, n := range notices {
		c.send(n)
	}
	c.send(toolCall(6, "chat2935"))
	if m := c.answer("6", 5*time.Second); m["result"] == nil {
		t.Fatalf("the SSE session after the notices: %v", m)
	}
}

// /healthz is liveness, /readyz readiness: with Redis stopped, /readyz says
// 503 within 2 s and /healthz stays 200; with Redis back, /readyz says 200
// within 2 s. Neither needs the token.
func TestReadinessFollowsTheStateStore(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"BITRIX24_STATE_URL": redis.URL})
	status := func(path string) int {
		resp, err := http.Get(ns.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	within := func(d time.Duration, path string, want int) time.Duration {
		t.Helper()
		began := time.Now()
		for time.Since(began) < d {
			if status(path) == want {
				return time.Since(began)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s did not answer %d within %s", path, want, d)
		return 0
	}
	within(2*time.Second, "/readyz", 200)
	redis.Stop()
	down := within(2*time.Second, "/readyz", 503)
	if status("/healthz") != 200 {
		t.Fatal("/healthz must stay 200 while the store is away: the process serves")
	}
	redis.Start()
	up := within(2*time.Second, "/readyz", 200)
	t.Logf("/readyz: 503 %s after Redis stopped, 200 %s after it came back; /healthz 200 throughout", down.Round(time.Millisecond), up.Round(time.Millisecond))
}

// /readyz probes a portal that has not answered lately, and says 503 while
// it cannot be reached.
func TestReadinessProbesThePortal(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	if resp := request(t, "GET", ns.url+"/readyz", nil, ""); resp.StatusCode != 200 || p.Stats().Requests != 1 {
		t.Fatalf("ready: %d after %d portal requests", resp.StatusCode, p.Stats().Requests)
	}
	// A fresh answer spares the next probe.
	if resp := request(t, "GET", ns.url+"/readyz", nil, ""); resp.StatusCode != 200 || p.Stats().Requests != 1 {
		t.Fatalf("ready again: %d after %d portal requests", resp.StatusCode, p.Stats().Requests)
	}
	gone := startNetwork(t, p, map[string]string{"BITRIX24_WEBHOOK_URL": "http://127.0.0.1:1/rest/1/abcdefgh/"})
	resp := request(t, "GET", gone.url+"/readyz", nil, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "portal unreachable") || strings.Contains(string(body), "abcdefgh") {
		t.Fatalf("unreachable portal: %d %s", resp.StatusCode, body)
	}
}

// A client that meets the 401 without a token and tries to sign in (it
// registers at /register, as Claude Code does) is told what to send.
func TestTokenServerSaysWhatToSend(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	resp := request(t, "POST", ns.url+"/register", map[string]string{"Content-Type": "application/json"}, `{"redirect_uris":["http://localhost:1/cb"]}`)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "MCP_AUTH_TOKEN") || !strings.Contains(string(body), "Authorization header") {
		t.Errorf("/register on a token server: %d %s", resp.StatusCode, body)
	}
	open := startNetwork(t, p, map[string]string{"MCP_AUTH_TOKEN": ""})
	if resp := request(t, "POST", open.url+"/register", map[string]string{"Content-Type": "application/json"}, `{}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/register on a server without a token: %d", resp.StatusCode)
	}
}
