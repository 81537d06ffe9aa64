package tools_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

func TestFindUsers(t *testing.T) {
	h := newHarness(t)
	out := testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"query": "Peterson"}))
	if !slices.Equal(out.IDs(), []int{99}) || out.Source != "im.search.user.list" || out.Total != 1 {
		t.Fatalf("%+v", out)
	}
	// Paging through a position.
	out = testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"query": "Sales Manager", "limit": 2}))
	if len(out.Rows) != 2 || out.NextOffset == nil || *out.NextOffset != 2 || out.Total < 3 {
		t.Fatalf("page: %+v", out)
	}
	// Who are these ids?
	out = testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"ids": []int{1401, 99, 777777}}))
	if !slices.Equal(out.IDs(), []int{1401, 99}) || !slices.Equal(out.NotFound, []int{777777}) {
		t.Fatalf("ids: %+v", out)
	}
	// Filters through user.search: the sales managers of the Sales department.
	out = testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"department": "Sales", "position": "Sales Manager", "limit": 50}))
	if out.Source != "user.search" || !slices.Contains(out.IDs(), 1401) || !slices.Contains(out.IDs(), 1402) || slices.Contains(out.IDs(), 1403) {
		t.Fatalf("filters: %v", out.IDs())
	}
	// Bad combinations are refused with nothing sent.
	h.portal.ResetStats()
	for _, args := range []map[string]any{{}, {"query": "Nina", "ids": []int{1}}, {"query": "x"}, {"query": "Nina", "position": "Sales"}} {
		testkit.WantToolError(t, h.call(t, "find_users", args), "Invalid arguments", "nothing was sent")
	}
	if h.portal.Stats().Requests != 0 {
		t.Fatal("refused arguments reached the portal")
	}
}

