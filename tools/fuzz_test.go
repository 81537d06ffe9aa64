package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// FuzzToolArguments feeds arbitrary JSON arguments to every tool. Whatever
// comes in: no panic, and a refused call is an isError result naming a
// parameter, with nothing sent to the portal.
func FuzzToolArguments(f *testing.F) {
	seeds := []string{
		`{}`, `null`, `[]`, `"x"`, `{"dialog_id":"chat2935"}`, `{"dialog_id":"chat2935","all":true,"max_users":3}`,
		`{"dialog_id":5}`, `{"dialog_id":"chat1","limit":1e308}`, `{"dialog_id":"chat1","offset":-1}`,
		`{"chat_id":2935,"user_ids":[1019,1019]}`, `{"chat_id":2935,"user_ids":[null]}`, `{"chat_id":1.5,"user_ids":[1]}`,
		`{"chat_id":2725}`, `{"chat_id":2725,"bot_id":"456"}`, `{"dialog_id":"chat5","bot_id":457}`,
		`{"dialog_id":"chat99999999999999999999999"}`, `{"chat_id":9223372036854775807,"user_ids":[1]}`,
		`{"dialog_id":"chat1","keep_external_types":[{"a":1}]}`, `{"dialog_id":"\u0000"}`,
		`{"query":"Peterson"}`, `{"ids":[99,777777]}`, `{"department":"Sales","offset":49}`, `{"query":"Sales","offset":1}`,
		`{"dialog_id":"sg12"}`, `{"chat_id":4000,"user_ids":[1403],"dry_run":true}`, `{"chat_id":2725,"user_ids":[1291]}`,
		`{"query":"Sales","kind":"department"}`, `{"departments":[2],"include_subdepartments":true}`, `{"workgroups":[11,12]}`,
		`{"chat_id":2935,"workgroups":[11],"dry_run":true}`, `{"chat_id":2935,"departments":[999999]}`, `{"include_subdepartments":true}`,
		`{"chat_id":4000,"user_ids":[99],"remove_extra":true,"add_missing":false}`, `{"departments":[2],"user_ids":[0]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	h := newHarness(f, func(c *app.Config) { c.Tools.EnableRemove = true })
	names := []string{"list_dialog_users", "add_chat_users", "bot_chat_members", "get_bot_chat", "find_users", "find_chats", "get_chat", "remove_chat_users",
		"find_teams", "list_team_members", "compare_chat_with_team", "sync_chat_with_team"}
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		var args any
		if json.Unmarshal([]byte(raw), &args) != nil {
			return
		}
		name := names[int(which)%len(names)]
		before := h.portal.Stats().Requests
		res := h.call(t, name, args)
		msg := testkit.Text(res)
		if !res.IsError {
			return
		}
		if strings.Contains(msg, "Invalid arguments") {
			if h.portal.Stats().Requests != before {
				t.Fatalf("refused arguments %s reached the portal", raw)
			}
			if !strings.Contains(msg, "- ") || !strings.Contains(msg, ":") {
				t.Fatalf("refusal names no parameter: %s", msg)
			}
			return
		}
		// Otherwise Bitrix24 itself refused (the message carries its code),
		// or a team named something the portal does not have.
		if !strings.Contains(msg, "Bitrix24 error") && !strings.Contains(msg, "not a member") &&
			!strings.Contains(msg, "allow-list") && !strings.Contains(msg, "returned no members") &&
			!strings.Contains(msg, "no department has the id(s)") && !strings.Contains(msg, "could not be read (Bitrix24") {
			t.Fatalf("unexplained error for %s %s: %s", name, raw, msg)
		}
	})
}
