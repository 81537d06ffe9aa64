package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
)

// The legacy SSE transport answers every POST to /message with 202 and
// sends the answer on the session's stream. mcp-go holds each answer in a
// goroutine until the stream takes it, so a client that posts and never
// reads its stream would pile up goroutines and memory without end. Here
// each session counts the answers it owes (maxUnansweredPerSSESession at
// most; past that a POST is refused at once), and a stream that takes no
// event for sseWriteTimeout is closed: its client is gone, and everything
// waiting on it is let go.
const (
	// maxUnansweredPerSSESession bounds the requests a session has posted
	// whose answers its stream has not yet taken: the calls running and
	// waiting (32 + 96), and 256 answers queued behind an unread stream.
	maxUnansweredPerSSESession = maxCallsPerSSESession + maxQueuedPerSSESession + 256
	// sseWriteTimeout is how long one event may take to leave for the
	// client: a client that reads nothing for this long is gone.
	sseWriteTimeout = time.Minute
)

// sseSession is a legacy SSE session as this server tracks it: its calls
// (calls.go), who opened it, and the answers its stream still owes.
type sseSession struct {
	ctx     context.Context // ends when the session's stream closes
	cancel  context.CancelFunc
	running int // tool calls in a handler, or waiting for a slot
	slots   chan struct{}
	closed  bool
	// owner is the signed-in person who opened the session (0: no sign-in).
	owner int
	seq   int // the order sessions were opened in
	// unanswered counts requests posted whose answer the stream has not
	// written yet; slotFree frees a call's slot when the stream writes the
	// answer to its id. Both guarded by callTracker.mu.
	unanswered int
	slotFree   map[string][]func()
}

// newSSESessionID is the SSE transport's session id generator: it registers
// the session with the tracker.
func (t *callTracker) newSSESessionID(ctx context.Context, r *http.Request) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	s := &sseSession{slots: make(chan struct{}, maxCallsPerSSESession)}
	// The session lives as long as its stream; trackSSEStream made the
	// stream's context cancellable, so a stalled stream can be ended.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if stream, ok := ctx.Value(sseStreamKey{}).(*sseStream); ok {
		stream.id = id
		stop := s.cancel
		s.cancel = func() { stop(); stream.end() }
	}
	if who := auth.FromContext(r.Context()); who != nil {
		s.owner = who.UserID
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.owner != 0 && t.perPerson > 0 {
		// A person holds at most their share: a new stream ends their oldest.
		var oldest *sseSession
		held := 0
		for _, o := range t.sse {
			if o.owner == s.owner && !o.closed {
				held++
				if oldest == nil || o.seq < oldest.seq {
					oldest = o
				}
			}
		}
		if held >= t.perPerson {
			oldest.cancel()
		}
	}
	t.opened++
	s.seq = t.opened
	t.sse[id] = s
	return id, nil
}

type sseStreamKey struct{}

// sseStream is the response writer of a GET /sse stream. Every event goes
// through it: it bounds how long an event may take to leave (sseWriteTimeout),
// counts the answers written (each settles one unanswered request), and
// ends the stream when a write fails.
type sseStream struct {
	http.ResponseWriter
	rc      *http.ResponseController
	tracker *callTracker
	timeout time.Duration
	id      string // the session id, once mcp-go made one
	end     context.CancelFunc
}

func (s *sseStream) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	n, err := s.ResponseWriter.Write(p)
	if err != nil {
		s.end()
		return n, err
	}
	if id, ok := answerID(p); ok && s.id != "" {
		s.tracker.answered(s.id, id)
	}
	return n, nil
}

func (s *sseStream) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *sseStream) Flush() {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if err := s.rc.Flush(); err != nil {
		s.end()
	}
}

// answerID is the id of the JSON-RPC response an SSE event carries (an id
// and no method); ok is false for a server request, a notification or the
// endpoint event. mcp-go writes one event per Write.
func answerID(event []byte) (id string, ok bool) {
	_, data, found := bytes.Cut(event, []byte("\ndata:"))
	if !found {
		return "", false
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
	}
	if json.Unmarshal(bytes.TrimSpace(data), &m) != nil || m.Method != nil || len(m.ID) == 0 {
		return "", false
	}
	return canonicalID(m.ID), true
}