func TestFindChats(t *testing.T) {
	h := newHarness(t)
	out := testkit.Structured[tools.FindChatsOutput](t, h.call(t, "find_chats", map[string]any{"query": "Sales"}))
	var ids []int
	for _, c := range out.Chats {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []int{4000, 2935}) || out.Chats[1].MemberCount != 5 || out.Chats[1].Owner != 1269 || out.Chats[1].DialogID != "chat2935" {
		t.Fatalf("search: %+v", out)
	}
	// Without a query: the recent chats, paged; the portal's pages overlap,
	// and nothing comes twice.
	var all []int
	offset := 0
	for range 10 {
		out = testkit.Structured[tools.FindChatsOutput](t, h.call(t, "find_chats", map[string]any{"offset": offset, "limit": 3}))
		for _, c := range out.Chats {
			all = append(all, c.ID)
		}
		if out.NextOffset == nil {
			break
		}
		offset = *out.NextOffset
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	if len(all) != 10 || len(slices.Compact(sorted)) != 10 || out.Source != "im.recent.list" {
		t.Fatalf("recent: %v", all)
	}
}

func TestGetChat(t *testing.T) {
	h := newHarness(t)
	c := testkit.Structured[tools.GetChatOutput](t, h.call(t, "get_chat", map[string]any{"dialog_id": "chat2935"})).Chat
	if c.ID != 2935 || c.Name != "Sales team" || c.Role != "owner" || c.UserCounter != 5 || !slices.Equal(c.ManagerIDs, []int{1269}) {
		t.Fatalf("%+v", c)
	}
	// A muted list written as an object keyed by id comes out as ids.
	c = testkit.Structured[tools.GetChatOutput](t, h.call(t, "get_chat", map[string]any{"dialog_id": "chat2725"})).Chat
	if !slices.Equal(c.MutedUserIDs, []int{1291}) || c.Role != "member" || c.Description != "Release planning" {
		t.Fatalf("%+v", c)
	}
	c = testkit.Structured[tools.GetChatOutput](t, h.call(t, "get_chat", map[string]any{"dialog_id": "sg12"})).Chat
	if c.ID != 88 {
		t.Fatalf("sg12: %+v", c)
	}
	testkit.WantToolError(t, h.call(t, "get_chat", map[string]any{"dialog_id": "chat3000"}), "ACCESS_ERROR", "cannot see chat3000")
}

func TestRemoveChatUsers(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
	// Dry run: nothing changes.
	out := testkit.Structured[tools.RemoveChatUsersOutput](t, h.call(t, "remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403, 1019}, "dry_run": true}))
	if !slices.Equal(out.Removed, []int{1403}) || !slices.Equal(out.NotMembers, []int{1019}) || h.portal.Stats().DeleteUserCalls != 0 {
		t.Fatalf("dry run: %+v", out)
	}
	// A client that cannot be asked: removed, verified.
	res := h.call(t, "remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403, 1019, 1403}})
	out = testkit.Structured[tools.RemoveChatUsersOutput](t, res)
	if !slices.Equal(out.Removed, []int{1403}) || !slices.Equal(out.NotMembers, []int{1019}) || slices.Contains(h.portal.Members(4000), 1403) {
		t.Fatalf("remove: %+v", out)
	}
	if !strings.Contains(testkit.Text(res), "\nremoved: 1403\nnot_members: 1019\n") {
		t.Fatalf("text: %s", testkit.Text(res))
	}
	// Not the owner or a manager: ACCESS_DENIED_KICK, per user, still members.
	out = testkit.Structured[tools.RemoveChatUsersOutput](t, h.call(t, "remove_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1291, 2002}}))
	if len(out.Removed) != 0 || len(out.NotRemoved) != 2 || !strings.Contains(out.NotRemoved[0].Reason, "ACCESS_DENIED_KICK") {
		t.Fatalf("kick refused: %+v", out)
	}
	if n := h.portal.Stats().DeleteUserCalls; n != 1 {
		t.Fatalf("%d removals: one refusal should stop the rest", n)
	}
}

// The allow-list covers removal, and removal is off unless enabled.
func TestRemoveAllowListAndOptIn(t *testing.T) {
	h := newHarness(t, func(c *app.Config) {
		c.Tools.EnableRemove = true
		c.Tools.AllowedChatIDs = map[int]bool{2935: true}
	})
	h.portal.ResetStats()
	testkit.WantToolError(t, h.call(t, "remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403}}), "BITRIX24_ALLOWED_CHAT_IDS")
	if h.portal.Stats().Requests != 0 {
		t.Fatal("a refused chat reached the portal")
	}
	off := newHarness(t)
	if slices.Contains(testkit.ToolNames(t, off.client), "remove_chat_users") {
		t.Fatal("remove_chat_users is registered without BITRIX24_ENABLE_REMOVE")
	}
}

// With a client that supports elicitation, removal asks first, naming the
// chat and the people: accept removes, decline sends nothing. Both protocol
// eras: the elicitation request (2025-11-25) and the input request in the
// result (2026-07-28).
func TestRemoveAsksFirst(t *testing.T) {
	for _, protocol := range []string{mcp.ProtocolVersion20251125, mcp.ProtocolVersion20260728} {
		t.Run(protocol, func(t *testing.T) {
			h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
			no := &answering{yes: false}
			c := h.connect(t, protocol, client.WithElicitationHandler(no))
			res := testkit.Call(t, c, "remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403}})
			testkit.WantToolError(t, res, "declined", "nothing was sent")
			if len(no.asked) != 1 || !strings.Contains(no.asked[0], "Kevin Moss (1403)") || !strings.Contains(no.asked[0], `"Sales floor"`) {
				t.Fatalf("asked: %q", no.asked)
			}
			if h.portal.Stats().DeleteUserCalls != 0 || !slices.Contains(h.portal.Members(4000), 1403) {
				t.Fatal("a declined removal reached the portal")
			}
			yes := &answering{yes: true}
			c = h.connect(t, protocol, client.WithElicitationHandler(yes))
			out := testkit.Structured[tools.RemoveChatUsersOutput](t, testkit.Call(t, c, "remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403}}))
			if len(yes.asked) != 1 || !slices.Equal(out.Removed, []int{1403}) || slices.Contains(h.portal.Members(4000), 1403) {
				t.Fatalf("accepted: asked %q, %+v", yes.asked, out)
			}
		})
	}
}

// Inviting more than BITRIX24_CONFIRM_OVER people asks first.
func TestLargeInviteAsksFirst(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.ConfirmOver = 2 })
	no := &answering{}
	c := h.connect(t, mcp.ProtocolVersion20251125, client.WithElicitationHandler(no))
	args := map[string]any{"chat_id": 4000, "user_ids": []int{1401, 1402, 1019}}
	testkit.WantToolError(t, testkit.Call(t, c, "add_chat_users", args), "declined", "nothing was sent")
	if h.portal.Stats().AddUserCalls != 0 || len(no.asked) != 1 || !strings.Contains(no.asked[0], "Invite 3 people") || !strings.Contains(no.asked[0], "Nina Novak (1401)") {
		t.Fatalf("declined: asked %q, %d add calls", no.asked, h.portal.Stats().AddUserCalls)
	}
	yes := &answering{yes: true}
	c = h.connect(t, mcp.ProtocolVersion20251125, client.WithElicitationHandler(yes))
	out := testkit.Structured[tools.AddChatUsersOutput](t, testkit.Call(t, c, "add_chat_users", args))
	if len(out.Added) != 3 {
		t.Fatalf("accepted: %+v", out)
	}
	// Two people need no confirmation.
	out = testkit.Structured[tools.AddChatUsersOutput](t, testkit.Call(t, c, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1401, 1402}}))
	if len(out.Added) != 2 || len(yes.asked) != 1 {
		t.Fatalf("small invite asked: %q", yes.asked)
	}
}

func TestInvitePrompt(t *testing.T) {
	h := newHarness(t)
	req := mcp.GetPromptRequest{}
	req.Params.Name = "invite_to_chat"
	req.Params.Arguments = map[string]string{"chat": "Sales floor", "people": "Catherine Peterson, Nina Novak"}
	res, err := h.client.GetPrompt(context.Background(), req)
	if err != nil || len(res.Messages) != 1 {
		t.Fatalf("%v %v", err, res)
	}
	text := res.Messages[0].Content.(mcp.TextContent).Text
	for _, want := range []string{"Sales floor", "Nina Novak", "find_chats", "find_users", "dry_run true", "add_chat_users",
		"find_teams", "sync_chat_with_team", "include_subdepartments", "still_missing"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the prompt lacks %q:\n%s", want, text)
		}
	}
	req.Params.Arguments = map[string]string{"chat": "Sales floor"}
	if _, err := h.client.GetPrompt(context.Background(), req); err == nil {
		t.Fatal("a missing argument must be refused")
	}
}

// The invite workflow by names only, through an MCP client: find the chat,
// find the people, dry run, add, then remove one.
func TestInviteWorkflowByNames(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
	chats := testkit.Structured[tools.FindChatsOutput](t, h.call(t, "find_chats", map[string]any{"query": "Sales floor"}))
	if len(chats.Chats) != 1 {
		t.Fatalf("chats: %+v", chats)
	}
	chat := chats.Chats[0].ID
	var ids []int
	for _, name := range []string{"Catherine Peterson", "Nina Novak", "Victor Lee"} {
		found := testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"query": name}))
		if len(found.IDs()) != 1 {
			t.Fatalf("%s: %+v", name, found)
		}
		ids = append(ids, found.IDs()[0])
	}
	preview := testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": chat, "user_ids": ids, "dry_run": true}))
	if !slices.Equal(preview.Added, []int{1401, 1402}) || !slices.Equal(preview.AlreadyMembers, []int{99}) || h.portal.Stats().AddUserCalls != 0 {
		t.Fatalf("preview: %+v", preview)
	}
	added := testkit.Structured[tools.AddChatUsersOutput](t, h.call(t, "add_chat_users", map[string]any{"chat_id": chat, "user_ids": ids}))
	members := h.portal.Members(chat)
	if !slices.Equal(added.Added, []int{1401, 1402}) || !slices.Contains(members, 1401) || !slices.Contains(members, 1402) {
		t.Fatalf("added: %+v, members %v", added, members)
	}
	gone := testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"query": "Kevin Moss"}))
	removed := testkit.Structured[tools.RemoveChatUsersOutput](t, h.call(t, "remove_chat_users", map[string]any{"chat_id": chat, "user_ids": []int{gone.IDs()[0]}}))
	if !slices.Equal(removed.Removed, []int{1403}) || slices.Contains(h.portal.Members(chat), 1403) {
		t.Fatalf("removed: %+v", removed)
	}
}

