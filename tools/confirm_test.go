package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
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
