package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
)

// sessionIdleTTL ends a Streamable HTTP session nobody has used for this
// long (clients that vanish without DELETE).
const sessionIdleTTL = 30 * time.Minute

// A Streamable HTTP session exists only from a successful initialize: the
// gate below opens it, and every other request must name a live one (mcp-go
// would make a session for any GET, and keep every id it ever issued). At
// most MCP_MAX_SESSIONS live at once; with sign-in each belongs to the
// person who opened it, who holds at most MCP_MAX_SESSIONS_PER_PERSON (a new
// one ends their least recently used).

// sessionGate serves /mcp's sessions.
func (h *HTTP) sessionGate(next http.Handler) http.Handler {
	if h.cfg.Stateless {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				// No session carries anything to a stream of its own.
				w.Header().Set("Allow", "POST, DELETE")
				writeRefusal(w, r, refuse(http.StatusMethodNotAllowed, "this server is stateless: it offers no stream at GET /mcp"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			next.ServeHTTP(w, r) // 2026-07-28 has no sessions; mcp-go answers
			return
		}
		person := 0
		if who := auth.FromContext(r.Context()); who != nil {
			person = who.UserID
		}
		msg, _ := messageFrom(r.Context())
		sid := r.Header.Get(server.HeaderKeySessionID)
		switch {
		case r.Method == http.MethodPost && msg.Method == string(mcp.MethodInitialize):
			h.openSession(w, r, next, person)
		case sid == "" && (r.Method == http.MethodGet || r.Method == http.MethodDelete || msg.Method != ""):
			writeRefusal(w, r, refuse(http.StatusBadRequest, "Mcp-Session-Id header required: POST initialize first, then send the session id it answers with"))
		case sid != "" && !h.sessions.use(sid, person):
			// Unknown, expired, ended, or another person's.
			writeRefusal(w, r, refuse(http.StatusNotFound, "session not found: it ended or never existed; initialize a new one"))
		case r.Method == http.MethodGet:
			// The stream ends with its session (DELETE, expiry, eviction):
			// mcp-go would keep it open.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			if !h.sessions.attach(sid, cancel) {
				writeRefusal(w, r, refuse(http.StatusNotFound, "session not found: it ended or never existed; initialize a new one"))
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// openSession serves an initialize: it makes room (or refuses), lets mcp-go
// answer with the id made here, and keeps the session only if the answer
// is a result.
func (h *HTTP) openSession(w http.ResponseWriter, r *http.Request, next http.Handler, person int) {
	sid, ended, err := h.sessions.reserve(person)
	for _, id := range ended {
		h.endSession(id)
	}
	if err != nil {
		writeRefusal(w, r, refuse(http.StatusServiceUnavailable, "%v", err))
		return
	}
	rec := &answerRecorder{ResponseWriter: w}
	next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), openingKey{}, sid)))
	if rec.Header().Get(server.HeaderKeySessionID) == sid && rec.isResult() {
		h.sessions.confirm(sid)
		return
	}
	h.endSession(sid)
}

// endSession ends a session here and in mcp-go, whose state for it goes
// with a DELETE of its own.
func (h *HTTP) endSession(sid string) {
	h.sessions.Terminate(sid)
	req, err := http.NewRequest(http.MethodDelete, "/mcp", nil)
	if err != nil {
		return
	}
	req.Header.Set(server.HeaderKeySessionID, sid)
	h.streamable.ServeHTTP(discard{}, req)
}

// discard is a response nobody reads.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// answerRecorder keeps the start of an initialize's answer, to tell a
// result from an error.
type answerRecorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

const maxRecordedAnswer = 64 << 10

func (a *answerRecorder) Write(p []byte) (int, error) {
	if room := maxRecordedAnswer - a.body.Len(); room > 0 {
		a.body.Write(p[:min(len(p), room)])
	}
	return a.ResponseWriter.Write(p)
}

func (a *answerRecorder) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// isResult reports whether the answer was a JSON-RPC result, as JSON or as
// the last event of an SSE stream.
func (a *answerRecorder) isResult() bool {
	data := a.body.Bytes()
	if mt, _, _ := mime.ParseMediaType(a.Header().Get("Content-Type")); mt == "text/event-stream" {
		i := bytes.LastIndex(data, []byte("data:"))
		if i < 0 {
			return false
		}
		data, _, _ = bytes.Cut(data[i+len("data:"):], []byte("\n"))
	}
	var m struct {
		Result json.RawMessage `json:"result"`
	}
	return json.Unmarshal(bytes.TrimSpace(data), &m) == nil && len(m.Result) > 0 && string(m.Result) != "null"
}

type openingKey struct{}

