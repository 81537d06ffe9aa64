package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

func TestListDialogUsers(t *testing.T) {
	h := newHarness(t)
	out := testkit.Structured[tools.ListDialogUsersOutput](t, h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935", "skip_external": true}))
	if out.Total != 3 || !slices.Equal(out.IDs(), []int{1269, 99, 1271}) || out.Truncated || out.NextOffset != nil {
		t.Fatalf("%+v", out)
	}
	u := out.Rows[0]
	if out.Users != nil || !slices.Equal(out.Columns, []string{"id", "name", "type", "flags", "position"}) ||
		u != (tools.UserRow{ID: 1269, Name: "Alexander Smith", Type: "user", Flags: "ext=socservices", Position: "Sales Department Head"}) {
		t.Fatalf("compact user: %+v %v", u, out.Columns)
	}

	// Paging by hand: next_offset continues where the page ended.
	out = testkit.Structured[tools.ListDialogUsersOutput](t, h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935", "limit": 2}))
	if len(out.Rows) != 2 || out.NextOffset == nil || *out.NextOffset != 2 || !out.Truncated || out.Total != 5 {
		t.Fatalf("page: %+v", out)
	}
	out = testkit.Structured[tools.ListDialogUsersOutput](t, h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935", "limit": 2, "offset": 4}))
	if len(out.Rows) != 1 || out.NextOffset != nil || out.Truncated {
		t.Fatalf("last page: %+v", out)
	}

	// Full fields: false-for-unset comes back as null, phones as an object.
	out = testkit.Structured[tools.ListDialogUsersOutput](t, h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935", "fields": "full", "limit": 1}))
	d := out.Users[0].UserDetails
	if out.Rows != nil || d == nil || d.Idle != nil || d.Phones == nil || d.Phones.PersonalMobile != "+19165554419" || d.Email == nil {
		t.Fatalf("full: %+v", d)
	}
}

func TestListDialogUsersAll(t *testing.T) {
	t.Parallel()
	// With a budget that holds them, all 5000 members come in 2 requests.
	h := newHarness(t, func(c *app.Config) { c.Tools.MaxResultChars = 10_000_000 })
	h.portal.ResetStats()
	out := testkit.Structured[tools.ListDialogUsersOutput](t, h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true, "max_users": 10000}))
	// 5000 generated + owner + bot, less 50 dismissed.
	if len(out.Rows) != 4952 || out.Total != 4952 || out.Truncated {
		t.Fatalf("got %d of %d, truncated=%v", len(out.Rows), out.Total, out.Truncated)
	}
	if st := h.portal.Stats(); st.Requests != 2 { // 1 + ceil((4952-200)/10000)
		t.Fatalf("%d requests for 4952 users", st.Requests)
	}
	out = testkit.Structured[tools.ListDialogUsersOutput](t, h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true, "max_users": 450}))
	if len(out.Rows) != 450 || !out.Truncated || out.NextOffset == nil || *out.NextOffset != 450 {
		t.Fatalf("max_users: %d truncated=%v next=%v", len(out.Rows), out.Truncated, out.NextOffset)
	}
	seen := map[int]bool{}
	for _, id := range out.IDs() {
		if seen[id] {
			t.Fatalf("user %d twice", id)
		}
		seen[id] = true
	}
}

