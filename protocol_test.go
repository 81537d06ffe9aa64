package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Every protocol revision a client may speak, over stdio and Streamable
// HTTP: 2026-07-28 is the stateless revision (server/discover, no
// initialize). Each lists the tools and calls every one, and the model gets
// the data in both channels.
func TestProtocolMatrix(t *testing.T) {
	versions := []string{mcp.ProtocolVersion20241105, mcp.ProtocolVersion20250326, mcp.ProtocolVersion20250618,
		mcp.ProtocolVersion20251125, mcp.ProtocolVersion20260728}
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	for _, v := range versions {
		t.Run("stdio/"+v, func(t *testing.T) {
			t.Parallel()
			s := startStdio(t, portalEnv(p), v)
			checkEveryTool(t, s.client, v)
		})
		t.Run("http/"+v, func(t *testing.T) {
			t.Parallel()
			checkEveryTool(t, connect(t, ns, "http", v, testToken), v)
		})
	}
}

func checkEveryTool(t *testing.T, c *client.Client, version string) {
	t.Helper()
	if got := c.ProtocolVersion(); got != version {
		t.Fatalf("negotiated %s, asked for %s", got, version)
	}
	if names := testkit.ToolNames(t, c); len(names) != 7 {
		t.Fatalf("tools/list: %v", names)
	}
	for _, tc := range []struct {
		tool       string
		args       map[string]any
		text, data string // in the text; in the JSON of structuredContent
	}{
		{"find_chats", map[string]any{"query": "Sales"}, "\n2935 | chat2935 | Sales team | chat |", `"dialog_id":"chat2935"`},
		{"find_users", map[string]any{"query": "Peterson"}, "\n99 | Catherine Peterson | user |", `"name":"Catherine Peterson"`},
		{"get_chat", map[string]any{"dialog_id": "chat2935"}, "\nname: Sales team\n", `"name":"Sales team"`},
		{"list_dialog_users", map[string]any{"dialog_id": "chat2935"}, "\n1269 | Alexander Smith | user |", `"name":"Alexander Smith"`},
		{"add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019, 1271}, "dry_run": true}, "\nadded: 1019\nalready_members: 1271", `"already_members":[1271]`},
		{"bot_chat_members", map[string]any{"chat_id": 2725}, "\nmember_ids: ", `"member_ids":[`},
		{"get_bot_chat", map[string]any{"dialog_id": "chat5"}, "\nname: Support Chat\n", `"name":"Support Chat"`},
	} {
		res := testkit.Call(t, c, tc.tool, tc.args)
		text := testkit.Text(res)
		if res.IsError || !strings.Contains(text, tc.text) {
			t.Fatalf("%s: the text lacks %q:\n%s", tc.tool, tc.text, text)
		}
		if raw := mustJSON(t, res.StructuredContent); !strings.Contains(raw, tc.data) {
			t.Fatalf("%s: structuredContent lacks %s: %s", tc.tool, tc.data, raw)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
