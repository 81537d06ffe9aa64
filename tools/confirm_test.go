package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// modernCall sends one 2026-07-28 tools/call, as a client that declared
// elicitation, straight to the server, and returns the JSON-RPC result.
func modernCall(t *testing.T, h *harness, args map[string]any, answer map[string]any, state string) map[string]any {
	t.Helper()
	params := map[string]any{
		"name": "remove_chat_users", "arguments": args,
		"_meta": map[string]any{
			mcp.MetaKeyProtocolVersion:    mcp.ProtocolVersion20260728,
			mcp.MetaKeyClientCapabilities: map[string]any{"elicitation": map[string]any{}},
			mcp.MetaKeyClientInfo:         map[string]any{"name": "t", "version": "1"},
		},
	}
	if answer != nil {
		params["inputResponses"] = map[string]any{"confirm": answer}
	}
	if state != "" {
		params["requestState"] = state
	}
	raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
	out, _ := json.Marshal(h.app.MCP.HandleMessage(context.Background(), raw))
	var msg struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(out, &msg); err != nil || msg.Result == nil {
		t.Fatalf("not a result: %s", out)
	}
	return msg.Result
}

// A confirmation's requestState passes through the client, so it is signed:
// one altered byte, a state for other arguments or from another server, a
// state without its answer: each is refused, naming why, and nothing is
// written. The state as issued, with the answer, removes.
func TestConfirmationStateIsSigned(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
	args := map[string]any{"chat_id": 4000, "user_ids": []int{1403}}
	ask := modernCall(t, h, args, nil, "")
	state, _ := ask["requestState"].(string)
	if ask["resultType"] != "input_required" || state == "" {
		t.Fatalf("the first call must ask: %v", ask)
	}
	yes := map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}
	other := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
	otherState, _ := modernCall(t, other, args, nil, "")["requestState"].(string)

	flipped := []byte(state)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name   string
		args   map[string]any
		answer map[string]any
		state  string
		want   string
	}{
		{"one byte altered", args, yes, string(flipped), "requestState"},
		{"other arguments", map[string]any{"chat_id": 4000, "user_ids": []int{1403, 1402}}, yes, state, "other arguments"},
		{"another server's", args, yes, otherState, "does not verify"},
		{"an answer without state", args, yes, "", "not one this server issued"},
		{"state without answer", args, nil, state, "without the answer"},
		{"not ours at all", args, yes, "args:0123", "not one this server issued"},
	} {
		res := modernCall(t, h, tc.args, tc.answer, tc.state)
		text := fmt.Sprint(res["content"])
		if res["isError"] != true || !strings.Contains(text, tc.want) || !strings.Contains(text, "Nothing was sent") && !strings.Contains(text, "nothing was sent") {
			t.Fatalf("%s: want a refusal naming %q, got %v", tc.name, tc.want, res)
		}
	}
	if n := h.portal.Stats().DeleteUserCalls; n != 0 || !slices.Contains(h.portal.Members(4000), 1403) {
		t.Fatalf("a refused confirmation wrote: %d deletes", n)
	}
	res := modernCall(t, h, args, yes, state)
	if res["isError"] == true || slices.Contains(h.portal.Members(4000), 1403) {
		t.Fatalf("the state as issued: %v", res)
	}
}

// Accept, decline, cancel and no answer are four outcomes: each with its
// own word to the model and its own reason on the audit trail. A cancel
// (claude -p cancels every question) says the person was not asked or did
// not answer, and how to get the question shown; it never says they declined.
func TestCancelIsNotADecline(t *testing.T) {
	trail := filepath.Join(t.TempDir(), "audit.jsonl")
	h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true; c.AuditLog = trail })
	args := map[string]any{"chat_id": 4000, "user_ids": []int{1403}}
	for _, tc := range []struct {
		name      string
		answer    map[string]any
		want, not string
		reason    string
	}{
		{"decline", map[string]any{"action": "decline"}, "declined by the user", "did not decline", "the confirmation was declined"},
		{"unticked", map[string]any{"action": "accept", "content": map[string]any{"confirm": false}}, "declined by the user", "did not decline", "the confirmation was declined"},
		{"cancel", map[string]any{"action": "cancel"}, "they did not decline", "declined by the user", "the confirmation was cancelled: nobody was asked, or nobody answered"},
		{"no answer", nil, "without the answer", "declined by the user", "the confirmation came back without an answer"},
	} {
		state, _ := modernCall(t, h, args, nil, "")["requestState"].(string)
		res := modernCall(t, h, args, tc.answer, state)
		text := fmt.Sprint(res["content"])
		if res["isError"] != true || !strings.Contains(text, tc.want) || strings.Contains(text, tc.not) || !strings.Contains(strings.ToLower(text), "nothing was sent") {
			t.Errorf("%s: %s", tc.name, text)
		}
		if tc.name == "cancel" && (!strings.Contains(text, "claude -p") || !strings.Contains(text, "interactive client")) {
			t.Errorf("a cancel does not say how to get the question shown: %s", text)
		}
		lines := readTrail(t, trail)
		if last := lines[len(lines)-1]; last.Event != "refused" || last.Reason != tc.reason {
			t.Errorf("%s: the trail says %q, want %q", tc.name, last.Reason, tc.reason)
		}
	}
	if n := h.portal.Stats().DeleteUserCalls; n != 0 {
		t.Fatalf("%d deletes without a confirmation", n)
	}
}