// With default settings no result passes BITRIX24_MAX_RESULT_CHARS (40,000)
// in either channel: a listing stops early and says where to go on, and
// fields=ids carries every id of a 2,600-member chat within 20,000.
func TestResultBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.portal.AddLargeChat(fakeportal.LargeChat{ChatID: 9003, Members: 2600, FirstUserID: 300000, Bots: []int{456}})
	sizes := func(res *mcp.CallToolResult) (text, structured int) {
		raw, _ := json.Marshal(res.StructuredContent)
		return len(testkit.Text(res)), len(raw)
	}
	var ids []int
	offset, calls := 0, 0
	for {
		res := h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9003", "all": true, "offset": offset})
		out := testkit.Structured[tools.ListDialogUsersOutput](t, res)
		text, structured := sizes(res)
		t.Logf("all from offset %d: %d users, %d text and %d structured characters", offset, len(out.Rows), text, structured)
		if text > tools.DefaultMaxResultChars || structured > tools.DefaultMaxResultChars {
			t.Fatalf("offset %d: %d text and %d structured characters", offset, text, structured)
		}
		lines := map[string]bool{}
		for _, line := range strings.Split(testkit.Text(res), "\n") {
			id, rest, _ := strings.Cut(line, " | ")
			name, _, _ := strings.Cut(rest, " | ")
			lines[id+" | "+name] = true
		}
		for _, u := range out.Rows {
			ids = append(ids, u.ID)
			// A client that reads only the text finds every id and name.
			if !lines[fmt.Sprintf("%d | %s", u.ID, u.Name)] {
				t.Fatalf("user %d (%s) is not in the text", u.ID, u.Name)
			}
		}
		calls++
		if out.NextOffset == nil {
			break
		}
		if !out.Truncated || !strings.Contains(testkit.Text(res), fmt.Sprintf("offset=%d", *out.NextOffset)) {
			t.Fatalf("a cut result must say where to go on: %.300s", testkit.Text(res))
		}
		offset = *out.NextOffset
	}
	slices.Sort(ids)
	if len(ids) != 2602 || len(slices.Compact(ids)) != 2602 || calls < 3 {
		t.Fatalf("paged through %d users (%d distinct) in %d calls", len(ids), len(slices.Compact(ids)), calls)
	}

	res := h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9003", "all": true, "fields": "ids"})
	out := testkit.Structured[tools.ListDialogUsersOutput](t, res)
	text, structured := sizes(res)
	if len(out.UserIDs) != 2602 || out.Truncated || out.Rows != nil || out.Users != nil || text > 20000 || structured > 20000 {
		t.Fatalf("ids: %d ids, truncated=%v, %d text and %d structured characters", len(out.UserIDs), out.Truncated, text, structured)
	}
	t.Logf("fields=ids on 2602 members: %d text and %d structured characters", text, structured)
	idLine := "\nuser_ids: " + strings.Trim(strings.ReplaceAll(fmt.Sprint(out.UserIDs), " ", ","), "[]")
	if !strings.HasSuffix(testkit.Text(res), idLine) {
		t.Fatalf("the text does not end in every id: %.200s", testkit.Text(res))
	}

	// A small budget cuts ids too, and says so.
	h2 := newHarness(t, func(c *app.Config) { c.Tools.MaxResultChars = 4000 })
	out = testkit.Structured[tools.ListDialogUsersOutput](t, h2.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true, "fields": "ids"}))
	if !out.Truncated || out.NextOffset == nil || *out.NextOffset != len(out.UserIDs) || len(out.UserIDs) < 300 {
		t.Fatalf("small budget: %d ids, next %v", len(out.UserIDs), out.NextOffset)
	}
}