// trackSSEStream wraps GET /sse: the stream writes through an sseStream,
// and when the stream ends, for whatever reason, the session's calls are
// cancelled and what waited on it is let go.
func (t *callTracker) trackSSEStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stream := &sseStream{ResponseWriter: w, rc: http.NewResponseController(w), tracker: t, timeout: time.Duration(t.writeTimeout.Load()), end: cancel}
		next.ServeHTTP(stream, r.WithContext(context.WithValue(ctx, sseStreamKey{}, stream)))
		// The connection may serve another request: no deadline left over.
		_ = stream.rc.SetWriteDeadline(time.Time{})
		if stream.id != "" {
			t.closeSSE(stream.id)
		}
	})
}

func (t *callTracker) closeSSE(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sse[id]; s != nil {
		s.cancel()
		s.closed = true
		for _, frees := range s.slotFree {
			for _, free := range frees {
				free()
			}
		}
		s.slotFree = nil
		if s.running == 0 {
			delete(t.sse, id)
		}
	}
}

// answered settles one of a session's unanswered requests: the stream
// wrote the answer to callID.
func (t *callTracker) answered(sessionID, callID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sse[sessionID]
	if s == nil {
		return
	}
	if s.unanswered > 0 {
		s.unanswered--
	}
	if frees := s.slotFree[callID]; len(frees) > 0 {
		frees[0]()
		if s.slotFree[callID] = frees[1:]; len(frees) == 1 {
			delete(s.slotFree, callID)
		}
	}
}

// freeSlotOnAnswer gives a call's slot back when the stream writes the
// answer to callID (at once when the call is not known by its id, or the
// session has closed).
func (t *callTracker) freeSlotOnAnswer(sessionID string, s *sseSession, callID string) {
	free := func() { <-s.slots }
	t.mu.Lock()
	defer t.mu.Unlock()
	if callID == "" || s.closed {
		free()
		return
	}
	if s.slotFree == nil {
		s.slotFree = map[string][]func(){}
	}
	s.slotFree[callID] = append(s.slotFree[callID], free)
}

type callIDKey struct{}

// callIDFrom is the JSON-RPC id of the legacy SSE message a call came in,
// as its answer will carry it; "" when unknown.
func callIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// sseMessages guards POST /message: the session must be the caller's own
// (with sign-in, another person's token is told it does not exist); an
// answer to the server's own question goes to the call waiting for it
// (elicit.go), acknowledged with 202 as every POST there is; and a session
// that owes maxUnansweredPerSSESession answers is refused at once rather
// than made to hold one more.
func (t *callTracker) sseMessages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("sessionId")
		t.mu.Lock()
		s := t.sse[id]
		t.mu.Unlock()
		if s == nil {
			next.ServeHTTP(w, r) // mcp-go answers an unknown session
			return
		}
		if who := auth.FromContext(r.Context()); who != nil && who.UserID != s.owner {
			writeRefusal(w, r, refuse(http.StatusNotFound, "session not found"))
			return
		}
		if msg, ok := messageFrom(r.Context()); ok && t.takeAnswer(id, msg) {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		if expectsAnswer(r) && !t.owe(s) {
			w.Header().Set("Retry-After", "1")
			writeRefusal(w, r, refuse(http.StatusTooManyRequests,
				"this session owes %d answers its client has not read from the stream; read the stream, then try again", maxUnansweredPerSSESession))
			return
		}
		if msg, ok := messageFrom(r.Context()); ok && len(msg.ID) > 0 {
			// The call's answer will carry this id (calls.go waits for it).
			r = r.WithContext(context.WithValue(r.Context(), callIDKey{}, canonicalID(msg.ID)))
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalID is a JSON-RPC id as mcp-go writes it back: decoded into an
// any (numbers as float64) and encoded again.
func canonicalID(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

// owe counts one more answer a session's stream owes, unless it owes its
// maximum already.
func (t *callTracker) owe(s *sseSession) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.unanswered >= maxUnansweredPerSSESession {
		return false
	}
	s.unanswered++
	return true
}

// expectsAnswer reports whether mcp-go will answer a POSTed message on the
// stream, by the rules of its HandleMessage: everything but a notification
// (no id, or a null one) and a response to the server's own request.
func expectsAnswer(r *http.Request) bool {
	msg, ok := messageFrom(r.Context())
	if !ok {
		return true // not a JSON object: a parse error, answered
	}
	var m struct {
		JSONRPC string `json:"jsonrpc"`
		ID      any    `json:"id"`
		Result  any    `json:"result"`
	}
	if json.Unmarshal(msg.raw, &m) != nil || m.JSONRPC != "2.0" {
		return true
	}
	return m.ID != nil && m.Result == nil
}
