package tools_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

func readTrail(t *testing.T, path string) []audit.Entry {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		out = append(out, e)
	}
	return out
}

// Every change is one line before it is made and one after, every refused
// change one line; each names the portal, the acting user, the MCP client,
// the tool, the chat, the users and the call's request id. No secret.
func TestAuditTrail(t *testing.T) {
	trail := filepath.Join(t.TempDir(), "audit.jsonl")
	h := newHarness(t, func(c *app.Config) {
		c.AuditLog = trail
		c.Tools.EnableRemove = true
		c.Tools.AllowedChatIDs = map[int]bool{2935: true, 4000: true}
	})
	if res := h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291, 99}}); res.IsError {
		t.Fatal(res)
	}
	h.call(t, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1291}}) // not allowed
	no := &answering{yes: false}
	c := h.connect(t, mcp.ProtocolVersion20251125, client.WithElicitationHandler(no))
	h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291}, "dry_run": true}) // no line
	testkit.Call(t, c, "remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403}})      // declined

	lines := readTrail(t, trail)
	var events []string
	for _, e := range lines {
		events = append(events, e.Event+" "+e.Outcome)
		if e.Portal == "" || e.UserID != "1269" || e.Tool == "" || e.ChatID == 0 || len(e.RequestID) != 16 || e.Client == "" || e.Time.IsZero() {
			t.Fatalf("a line lacks who, where or which call: %+v", e)
		}
	}
	if !slices.Equal(events, []string{"write attempt", "write done", "refused refused", "refused refused"}) {
		t.Fatalf("events: %v", events)
	}
	if done := lines[1]; !slices.Equal(done.Changed, []int{1291}) || !slices.Equal(done.UserIDs, []int{1291}) || done.RequestID != lines[0].RequestID {
		t.Fatalf("the change's outcome: %+v", done)
	}
	if lines[2].Reason != "BITRIX24_ALLOWED_CHAT_IDS" || lines[3].Tool != "remove_chat_users" || !strings.Contains(lines[3].Reason, "declined") {
		t.Fatalf("refusals: %+v %+v", lines[2], lines[3])
	}
	raw, _ := os.ReadFile(trail)
	portaltest.AssertNoSecret(t, h.portal, "the audit trail", string(raw))

	// The trail cannot be written: the change is not made.
	h.app.Audit.Close()
	h.portal.ResetStats()
	res := h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1300}})
	if !res.IsError || !strings.Contains(testkit.Text(res), "audit log could not be written") || h.portal.Stats().AddUserCalls != 0 {
		t.Fatalf("with the trail unwritable: %v, %d add calls", testkit.Text(res), h.portal.Stats().AddUserCalls)
	}
}