func TestAddChatUsers(t *testing.T) {
	h := newHarness(t)
	// 1291 new, 99 member, 1300 dismissed, 777777 unknown, 1291 again (deduped).
	out := testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291, 99, 1300, 777777, 1291}}))
	if !slices.Equal(out.Added, []int{1291}) || !slices.Equal(out.AlreadyMembers, []int{99}) || len(out.NotAdded) != 2 || !out.HideHistory || out.DryRun {
		t.Fatalf("%+v", out)
	}
	if !h.portal.HiddenHistory(2935, 1291) {
		t.Fatal("hide_history defaults to true")
	}
	// Again: idempotent, and only missing users are sent.
	before := h.portal.Stats().AddUserCalls
	out = testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291, 99}}))
	if len(out.Added) != 0 || len(out.AlreadyMembers) != 2 || h.portal.Stats().AddUserCalls != before {
		t.Fatalf("repeat: %+v", out)
	}
	// Dry run changes nothing.
	out = testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1019}, "dry_run": true}))
	if !slices.Equal(out.Added, []int{1019}) || slices.Contains(h.portal.Members(2935), 1019) || h.portal.Stats().AddUserCalls != before {
		t.Fatalf("dry run: %+v", out)
	}
	// History shown on request.
	testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1019}, "hide_history": false}))
	if h.portal.HiddenHistory(2935, 1019) {
		t.Fatal("hide_history=false must show history")
	}
	// Bitrix24 errors become isError results with code and hint.
	testkit.WantToolError(t, h.call(t, "add_chat_users", map[string]any{"chat_id": 74, "user_ids": []int{1019}}), "ACCESS_DENIED_EXTEND", "Hint:", "owner or managers")
	testkit.WantToolError(t, h.call(t, "add_chat_users", map[string]any{"chat_id": 13, "user_ids": []int{1019}}), "ACCESS_ERROR", "Hint:")
}

func TestAddChatUsersAllowListAndCap(t *testing.T) {
	h := newHarness(t, func(c *app.Config) {
		c.Tools.AllowedChatIDs = map[int]bool{2725: true}
		c.Tools.MaxInvite = 3
	})
	h.portal.ResetStats()
	testkit.WantToolError(t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291}}), "BITRIX24_ALLOWED_CHAT_IDS", "add 2935")
	testkit.WantToolError(t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1, 2, 3, 4}}), "user_ids", "at most 3")
	if st := h.portal.Stats(); st.Requests != 0 {
		t.Fatalf("refused calls sent %d requests", st.Requests)
	}
	// The served schema carries the configured cap.
	list, _ := h.client.ListTools(context.Background(), mcp.ListToolsRequest{})
	for _, tool := range list.Tools {
		raw, _ := json.Marshal(tool.InputSchema)
		if tool.Name == "add_chat_users" && !strings.Contains(string(raw), `"maxItems":3`) {
			t.Fatalf("schema: %s", raw)
		}
	}
	testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019}}))
}

// Read-only mode hides add and remove (even with removal enabled) and the
// invite prompt.
func TestReadOnlyHidesWrites(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.ReadOnly, c.Tools.EnableRemove = true, true })
	names := testkit.ToolNames(t, h.client)
	slices.Sort(names)
	if !slices.Equal(names, []string{"bot_chat_members", "compare_chat_with_team", "find_chats", "find_teams", "find_users", "get_bot_chat", "get_chat", "list_dialog_users", "list_team_members"}) {
		t.Fatal(names)
	}
	if prompts, err := h.client.ListPrompts(context.Background(), mcp.ListPromptsRequest{}); err == nil && len(prompts.Prompts) != 0 {
		t.Fatalf("read-only mode offers prompts: %v", prompts.Prompts)
	}
}