// im.search.user.list users carry no active and no type, and their birthday
// is "DD-MM" or false (im-search-user-list.md): find_users reads activity
// and type with im.user.list.get; when that read fails it says nothing about
// them rather than something false.
func TestFindUsersAsTheSearchAnswers(t *testing.T) {
	h := newHarness(t)
	res := h.call(t, "find_users", map[string]any{"query": "Sales", "fields": "full"})
	out := testkit.Structured[tools.FindUsersOutput](t, res)
	if len(out.Users) < 3 {
		t.Fatalf("%+v", out)
	}
	for _, u := range out.Users {
		if u.Active == nil || !*u.Active || u.Type == "" {
			t.Fatalf("user %d: active %v, type %q: read with im.user.list.get, both are known", u.ID, u.Active, u.Type)
		}
		if u.Birthday != nil {
			t.Fatalf("user %d: birthday %q where the portal said false", u.ID, *u.Birthday)
		}
	}
	peterson := testkit.Structured[tools.FindUsersOutput](t, h.call(t, "find_users", map[string]any{"query": "Peterson", "fields": "full"}))
	if b := peterson.Users[0].Birthday; b == nil || *b != "08-03" {
		t.Fatalf("Peterson's birthday: %v", b)
	}

	// The second read is lost: activity and type stay unknown, never false.
	h.portal.LoseAnswers("im.user.list.get", 100)
	res = h.call(t, "find_users", map[string]any{"query": "Sales"})
	text := testkit.Text(res)
	for _, r := range testkit.Structured[tools.FindUsersOutput](t, res).Rows {
		if r.Type != "" || strings.Contains(r.Flags, "inactive") {
			t.Fatalf("unknown activity and type must not be stated: %+v", r)
		}
	}
	if res.IsError || strings.Contains(text, "inactive") {
		t.Fatalf("unknown activity must not be stated:\n%s", text)
	}
	res = h.call(t, "find_users", map[string]any{"query": "Sales", "fields": "full"})
	if raw, _ := json.Marshal(res.StructuredContent); strings.Contains(string(raw), `"active"`) || strings.Contains(string(raw), `"type"`) {
		t.Fatalf("unknown activity must not be stated:\n%s", raw)
	}
	if !strings.Contains(text, " | ? | ") {
		t.Fatalf("an unknown type reads ?:\n%s", text)
	}
}

