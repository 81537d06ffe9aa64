package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

// dialFrom connects to addr from another loopback address, as another
// machine would.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot connect from %s on this machine: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// One source holding idle, partial and slow-body connections far past
// MCP_MAX_CONNECTIONS does not shut others out: each new connection takes
// the place of the stalest one not being served, of the source holding the
// most, so another client's initialize and /healthz are answered at once
// and no more than the cap are ever open.
func TestOneSourceCannotHoldEveryConnection(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"LOG_LEVEL": "warn"})
	const max, held = 20, 300
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := newCapListener(ln, max)
	srv := newHTTPServer(ns.net.handler, 30*time.Second)
	go srv.Serve(capped)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	for i := range held {
		c := dialFrom(t, "127.0.0.2", addr)
		switch i % 3 {
		case 0: // idle: nothing sent
		case 1: // half a header
			fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthor", addr)
		case 2: // a slow body
			fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr, testToken)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := capped.count(); n > max {
		t.Fatalf("%d connections open, cap %d", n, max)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	for _, path := range []string{"/healthz", "/mcp"} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if path == "/mcp" {
			req, _ = http.NewRequest("POST", "http://"+addr+path, strings.NewReader(initializeBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s while one source holds %d connections: %v", path, held, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s while one source holds %d connections: HTTP %d", path, held, resp.StatusCode)
		}
	}
	t.Logf("one source opened %d idle, partial and slow-body connections (cap %d): another client's /healthz and initialize answered in %s", held, max, time.Since(start).Round(time.Millisecond))
}

// When every connection is being served (streams held open), a new one is
// answered 503 at once rather than one of them cut.
func TestServedConnectionsAreNotCut(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	const max = 4
	base := serveForReal(t, ns, max, 30*time.Second)
	addr := strings.TrimPrefix(base, "http://")
	var streams []net.Conn
	for range max {
		c := dialFrom(t, "127.0.0.1", addr)
		fmt.Fprintf(c, "GET /sse HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, testToken)
		if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(line, "200") {
			t.Fatalf("stream: %q", line)
		}
		streams = append(streams, c)
	}
	c := dialFrom(t, "127.0.0.2", addr)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(line, "503") {
		t.Fatalf("a new connection while every one is served: %q", line)
	}
	// Each stream is still open: reading waits rather than meeting its end.
	for _, c := range streams {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("a served stream was cut: %v", err)
		}
	}
}