func TestBotChatMembers(t *testing.T) {
	h := newHarness(t)
	out := testkit.Structured[tools.BotChatMembersOutput](t, h.call(t, "bot_chat_members", map[string]any{"chat_id": 2725}))
	if out.Source != bitrix.MethodBotV2ChatUsers || out.Count != 6 || out.BotID != 456 || !slices.Contains(out.MemberIDs, 1300) {
		t.Fatalf("%+v", out)
	}
	// Over 200 members v2 cannot answer completely: the old method does.
	out = testkit.Structured[tools.BotChatMembersOutput](t, h.call(t, "bot_chat_members", map[string]any{"chat_id": 9002}))
	if out.Source != bitrix.MethodBotChatUserList || out.Count != 5002 || len(out.MemberIDs) != 5002 {
		t.Fatalf("large: source=%s count=%d", out.Source, out.Count)
	}
	testkit.WantToolError(t, h.call(t, "bot_chat_members", map[string]any{"chat_id": 3000}), "ACCESS_DENIED", "not a member")
	testkit.WantToolError(t, h.call(t, "bot_chat_members", map[string]any{"chat_id": 2725, "bot_id": 457}), "BOT_OWNERSHIP_ERROR", "Hint:")

	// Without a bot token on a webhook, v2 is skipped for v1.
	h2 := newHarness(t, func(c *app.Config) { c.Bitrix.BotToken = "" })
	out = testkit.Structured[tools.BotChatMembersOutput](t, h2.call(t, "bot_chat_members", map[string]any{"chat_id": 2725}))
	if out.Source != bitrix.MethodBotChatUserList || out.Count != 6 {
		t.Fatalf("%+v", out)
	}
	// No default bot and none given: the parameter is named.
	h3 := newHarness(t, func(c *app.Config) { c.Tools.BotID = 0 })
	h3.portal.ResetStats()
	testkit.WantToolError(t, h3.call(t, "bot_chat_members", map[string]any{"chat_id": 2725}), "bot_id", "BITRIX24_BOT_ID")
	if h3.portal.Stats().Requests != 0 {
		t.Fatal("sent a request without a bot id")
	}
}

func TestGetBotChat(t *testing.T) {
	h := newHarness(t)
	out := testkit.Structured[tools.GetBotChatOutput](t, h.call(t, "get_bot_chat", map[string]any{"dialog_id": "chat5"}))
	c := out.Chat
	if c.ID != 5 || c.Name != "Support Chat" || c.Owner != 456 || c.Role != "owner" || c.UserCounter != 3 ||
		c.LastMessageID == nil || *c.LastMessageID != 789 || c.MessageCount != 15 || c.DialogID != "chat5" {
		t.Fatalf("%+v", c)
	}
	out = testkit.Structured[tools.GetBotChatOutput](t, h.call(t, "get_bot_chat", map[string]any{"dialog_id": "chat2725"}))
	if !slices.Equal(out.Chat.ManagerIDs, []int{1271}) || !slices.Equal(out.Chat.MutedUserIDs, []int{1291}) || out.Chat.Role != "member" {
		t.Fatalf("%+v", out.Chat)
	}
	testkit.WantToolError(t, h.call(t, "get_bot_chat", map[string]any{"dialog_id": "chat3000"}), "ACCESS_DENIED", "not a member of chat3000")
}

func TestInvalidArgumentsNameTheParameter(t *testing.T) {
	h := newHarness(t)
	h.portal.ResetStats()
	for _, tc := range []struct {
		tool  string
		args  any
		parts []string
	}{
		{"list_dialog_users", map[string]any{}, []string{"dialog_id: required", "chat2935"}},
		{"list_dialog_users", map[string]any{"dialog_id": "general"}, []string{"dialog_id: has the wrong format", `"general"`}},
		{"list_dialog_users", map[string]any{"dialog_id": "chat1", "limit": 500}, []string{"limit: must be at most 200", "from 1 to 200"}},
		{"list_dialog_users", map[string]any{"dialog_id": "chat1", "limit": 2.5}, []string{"limit: must be a whole number"}},
		{"list_dialog_users", map[string]any{"dialog_id": "chat1", "fields": "everything"}, []string{"fields:", "compact, full"}},
		{"list_dialog_users", map[string]any{"dialog_id": "chat1", "keep_external_types": []string{"robots"}}, []string{"keep_external_types[0]"}},
		{"list_dialog_users", map[string]any{"dialog_id": "chat1", "dialogId": "x"}, []string{"dialogId: unknown parameter", "dialog_id"}},
		{"add_chat_users", map[string]any{"chat_id": 0, "user_ids": []int{1}}, []string{"chat_id: must be at least 1"}},
		{"add_chat_users", map[string]any{"chat_id": 5, "user_ids": []int{}}, []string{"user_ids: must have at least 1"}},
		{"add_chat_users", map[string]any{"chat_id": 5, "user_ids": []any{"99"}}, []string{"user_ids[0]: must be a number"}},
		{"add_chat_users", map[string]any{"chat_id": "5", "user_ids": []int{1}}, []string{"chat_id: must be a number"}},
		{"add_chat_users", map[string]any{"chat_id": 5, "user_ids": []int{1}, "hide_history": "no"}, []string{"hide_history: must be true or false"}},
		{"bot_chat_members", map[string]any{"chat_id": -1}, []string{"chat_id"}},
		{"get_bot_chat", map[string]any{"dialog_id": "sg5"}, []string{"dialog_id: has the wrong format"}},
		{"get_bot_chat", map[string]any{"dialog_id": "chat5", "bot_id": 0}, []string{"bot_id: must be at least 1"}},
	} {
		res := h.call(t, tc.tool, tc.args)
		testkit.WantToolError(t, res, append(tc.parts, "nothing was sent")...)
	}
	if st := h.portal.Stats(); st.Requests != 0 {
		t.Fatalf("invalid input reached the portal: %d requests", st.Requests)
	}
}