// The portal-wide ACCESS_DENIED (REST only on paid plans) shares its code
// with imbot.v2's "the bot is not in the chat": its hint must not say so.
func TestSystemAccessDeniedIsNotABotHint(t *testing.T) {
	h := newHarness(t)
	testkit.WantToolError(t, h.call(t, "get_bot_chat", map[string]any{"dialog_id": "chat3000"}), "ACCESS_DENIED", "not a member")
	h.portal.SetFreePlan(true)
	for _, tool := range []string{"get_bot_chat", "bot_chat_members"} {
		args := map[string]any{"dialog_id": "chat5"}
		if tool == "bot_chat_members" {
			args = map[string]any{"chat_id": 5}
		}
		res := h.call(t, tool, args)
		testkit.WantToolError(t, res, "ACCESS_DENIED", "plan")
		if strings.Contains(testkit.Text(res), "not a member") {
			t.Fatalf("%s: the plan's refusal got the bot hint:\n%s", tool, testkit.Text(res))
		}
	}
}

// An answer of the wrong shape where the tool needs the member (a user's
// id): a tool error naming the method and the member, whose hint does not
// blame the address; and nothing is written after such a read.
func TestWrongShapeWhereTheToolNeedsIt(t *testing.T) {
	p := portaltest.Start(t, nil)
	changed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, r)
		body := strings.ReplaceAll(rec.Body.String(), `"id":1269,`, `"id":"not-a-number",`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_, _ = w.Write([]byte(body))
	}))
	defer changed.Close()
	env := testkit.PortalEnv(p, map[string]string{"BITRIX24_RATE_LIMIT": "1000", "BITRIX24_RATE_BURST": "1000"})
	env["BITRIX24_WEBHOOK_URL"] = strings.Replace(env["BITRIX24_WEBHOOK_URL"], strings.TrimSuffix(p.ClientEndpoint(), "/rest/"), changed.URL, 1)
	a := testkit.Assemble(t, testkit.Config(t, env), app.Options{})
	c := testkit.InProcess(t, a, mcp.ProtocolVersion20251125)
	res := testkit.Call(t, c, "list_dialog_users", map[string]any{"dialog_id": "chat2935"})
	testkit.WantToolError(t, res, "BAD_RESULT", "im.dialog.users.list", "id", "not in the shape its documentation gives")
	if strings.Contains(testkit.Text(res), "portal URL") {
		t.Fatalf("the hint blames the address:\n%s", testkit.Text(res))
	}
	res = testkit.Call(t, c, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291}})
	testkit.WantToolError(t, res, "BAD_RESULT")
	if p.Stats().AddUserCalls != 0 {
		t.Fatal("a write followed a read that did not decode")
	}
}
