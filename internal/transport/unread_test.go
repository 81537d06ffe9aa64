//go:build unix

package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

// smallBuffers keeps the kernel's socket buffers small on the server's
// side, so that a client that stops reading is felt after a few events
// rather than after megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// dialSmall connects with a small receive window, as a client that reads
// slowly would have.
func dialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A client that posts to its legacy SSE session and never reads the stream
// holds a bounded number of answers: past maxUnansweredPerSSESession its
// POSTs are refused at once (429), so goroutines and memory stay bounded;
// once the stream has taken nothing for the write timeout, the session is
// closed and everything waiting on it is let go. Another client is served
// meanwhile.
func TestSSEUnreadStreamIsBounded(t *testing.T) {
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, map[string]string{"LOG_LEVEL": "warn"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(ns.net.handler, 30*time.Second)
	go srv.Serve(newCapListener(smallBuffers{ln}, 64))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	base := "http://" + addr

	// openUnread opens a legacy SSE session whose stream is never read
	// past its endpoint event, and returns a way to POST to it.
	openUnread := func() func(body string) int {
		stream := dialSmall(t, addr)
		fmt.Fprintf(stream, "GET /sse HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", addr, testToken)
		br := bufio.NewReader(stream)
		endpoint := ""
		for endpoint == "" {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if after, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				endpoint = after
			}
		}
		post := func(body string) int {
			req, _ := http.NewRequest("POST", base+endpoint, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		post(initializeBody)
		post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		return post
	}
	listTools := func(i int) string { return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, 10+i) }

	post := openUnread()
	before := runtime.NumGoroutine()
	const posts = 2000
	accepted, refused := 0, 0
	for i := range posts {
		switch code := post(listTools(i)); code {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("POST %d answered %d", i, code)
		}
	}
	grown := runtime.NumGoroutine() - before
	t.Logf("%d POSTs to an unread stream: %d accepted, %d refused at once; goroutines grew by %d", posts, accepted, refused, grown)
	if refused == 0 || accepted > posts/2 {
		t.Fatalf("an unread stream took %d of %d POSTs", accepted, posts)
	}
	if grown > maxUnansweredPerSSESession+100 {
		t.Fatalf("goroutines grew by %d for one unread stream", grown)
	}

	// Another client is served at once.
	start := time.Now()
	other := request(t, "POST", base+"/mcp", map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}, initializeBody)
	if other.StatusCode != 200 || time.Since(start) > 2*time.Second {
		t.Fatalf("another client's initialize: %d after %s", other.StatusCode, time.Since(start))
	}

	// Tool calls on an unread stream: a call's slot is free only once its
	// answer has left, so no more than a slotful (and what the socket
	// buffers took) ever run.
	calls := openUnread()
	ran := p.Stats().Requests
	for i := range 300 {
		calls(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"chat2935"}}}`, 10+i))
	}
	time.Sleep(500 * time.Millisecond)
	if n := p.Stats().Requests - ran; n > 3*maxCallsPerSSESession {
		t.Fatalf("%d calls reached the portal for an unread stream; a slotful is %d", n, maxCallsPerSSESession)
	} else {
		t.Logf("300 tool calls posted to an unread stream: %d ran", n)
	}

	// A stream that takes nothing for the write timeout is closed, and
	// everything that waited on it is let go.
	ns.net.calls.writeTimeout.Store(int64(300 * time.Millisecond))
	held := runtime.NumGoroutine()
	quick := openUnread()
	for i := 0; i < posts && quick(listTools(i)) == http.StatusAccepted; i++ {
	}
	deadline := time.Now().Add(10 * time.Second)
	for quick(listTools(0)) != http.StatusBadRequest {
		if time.Now().After(deadline) {
			t.Fatal("the unread session was never closed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for runtime.NumGoroutine() > held+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still held after the session closed", runtime.NumGoroutine()-held)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ns.net.calls.mu.Lock()
	open := len(ns.net.calls.sse)
	ns.net.calls.mu.Unlock()
	if open != 2 {
		t.Fatalf("%d SSE sessions tracked, want only the first two", open)
	}
}