func TestConcurrentCallsAreIndependent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dialog := []string{"chat2935", "chat2725", "chat5", "chat9001"}[i%4]
			want := map[string]int{"chat2935": 5, "chat2725": 5, "chat5": 3, "chat9001": 441}[dialog]
			res := h.call(t, "list_dialog_users", map[string]any{"dialog_id": dialog, "all": true})
			out := testkit.Structured[tools.ListDialogUsersOutput](t, res)
			if out.Total != want || out.DialogID != dialog {
				errs <- dialog
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("wrong answer routed for %s", e)
	}
}

// Concurrent invitations of the same person to one chat: exactly one call
// reports them added, the others as already a member (each call's own
// users are added by it).
func TestConcurrentAddsReportEachUserOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	others := []int{1019, 1401, 1402, 1403, 3001, 1}
	outs := make([]tools.AddChatUsersOutput, len(others))
	var wg sync.WaitGroup
	for i, other := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{99, other}}))
		}()
	}
	wg.Wait()
	added := 0
	for i, out := range outs {
		if slices.Contains(out.Added, 99) {
			added++
		} else if !slices.Contains(out.AlreadyMembers, 99) {
			t.Errorf("call %d reports 99 neither added nor a member: %+v", i, out)
		}
		if !slices.Contains(out.Added, others[i]) {
			t.Errorf("call %d did not add its own %d: %+v", i, others[i], out)
		}
	}
	if added != 1 {
		t.Fatalf("%d of %d concurrent calls report 99 added; the portal added it once", added, len(others))
	}
}

// Many clients hand the model only the text content: it carries every datum.
func TestTextChannelCarriesTheData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.call(t, "bot_chat_members", map[string]any{"chat_id": 9002})
	members := testkit.Structured[tools.BotChatMembersOutput](t, res)
	line := "member_ids: " + strings.Trim(strings.ReplaceAll(fmt.Sprint(members.MemberIDs), " ", ","), "[]")
	if members.Truncated || len(members.MemberIDs) != 5002 || !strings.Contains(testkit.Text(res), line) {
		t.Fatalf("bot_chat_members text lacks the ids: %.300s", testkit.Text(res))
	}

	res = h.call(t, "get_bot_chat", map[string]any{"dialog_id": "chat2725"})
	for _, want := range []string{"\nid: 2725\n", "\nname: Project Alpha\n", "\nowner: ", "\nuser_counter: ", "\nmanager_ids: 1271\n", "\nmuted_user_ids: 1291\n", "\nrole: member\n"} {
		if !strings.Contains(testkit.Text(res), want) {
			t.Fatalf("get_bot_chat text lacks %q:\n%s", want, testkit.Text(res))
		}
	}

	res = h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291, 99, 777777}})
	for _, want := range []string{"\nadded: 1291\n", "\nalready_members: 99\n", "\nnot_added: 777777 (Bitrix24 accepted the id"} {
		if !strings.Contains(testkit.Text(res), want) {
			t.Fatalf("add_chat_users text lacks %q:\n%s", want, testkit.Text(res))
		}
	}

	res = h.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935", "fields": "full", "limit": 2})
	text := testkit.Text(res)
	if !strings.Contains(text, "\nusers (id | name | type | flags | position):\n1269 | Alexander Smith | user | ext=socservices | Sales Department Head | first_name=Alexander; last_name=Smith; email=a.smith@example.com") ||
		!strings.Contains(text, "personal_mobile=+19165554419") {
		t.Fatalf("full listing text:\n%s", text)
	}

	// bot_chat_members has no paging: past the budget it says how to get the rest.
	h2 := newHarness(t, func(c *app.Config) { c.Tools.MaxResultChars = 4000 })
	res = h2.call(t, "bot_chat_members", map[string]any{"chat_id": 9002})
	members = testkit.Structured[tools.BotChatMembersOutput](t, res)
	if !members.Truncated || members.Count != 5002 || len(members.MemberIDs) >= 5002 || !strings.Contains(testkit.Text(res), `fields="ids"`) {
		t.Fatalf("small budget: truncated=%v count=%d ids=%d", members.Truncated, members.Count, len(members.MemberIDs))
	}
}