// errSessionsFull refuses a session past MCP_MAX_SESSIONS.
type errSessionsFull int

func (e errSessionsFull) Error() string {
	return fmt.Sprintf("this server holds its maximum of %d sessions (MCP_MAX_SESSIONS); try again later", int(e))
}

// sessionStore is the Streamable HTTP session store and mcp-go's session id
// manager.
type sessionStore struct {
	mu        sync.Mutex
	byID      map[string]*liveSession
	held      map[int]int // sessions by person
	max       int
	perPerson int // with sign-in; 0: no cap
	ttl       time.Duration
	now       func() time.Time
}

type liveSession struct {
	lastUsed time.Time
	person   int  // who opened it (0 without sign-in)
	open     bool // its initialize was answered with a result
	streams  map[*context.CancelFunc]bool
}

func newSessionStore(max, perPerson int, ttl time.Duration) *sessionStore {
	return &sessionStore{byID: map[string]*liveSession{}, held: map[int]int{}, max: max, perPerson: perPerson, ttl: ttl, now: time.Now}
}

// reserve makes a session for an initialize in flight. It ends the
// expired, and when person holds their maximum, their least recently used
// (ended lists them, for the caller to end in mcp-go too). err says the
// server holds its maximum.
func (m *sessionStore) reserve(person int) (sid string, ended []string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if person != 0 && m.perPerson > 0 && m.held[person] >= m.perPerson {
		if oldest := m.leastRecent(person); oldest != "" {
			ended = append(ended, oldest)
			m.end(oldest)
		}
	}
	if len(m.byID) >= m.max {
		for id, s := range m.byID {
			if s.open && now.Sub(s.lastUsed) > m.ttl {
				ended = append(ended, id)
				m.end(id)
			}
		}
	}
	if len(m.byID) >= m.max {
		return "", ended, errSessionsFull(m.max)
	}
	sid = newSessionID()
	m.byID[sid] = &liveSession{lastUsed: now, person: person}
	m.held[person]++
	return sid, ended, nil
}

// leastRecent is person's open session used longest ago; m.mu is held.
func (m *sessionStore) leastRecent(person int) string {
	oldest := ""
	for id, s := range m.byID {
		if s.person == person && s.open && (oldest == "" || s.lastUsed.Before(m.byID[oldest].lastUsed)) {
			oldest = id
		}
	}
	return oldest
}

// confirm opens a reserved session: its initialize succeeded.
func (m *sessionStore) confirm(sid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.byID[sid]; s != nil {
		s.open, s.lastUsed = true, m.now()
	}
}

// use reports whether sid is a live session of person's, and marks it used.
func (m *sessionStore) use(sid string, person int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byID[sid]
	if s == nil || !s.open || s.person != person {
		return false
	}
	if m.now().Sub(s.lastUsed) > m.ttl {
		m.end(sid)
		return false
	}
	s.lastUsed = m.now()
	return true
}

// attach ties a GET stream to its session: ending the session ends it.
func (m *sessionStore) attach(sid string, cancel context.CancelFunc) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byID[sid]
	if s == nil {
		return false
	}
	if s.streams == nil {
		s.streams = map[*context.CancelFunc]bool{}
	}
	s.streams[&cancel] = true
	return true
}

// end forgets a session and ends its streams; m.mu is held.
func (m *sessionStore) end(sid string) {
	if s := m.byID[sid]; s != nil {
		for cancel := range s.streams {
			(*cancel)()
		}
		delete(m.byID, sid)
		if m.held[s.person]--; m.held[s.person] == 0 {
			delete(m.held, s.person)
		}
	}
}

func (m *sessionStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.byID {
		if s.open {
			n++
		}
	}
	return n
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "b24-" + hex.EncodeToString(b)
}

// ResolveSessionIdManager is mcp-go's way to the session ids: for an
// initialize the gate let through, the id it made.
func (m *sessionStore) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	if r != nil {
		if sid, ok := r.Context().Value(openingKey{}).(string); ok {
			return presetID{m, sid}
		}
	}
	return m
}

// presetID hands mcp-go the id the gate made for an initialize.
type presetID struct {
	*sessionStore
	sid string
}

func (p presetID) Generate() string { return p.sid }

// Generate is asked only for a request the gate did not open a session
// for: the id it gets names no session.
func (m *sessionStore) Generate() string { return newSessionID() }

func (m *sessionStore) Validate(sid string) (isTerminated bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.byID[sid]; s != nil && s.open {
		return false, nil
	}
	return false, errors.New("session not found or expired")
}

func (m *sessionStore) Terminate(sid string) (isNotAllowed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.end(sid)
	return false, nil
}
