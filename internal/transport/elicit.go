package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Asking the human over legacy SSE. A tool that needs a confirmation returns
// an input request; mcp-go turns it into elicitation/create for clients
// before 2026-07-28, but its SSE sessions cannot send requests, so over SSE
// the call failed ("session does not support elicitation"). The call
// middleware does it there instead: it sends elicitation/create on the
// session's stream, takes the client's answer from its POST to /message
// (sseAnswers), and calls the tool again with the answer, as mcp-go does on
// the other transports.

// maxAskRounds bounds how often one call may ask the human.
const maxAskRounds = 3

// answerSSEInput fulfils a legacy SSE call's input requests and calls the
// tool again with the answers, until it has a final result.
func (t *callTracker) answerSSEInput(ctx context.Context, sessionID string, req mcp.CallToolRequest, res *mcp.CallToolResult, next server.ToolHandlerFunc) (*mcp.CallToolResult, error) {
	for round := 0; res != nil && res.NeedsInput(); round++ {
		if round == maxAskRounds {
			return nil, fmt.Errorf("the tool asked the user more than %d times", maxAskRounds)
		}
		answers := mcp.InputResponses{}
		for key, in := range res.InputRequests {
			if in.Method != mcp.MethodElicitationCreate || in.Elicitation == nil {
				return nil, fmt.Errorf("input request %q: only elicitation is carried over SSE", key)
			}
			answer, err := t.elicit(ctx, sessionID, in.Elicitation)
			if err != nil {
				return nil, fmt.Errorf("asking the user: %w", err)
			}
			answers[key] = mcp.NewElicitationInputResponse(*answer)
		}
		req.Params.MultiRoundTripParams = mcp.MultiRoundTripParams{InputResponses: answers, RequestState: res.RequestState}
		var err error
		if res, err = next(ctx, req); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// elicit sends elicitation/create on the session's stream and waits for the
// client's answer, or for the call to end.
func (t *callTracker) elicit(ctx context.Context, sessionID string, params *mcp.ElicitationParams) (*mcp.ElicitationResult, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	id := "b24-ask-" + hex.EncodeToString(b)
	answer := make(chan json.RawMessage, 1)
	key := sessionID + " " + id
	t.mu.Lock()
	t.asks[key] = answer
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.asks, key)
		t.mu.Unlock()
	}()
	request := map[string]any{"jsonrpc": "2.0", "id": id, "method": mcp.MethodElicitationCreate, "params": params}
	// The stream's queue may be full for a moment (a burst of answers): try
	// for a second before giving up on asking.
	for tries := 0; ; tries++ {
		err := t.send(sessionID, request)
		if err == nil {
			break
		}
		if tries == 20 || !strings.Contains(err.Error(), "queue full") {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case raw := <-answer:
		var msg struct {
			Result *mcp.ElicitationResult `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &msg); err != nil {
			return nil, fmt.Errorf("the answer to elicitation/create is not JSON-RPC: %w", err)
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("the client answered elicitation/create with error %d: %s", msg.Error.Code, msg.Error.Message)
		}
		if msg.Result == nil {
			return nil, errors.New("the answer to elicitation/create has no result")
		}
		return msg.Result, nil
	}
}

// takeAnswer takes a client's answer to a request the server sent on a
// legacy SSE stream (elicit) out of the POSTs to /message, and delivers it to
// the call waiting for it. It reports whether msg was such an answer.
func (t *callTracker) takeAnswer(sessionID string, msg message) bool {
	var id string
	if msg.Method != "" || json.Unmarshal(msg.ID, &id) != nil {
		return false
	}
	t.mu.Lock()
	answer := t.asks[sessionID+" "+id]
	t.mu.Unlock()
	if answer == nil {
		return false
	}
	select {
	case answer <- msg.raw:
	default: // answered already: a second answer is dropped
	}
	return true
}