// An invitation whose answer is lost is verified, not guessed: the users
// were added, and the result says so (and that the answer was lost).
func TestAddChatUsersAnswerLost(t *testing.T) {
	h := newHarness(t)
	h.portal.LoseAnswers(bitrix.MethodChatUserAdd, 100)
	res := h.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291, 777777}})
	out := testkit.Structured[tools.AddChatUsersOutput](t, res)
	if !slices.Equal(out.Added, []int{1291}) || len(out.NotAdded) != 1 || !slices.Contains(h.portal.Members(2935), 1291) {
		t.Fatalf("%+v", out)
	}
	text := testkit.Text(res)
	if !strings.Contains(text, "answer to the invitation was lost") || strings.Contains(text, "retried") || !strings.Contains(text, "attempt(s)") {
		t.Fatalf("the text must say the answer was lost and how many requests were tried:\n%s", text)
	}
	if n := h.portal.Stats().AddUserCalls; n != 1 {
		t.Fatalf("the write was sent %d times: a write whose answer is lost is verified, not resent", n)
	}
}

// A chat's summary names its type once ("chat chat" read oddly).
func TestChatSummaries(t *testing.T) {
	h := newHarness(t)
	for tool, args := range map[string]map[string]any{"get_bot_chat": {"dialog_id": "chat5"}, "get_chat": {"dialog_id": "chat2935"}} {
		first, _, _ := strings.Cut(testkit.Text(h.call(t, tool, args)), "\n")
		if strings.Contains(first, "chat chat") || !strings.Contains(first, "(type chat)") {
			t.Fatalf("%s: %q", tool, first)
		}
	}
}

