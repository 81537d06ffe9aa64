package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// A legacy SSE session may have maxCallsPerSSESession tool calls running (a
// call waiting for the rate limit is running) and maxQueuedPerSSESession more
// waiting for one of them to finish; past that a call is refused. /message
// answers 202 before a call runs, so without a bound one client could start
// any number.
const (
	maxCallsPerSSESession  = 16
	maxQueuedPerSSESession = 112
)

// callTracker sees every tool call, as mcp-go tool middleware: it counts
// them for the drain, and ties legacy SSE calls to their session's stream,
// so that a client that leaves takes its calls with it. A call's SSE slot is
// taken and given back here and nowhere else, so a message that never
// reaches a tool (no id, a wrong "jsonrpc") holds none.
type callTracker struct {
	active activity
	mu     sync.Mutex
	sse    map[string]*sseSession
	// asks are the elicitation/create requests sent on SSE streams, by
	// session and request id, waiting for the client's answer (elicit.go).
	asks map[string]chan json.RawMessage
	// send queues a message on an SSE session's stream.
	send func(sessionID string, msg any) error
	// writeTimeout is how long an SSE stream may take to accept one event
	// (nanoseconds; tests shorten it).
	writeTimeout atomic.Int64
	// perPerson caps a signed-in person's SSE sessions; opened counts them all.
	perPerson int
	opened    int
}

func newCallTracker(perPerson int) *callTracker {
	t := &callTracker{sse: map[string]*sseSession{}, asks: map[string]chan json.RawMessage{}, perPerson: perPerson}
	t.writeTimeout.Store(int64(sseWriteTimeout))
	return t
}

// middleware wraps every tool call. A legacy SSE session's call past its
// share waits for a slot, or past the queue is refused with a JSON-RPC error
// for the call, on the session's stream like every other answer there. A
// slot is held until the call's answer has left on the stream.
func (t *callTracker) middleware(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		t.active.begin() // counted even while draining: it was accepted before
		defer t.active.end()
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			s, ok := t.enter(cs.SessionID())
			if !ok {
				return nil, fmt.Errorf("this session already has %d tool calls running and %d waiting; wait for their results", maxCallsPerSSESession, maxQueuedPerSSESession)
			}
			if s != nil {
				defer t.leave(cs.SessionID(), s)
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				stop := context.AfterFunc(s.ctx, cancel)
				defer stop()
				select {
				case s.slots <- struct{}{}:
					// The slot is free again once the answer is on the
					// stream, not when the handler returns: a stream nobody
					// reads holds at most a slotful of results.
					defer t.freeSlotOnAnswer(cs.SessionID(), s, callIDFrom(ctx))
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				res, err := next(ctx, req)
				if err == nil && !mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
					return t.answerSSEInput(ctx, cs.SessionID(), req, res, next)
				}
				return res, err
			}
		}
		return next(ctx, req)
	}
}

// enter counts a call of a legacy SSE session: s is nil for other
// sessions, ok false when the session has as many running and waiting as it
// may.
func (t *callTracker) enter(id string) (s *sseSession, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s = t.sse[id]
	if s == nil {
		return nil, true
	}
	if s.running >= maxCallsPerSSESession+maxQueuedPerSSESession {
		return nil, false
	}
	s.running++
	return s, true
}

func (t *callTracker) leave(id string, s *sseSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.running--
	if s.closed && s.running == 0 {
		delete(t.sse, id)
	}
}

// sseInFlight counts the legacy SSE sessions' calls running or waiting.
func (t *callTracker) sseInFlight() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.sse {
		n += s.running
	}
	return float64(n)
}
