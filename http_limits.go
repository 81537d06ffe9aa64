package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const (
	// sessionIdleTTL ends a Streamable HTTP session nobody has used for this
	// long (clients that vanish without DELETE).
	sessionIdleTTL = 30 * time.Minute
	// maxCallsPerSSESession bounds the tool calls one legacy SSE session may
	// have queued or running: /message answers 202 before a call runs, so
	// without it one client could queue any number.
	maxCallsPerSSESession = 32
)

// limits applies the per-session caps to a POST; it returns "" or the
// refusal as "STATUS message".
func (n *network) limits(r *http.Request, body []byte) string {
	var msg rpcMessage
	if json.Unmarshal(body, &msg) != nil {
		return "" // the transport answers malformed JSON itself
	}
	switch r.URL.Path {
	case "/mcp":
		if msg.Method == string(mcp.MethodInitialize) && r.Header.Get(server.HeaderKeySessionID) == "" && !n.sessions.hasRoom() {
			return fmt.Sprintf("503 this server holds its maximum of %d sessions (MCP_MAX_SESSIONS); try again later", n.sessions.max)
		}
	case "/message":
		if msg.Method == string(mcp.MethodToolsCall) && n.mcp.GetTool(msg.Params.Name) != nil &&
			!n.calls.admit(r.URL.Query().Get("sessionId")) {
			return fmt.Sprintf("429 this session already has %d tool calls queued or running; wait for their results", maxCallsPerSSESession)
		}
	}
	return ""
}

// activity counts requests or calls in flight, so that shutdown can wait for
// them; once draining, it admits no more.
type activity struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     *sync.Cond
}

func (a *activity) begin() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.draining {
		return false
	}
	a.n++
	return true
}

func (a *activity) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n--
	if a.n == 0 && a.idle != nil {
		a.idle.Broadcast()
	}
}

// drain stops admitting and waits, at most timeout, for what is in flight.
func (a *activity) drain(timeout time.Duration) bool {
	a.mu.Lock()
	a.draining = true
	if a.idle == nil {
		a.idle = sync.NewCond(&a.mu)
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.mu.Lock()
		for a.n > 0 {
			a.idle.Wait()
		}
		a.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (a *activity) isDraining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining
}

// callTracker sees every tool call (as mcp-go middleware): it counts them for
// the drain, and ties legacy SSE calls to their session's stream, so that a
// client that leaves takes its queued calls with it.
type callTracker struct {
	active activity
	mu     sync.Mutex
	sse    map[string]*sseSession
}

type sseSession struct {
	ctx     context.Context // ends when the session's stream closes
	cancel  context.CancelFunc
	pending int // tools/call messages admitted and not finished
	closed  bool
}

func newCallTracker() *callTracker { return &callTracker{sse: map[string]*sseSession{}} }

// newSSESessionID is the SSE transport's session id generator: it registers
// the session with the tracker.
func (t *callTracker) newSSESessionID(ctx context.Context, r *http.Request) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.mu.Lock()
	t.sse[id] = &sseSession{ctx: sctx, cancel: cancel}
	t.mu.Unlock()
	if holder, ok := ctx.Value(sseIDKey{}).(*string); ok {
		*holder = id
	}
	return id, nil
}

type sseIDKey struct{}

// trackSSEStream wraps GET /sse: when the stream ends, the session's calls
// are cancelled.
func (t *callTracker) trackSSEStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sseIDKey{}, &id)))
		if id != "" {
			t.closeSSE(id)
		}
	})
}

func (t *callTracker) closeSSE(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sse[id]; s != nil {
		s.cancel()
		s.closed = true
		if s.pending == 0 {
			delete(t.sse, id)
		}
	}
}

// admit counts a tools/call message for an SSE session, or refuses it when
// the session is at its cap. Messages for unknown sessions pass: the
// transport refuses them itself.
func (t *callTracker) admit(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sse[id]
	if s == nil || s.closed {
		return true
	}
	if s.pending >= maxCallsPerSSESession {
		return false
	}
	s.pending++
	return true
}

// middleware wraps every tool call.
func (t *callTracker) middleware(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		t.active.begin() // counted even while draining: it was accepted before
		defer t.active.end()
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			t.mu.Lock()
			s := t.sse[cs.SessionID()]
			t.mu.Unlock()
			if s != nil {
				defer t.finish(cs.SessionID(), s)
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				stop := context.AfterFunc(s.ctx, cancel)
				defer stop()
			}
		}
		return next(ctx, req)
	}
}

func (t *callTracker) finish(id string, s *sseSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.pending > 0 {
		s.pending--
	}
	if s.closed && s.pending == 0 {
		delete(t.sse, id)
	}
}

// sessionManager is the Streamable HTTP session store: ids expire after
// sessionIdleTTL without use or at DELETE, and at most max live at once.
// (mcp-go's default keeps every id it ever issued.)
type sessionManager struct {
	mu   sync.Mutex
	live map[string]time.Time // id -> last used
	max  int
	ttl  time.Duration
}

func newSessionManager(max int, ttl time.Duration) *sessionManager {
	return &sessionManager{live: map[string]time.Time{}, max: max, ttl: ttl}
}

func (m *sessionManager) Generate() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := "b24-" + hex.EncodeToString(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[id] = time.Now()
	return id
}

func (m *sessionManager) Validate(id string) (isTerminated bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.live[id]
	if !ok || time.Since(last) > m.ttl {
		delete(m.live, id)
		return false, fmt.Errorf("session not found or expired")
	}
	m.live[id] = time.Now()
	return false, nil
}

func (m *sessionManager) Terminate(id string) (isNotAllowed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, id)
	return false, nil
}

// hasRoom sweeps expired sessions and reports whether a new one fits.
func (m *sessionManager) hasRoom() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.live) < m.max {
		return true
	}
	for id, last := range m.live {
		if time.Since(last) > m.ttl {
			delete(m.live, id)
		}
	}
	return len(m.live) < m.max
}

func (m *sessionManager) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}

// capListener holds at most max connections open; one more is answered 503
// and closed at once rather than left waiting, so a flood of slow clients
// cannot exhaust file descriptors and a client at the cap hears why.
type capListener struct {
	net.Listener
	slots chan struct{}
}

func newCapListener(l net.Listener, max int) *capListener {
	return &capListener{Listener: l, slots: make(chan struct{}, max)}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n\r\ntoo many connections (MCP_MAX_CONNECTIONS)\n"))
			_ = c.Close()
		}
	}
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