// Claude Code keeps a tool's result in the conversation up to 50,000
// characters, or up to what the tool declares in its _meta
// (anthropic/maxResultSizeChars). With the default budget nothing reaches
// 50,000 and nothing is declared; with a raised one the listing tools
// declare it, and no result passes what they declare.
func TestClaudeCodeKeepsResultsInline(t *testing.T) {
	t.Parallel()
	largest := func(h *harness) (biggest int) {
		for _, args := range []map[string]any{
			{"dialog_id": "chat9002", "all": true, "max_users": 10000},
			{"dialog_id": "chat9002", "all": true, "max_users": 10000, "fields": "full"},
			{"dialog_id": "chat9002", "all": true, "fields": "ids"},
		} {
			res := h.call(t, "list_dialog_users", args)
			raw, _ := json.Marshal(res.StructuredContent)
			biggest = max(biggest, len(raw), len(testkit.Text(res)))
		}
		// The team tools, on the largest team the demo has (the whole
		// structure: about 5,450 people) and its largest chat.
		for tool, args := range map[string]map[string]any{
			"list_team_members":      {"departments": []int{100}, "include_subdepartments": true, "limit": 500, "fields": "full"},
			"compare_chat_with_team": {"chat_id": 9002, "departments": []int{100}, "include_subdepartments": true, "user_ids": []int{1, 99}},
			"sync_chat_with_team":    {"chat_id": 9001, "departments": []int{100}, "include_subdepartments": true, "dry_run": true},
		} {
			res := h.call(t, tool, args)
			if res.IsError {
				t.Fatalf("%s: %s", tool, testkit.Text(res))
			}
			raw, _ := json.Marshal(res.StructuredContent)
			biggest = max(biggest, len(raw), len(testkit.Text(res)))
		}
		return biggest
	}
	declared := func(h *harness) map[string]int {
		list, err := h.client.ListTools(context.Background(), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, tool := range list.Tools {
			if tool.Meta != nil {
				if v, ok := tool.Meta.AdditionalFields["anthropic/maxResultSizeChars"].(float64); ok {
					out[tool.Name] = int(v)
				}
			}
		}
		return out
	}
	h := newHarness(t)
	if got := largest(h); got > tools.DefaultMaxResultChars || got >= 50000 {
		t.Errorf("with the default budget the largest result is %d characters", got)
	}
	if d := declared(h); len(d) != 0 {
		t.Errorf("with the default budget, declared %v", d)
	}
	raised := newHarness(t, func(c *app.Config) { c.Tools.MaxResultChars = 150000 })
	d := declared(raised)
	if len(d) != 5 || d["list_dialog_users"] != 150000 || d["find_users"] != 150000 || d["bot_chat_members"] != 150000 ||
		d["list_team_members"] != 150000 || d["compare_chat_with_team"] != 150000 {
		t.Errorf("with BITRIX24_MAX_RESULT_CHARS=150000, declared %v", d)
	}
	if got := largest(raised); got > d["list_dialog_users"] || got < 100000 {
		t.Errorf("the largest result with 150000 allowed: %d characters (declared %d)", got, d["list_dialog_users"])
	} else {
		t.Logf("largest result with BITRIX24_MAX_RESULT_CHARS=150000: %d characters, declared %d", got, d["list_dialog_users"])
	}
}

// A hint speaks to whose credentials the server calls with: a webhook's
// user is told to use another webhook, an OAuth-signed server to sign in
// as someone else (a signed-in person is told to ask someone: package auth).
func TestHintsSpeakToTheCredentials(t *testing.T) {
	t.Parallel()
	webhook := newHarness(t)
	testkit.WantToolError(t, webhook.call(t, "add_chat_users", map[string]any{"chat_id": 74, "user_ids": []int{1019}}), "ACCESS_DENIED_EXTEND", "use a webhook of one of them")
	oauth := newHarness(t, func(c *app.Config) {
		p := webhook.portal
		access, refresh := p.Tokens()
		f := p.Fixture()
		c.Bitrix.WebhookURL = ""
		c.Bitrix.OAuth = &bitrix.OAuthConfig{ClientEndpoint: p.ClientEndpoint(), AccessToken: bitrix.Secret(access), RefreshToken: bitrix.Secret(refresh),
			ClientID: f.OAuth.ClientID, ClientSecret: bitrix.Secret(f.OAuth.ClientSecret), TokenURL: p.TokenURL(), TokenFile: filepath.Join(t.TempDir(), "tokens.json")}
	})
	res := oauth.call(t, "add_chat_users", map[string]any{"chat_id": 74, "user_ids": []int{1019}})
	testkit.WantToolError(t, res, "ACCESS_DENIED_EXTEND", "sign the server in (bitrix24-chat-mcp login) as one of them")
	if strings.Contains(testkit.Text(res), "webhook") {
		t.Errorf("an OAuth-signed server is told about webhooks: %s", testkit.Text(res))
	}
}
