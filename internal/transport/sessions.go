package transport

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// sessionIdleTTL ends a Streamable HTTP session nobody has used for this
// long (clients that vanish without DELETE).
const sessionIdleTTL = 30 * time.Minute

// sessionCap refuses a new Streamable HTTP session once MCP_MAX_SESSIONS
// are live.
func (h *HTTP) sessionCap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, _ := messageFrom(r.Context())
		if msg.Method == string(mcp.MethodInitialize) && r.Header.Get(server.HeaderKeySessionID) == "" && !h.sessions.hasRoom() {
			writeRefusal(w, r, refuse(http.StatusServiceUnavailable, "this server holds its maximum of %d sessions (MCP_MAX_SESSIONS); try again later", h.sessions.max))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sessionStore is the Streamable HTTP session store: ids expire after
// sessionIdleTTL without use or at DELETE, and at most max live at once.
// (mcp-go's default keeps every id it ever issued.)
type sessionStore struct {
	mu     sync.Mutex
	live   map[string]time.Time // id -> last used
	owners map[string]int       // id -> the signed-in person who opened it (with sign-in)
	max    int
	ttl    time.Duration
}

func newSessionStore(max int, ttl time.Duration) *sessionStore {
	return &sessionStore{live: map[string]time.Time{}, owners: map[string]int{}, max: max, ttl: ttl}
}

// own records who opened a session; owner says who did (ok false: nobody
// recorded, as without sign-in).
func (m *sessionStore) own(id string, uid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, live := m.live[id]; live {
		m.owners[id] = uid
	}
}

func (m *sessionStore) owner(id string) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid, ok := m.owners[id]
	return uid, ok
}

func (m *sessionStore) Generate() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := "b24-" + hex.EncodeToString(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[id] = time.Now()
	return id
}

func (m *sessionStore) Validate(id string) (isTerminated bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.live[id]
	if !ok || time.Since(last) > m.ttl {
		delete(m.live, id)
		delete(m.owners, id)
		return false, fmt.Errorf("session not found or expired")
	}
	m.live[id] = time.Now()
	return false, nil
}

func (m *sessionStore) Terminate(id string) (isNotAllowed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, id)
	delete(m.owners, id)
	return false, nil
}

// hasRoom sweeps expired sessions and reports whether a new one fits.
func (m *sessionStore) hasRoom() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.live) < m.max {
		return true
	}
	for id, last := range m.live {
		if time.Since(last) > m.ttl {
			delete(m.live, id)
			delete(m.owners, id)
		}
	}
	return len(m.live) < m.max
}

func (m *sessionStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}
