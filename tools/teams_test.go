package tools_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// The demo portal without its generated chats: its departments then hold
// only the people the fixture names, so every team below is known by heart
// from testdata/portal.json (structure: Example Corp 100 > Engineering 1 >
// Analytics 121; Sales 2 > Sales Europe 122 > Key Accounts 123; HR 7...;
// workgroups: Website relaunch 11, Retro club 12, secret, which the
// webhook's user 1269 is not in; Partner portal 13).
func teamFixture(t *testing.T) *fakeportal.Fixture {
	fix := portaltest.DefaultFixture(t)
	fix.Large = nil
	return fix
}

func rows(l tools.UserListing) []int { ids := l.IDs(); slices.Sort(ids); return ids }

func TestFindTeams(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	out := testkit.Structured[tools.FindTeamsOutput](t, h.call(t, "find_teams", map[string]any{"query": "sales"}))
	if out.DepartmentMatches != 2 || len(out.Departments) != 2 || out.WorkgroupMatches != 0 {
		t.Fatalf("%+v", out)
	}
	sales, europe := out.Departments[0], out.Departments[1]
	if sales.ID != 2 || sales.Path != "Example Corp / Sales" || !slices.Equal(sales.HeadIDs, []int{1401}) || sales.Subdepartments != 2 || sales.ParentID != 100 {
		t.Errorf("the name itself first, with its path, head and sub-departments: %+v", sales)
	}
	if europe.ID != 122 || europe.Path != "Example Corp / Sales / Sales Europe" || europe.Subdepartments != 1 {
		t.Errorf("%+v", europe)
	}
	root := testkit.Structured[tools.FindTeamsOutput](t, h.call(t, "find_teams", map[string]any{"query": "Example", "kind": "department"}))
	if len(root.Departments) != 1 || root.Departments[0].ParentID != 0 || root.Departments[0].Subdepartments != 10 {
		t.Errorf("the root: %+v", root.Departments)
	}

	groups := testkit.Structured[tools.FindTeamsOutput](t, h.call(t, "find_teams", map[string]any{"kind": "workgroup"}))
	var names []string
	for _, g := range groups.Workgroups {
		names = append(names, g.Name)
	}
	// The secret Retro club is not listed to someone outside it.
	if !slices.Equal(names, []string{"Partner portal", "Website relaunch"}) || len(groups.Departments) != 0 {
		t.Fatalf("workgroups the webhook's user may see: %v", names)
	}
	site := groups.Workgroups[1]
	if site.ID != 11 || !site.Project || site.Members != 5 || site.Secret {
		t.Errorf("%+v", site)
	}
	text := testkit.Text(h.call(t, "find_teams", map[string]any{"query": "Website"}))
	if !strings.Contains(text, "workgroup 11 | Website relaunch | 5 member(s), project") {
		t.Errorf("text: %s", text)
	}
}

func TestListTeamMembers(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	list := func(args map[string]any) tools.ListTeamMembersOutput {
		t.Helper()
		return testkit.Structured[tools.ListTeamMembersOutput](t, h.call(t, "list_team_members", args))
	}
	// A department alone, then with its sub-departments (Victor Lee is in
	// Sales and in Key Accounts: listed once).
	alone := list(map[string]any{"departments": []int{2}})
	if !slices.Equal(rows(alone.UserListing), []int{1401, 1402}) || alone.Total != 2 {
		t.Fatalf("Sales alone: %v", rows(alone.UserListing))
	}
	if src := alone.Teams[0]; src.Kind != "department" || src.Name != "Sales" || src.People != 2 || !slices.Equal(src.HeadIDs, []int{1401}) || src.Within != 2 {
		t.Errorf("the department's part: %+v", src)
	}
	tree := list(map[string]any{"departments": []int{2}, "include_subdepartments": true})
	if !slices.Equal(rows(tree.UserListing), []int{1401, 1402, 1403}) {
		t.Fatalf("Sales with its sub-departments: %v", rows(tree.UserListing))
	}
	// The whole structure: everyone in a department, active only (Olga
	// Former, dismissed, in Accounting, is not read at all).
	whole := list(map[string]any{"departments": []int{100}, "include_subdepartments": true})
	if !slices.Equal(rows(whole.UserListing), []int{1, 99, 1019, 1269, 1271, 1291, 1401, 1402, 1403}) {
		t.Fatalf("the whole structure: %v", rows(whole.UserListing))
	}
	// A workgroup with its roles, in a union with a department and users.
	union := list(map[string]any{"departments": []int{2}, "workgroups": []int{11}, "user_ids": []int{1019, 777777, 1300}})
	if !slices.Equal(rows(union.UserListing), []int{99, 1019, 1269, 1271, 1291, 1401, 1402}) || union.Total != 7 {
		t.Fatalf("the union: %v", rows(union.UserListing))
	}
	if !slices.Equal(union.NotFound, []int{777777}) || union.Inactive != 1 {
		t.Errorf("not found %v, inactive left out %d", union.NotFound, union.Inactive)
	}
	group := union.Teams[1]
	if group.Kind != "workgroup" || group.OwnerID != 1269 || !slices.Equal(group.Moderators, []int{1271}) || group.People != 5 {
		t.Errorf("the workgroup's part: %+v", group)
	}
	with := list(map[string]any{"user_ids": []int{1300}, "include_inactive": true})
	if !slices.Equal(rows(with.UserListing), []int{1300}) {
		t.Errorf("include_inactive: %v", rows(with.UserListing))
	}
	// Pages, by name.
	first := list(map[string]any{"departments": []int{100}, "include_subdepartments": true, "limit": 4})
	if first.NextOffset == nil || *first.NextOffset != 4 || !first.Truncated || first.Rows[0].Name != "alexa shasha" {
		t.Errorf("first page: next %v, %v", first.NextOffset, first.Rows)
	}
}

// Bad teams are refused naming the parameter, before anything is read; an
// unknown department is refused naming it, and nothing is written.
func TestTeamRefusals(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"list_team_members", map[string]any{}, "departments, workgroups, user_ids: name the team"},
		{"list_team_members", map[string]any{"workgroups": []int{11}, "include_subdepartments": true}, "include_subdepartments: applies to departments"},
		{"compare_chat_with_team", map[string]any{"chat_id": 2935}, "name the team"},
		{"sync_chat_with_team", map[string]any{"chat_id": 2935, "user_ids": []int{1}, "remove_extra": true}, "remove_extra: this server does not remove people"},
		{"sync_chat_with_team", map[string]any{"chat_id": 2935, "user_ids": []int{1}, "add_missing": false}, "nothing to do"},
	} {
		res := h.call(t, tc.tool, tc.args)
		if !res.IsError || !strings.Contains(testkit.Text(res), tc.want) {
			t.Errorf("%s %v: %s", tc.tool, tc.args, testkit.Text(res))
		}
	}
	if n := h.portal.Stats().Requests; n != 0 {
		t.Fatalf("refused teams sent %d requests", n)
	}
	res := h.call(t, "sync_chat_with_team", map[string]any{"chat_id": 2935, "departments": []int{2, 999}})
	if !res.IsError || !strings.Contains(testkit.Text(res), "departments: no department has the id(s) 999") || !strings.Contains(testkit.Text(res), "find_teams") {
		t.Errorf("unknown department: %s", testkit.Text(res))
	}
	if n := h.portal.Stats().AddUserCalls; n != 0 {
		t.Fatalf("%d additions for a team that could not be read", n)
	}
}

// A secret workgroup is "not found" to someone outside it: the call says
// so, naming the group, and reads or changes nothing more. Its member sees it.
func TestWorkgroupTheCallerMayNotSee(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	for tool, args := range map[string]map[string]any{
		"list_team_members":   {"workgroups": []int{11, 12}},
		"sync_chat_with_team": {"chat_id": 2935, "workgroups": []int{11, 12}},
	} {
		res := h.call(t, tool, args)
		text := testkit.Text(res)
		if !res.IsError || !strings.Contains(text, "Workgroup 12 could not be read") || !strings.Contains(text, "Socialnetwork group not found") || !strings.Contains(text, "secret group the credentials' user may not see") {
			t.Errorf("%s: %s", tool, text)
		}
	}
	if n := h.portal.Stats().AddUserCalls; n != 0 {
		t.Fatalf("%d additions for a team read in part", n)
	}
	// The group's owner (user 1) sees it: a webhook of theirs.
	fix := teamFixture(t)
	fix.Webhook.UserID = 1
	member := newHarnessOn(t, fix)
	out := testkit.Structured[tools.ListTeamMembersOutput](t, member.call(t, "list_team_members", map[string]any{"workgroups": []int{12}}))
	if !slices.Equal(rows(out.UserListing), []int{1, 1403}) || out.Inactive != 1 {
		t.Fatalf("Retro club to its owner: %v (inactive left out %d)", rows(out.UserListing), out.Inactive)
	}
}

// A webhook without a team's scope: each tool names the scope it needs and
// where to add it; find_teams still searches what it may, and says what it
// could not.
func TestTeamScopes(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	h.portal.SetScopes("im", "imbot", "department")
	res := h.call(t, "find_teams", map[string]any{"query": "Sales"})
	out := testkit.Structured[tools.FindTeamsOutput](t, res)
	if len(out.Departments) != 2 || len(out.Unavailable) != 1 || !strings.Contains(out.Unavailable[0], "sonet_group scope") {
		t.Fatalf("find_teams without sonet_group: %+v", out)
	}
	for _, tc := range []struct {
		tool  string
		args  map[string]any
		scope string
	}{
		{"find_teams", map[string]any{"kind": "workgroup"}, "sonet_group"},
		{"list_team_members", map[string]any{"workgroups": []int{11}}, "sonet_group"},
		{"list_team_members", map[string]any{"departments": []int{2}}, "user_brief (or user)"},
		{"compare_chat_with_team", map[string]any{"chat_id": 2935, "departments": []int{2}}, "user_brief (or user)"},
	} {
		res := h.call(t, tc.tool, tc.args)
		text := testkit.Text(res)
		if !res.IsError || !strings.Contains(text, "insufficient_scope") || !strings.Contains(text, "needs the "+tc.scope+" scope") || !strings.Contains(text, "Developer resources > the webhook > scopes") {
			t.Errorf("%s without %s: %s", tc.tool, tc.scope, text)
		}
	}
	h.portal.SetScopes("im", "imbot", "user_brief")
	res = h.call(t, "sync_chat_with_team", map[string]any{"chat_id": 2935, "departments": []int{2}})
	if !res.IsError || !strings.Contains(testkit.Text(res), "needs the department scope") {
		t.Errorf("sync without department: %s", testkit.Text(res))
	}
	if n := h.portal.Stats().AddUserCalls; n != 0 {
		t.Fatalf("%d additions without the scopes", n)
	}
}

func TestCompareChatWithTeam(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	// Sales team (5 members, bot 456 and e-mail guest 2001 among them)
	// against the Website relaunch workgroup.
	res := h.call(t, "compare_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}})
	out := testkit.Structured[tools.CompareChatWithTeamOutput](t, res)
	if out.TeamSize != 5 || out.ChatMembers != 4 || out.InStep || out.Truncated {
		t.Fatalf("%+v", out)
	}
	if !slices.Equal(rows(out.Missing), []int{1291, 1401}) || out.MissingCount != 2 {
		t.Errorf("missing: %v", rows(out.Missing))
	}
	if !slices.Equal(rows(out.Extra), []int{2001}) || out.ExtraCount != 1 {
		t.Errorf("extra (the bot is never extra): %v", rows(out.Extra))
	}
	text := testkit.Text(res)
	if !strings.Contains(text, "2 missing from the chat, 1 in the chat but not in the team") || !strings.Contains(text, "1291 | Maria Jones") {
		t.Errorf("text: %s", text)
	}
	same := testkit.Structured[tools.CompareChatWithTeamOutput](t, h.call(t, "compare_chat_with_team", map[string]any{"chat_id": 74, "user_ids": []int{1, 1269}}))
	if !same.InStep || same.MissingCount+same.ExtraCount != 0 || len(same.Missing.Rows) != 0 {
		t.Errorf("in step: %+v", same)
	}
	if n := h.portal.Stats().AddUserCalls; n != 0 {
		t.Fatalf("compare wrote %d times", n)
	}
}

func TestSyncChatWithTeam(t *testing.T) {
	trail := filepath.Join(t.TempDir(), "audit.jsonl")
	h := newHarnessOn(t, teamFixture(t), func(c *app.Config) { c.AuditLog = trail })
	args := map[string]any{"chat_id": 2935, "workgroups": []int{11}}
	dry := testkit.Structured[tools.SyncChatWithTeamOutput](t, h.call(t, "sync_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}, "dry_run": true}))
	if !slices.Equal(dry.Added, []int{1291, 1401}) || dry.StillMissing != 0 || h.portal.Stats().AddUserCalls != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	out := testkit.Structured[tools.SyncChatWithTeamOutput](t, h.call(t, "sync_chat_with_team", args))
	if !slices.Equal(out.Added, []int{1291, 1401}) || out.StillMissing != 0 || out.StillExtra != 1 || out.InStep {
		t.Fatalf("%+v", out)
	}
	if m := h.portal.Members(2935); !slices.Contains(m, 1291) || !slices.Contains(m, 1401) || h.portal.Stats().AddUserCalls != 1 {
		t.Fatalf("members now %v, %d additions", m, h.portal.Stats().AddUserCalls)
	}
	// Already in step (as far as adding goes): nothing is written.
	again := h.call(t, "sync_chat_with_team", args)
	if got := testkit.Structured[tools.SyncChatWithTeamOutput](t, again); len(got.Added) != 0 || got.StillMissing != 0 || h.portal.Stats().AddUserCalls != 1 {
		t.Fatalf("again: %+v, %d additions", got, h.portal.Stats().AddUserCalls)
	}
	lines := readTrail(t, trail)
	if last := lines[len(lines)-1]; last.Event != "write" || !slices.Equal(last.Changed, []int{1291, 1401}) {
		t.Errorf("the trail: %+v", last)
	}
}

// Removing the extra: only with removal enabled, never the server's own
// user, and the outcome read back.
func TestSyncRemovesTheExtra(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t), func(c *app.Config) { c.Tools.EnableRemove = true })
	// Sales floor: 1269 (the webhook's user), 99, 1403; the team: 99 alone.
	res := h.call(t, "sync_chat_with_team", map[string]any{"chat_id": 4000, "user_ids": []int{99}, "remove_extra": true})
	out := testkit.Structured[tools.SyncChatWithTeamOutput](t, res)
	if !slices.Equal(out.Removed, []int{1403}) || len(out.NotRemoved) != 1 || out.NotRemoved[0].ID != 1269 || out.StillExtra != 1 {
		t.Fatalf("%+v", out)
	}
	if m := h.portal.Members(4000); !slices.Equal(m, []int{1269, 99}) {
		t.Fatalf("members now %v", m)
	}
}

// A team larger than BITRIX24_CONFIRM_OVER asks the human once for the
// whole change; a decline writes nothing; past BITRIX24_MAX_INVITE the rest
// waits for the next call.
func TestSyncAsksBeforeALargeChange(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t), func(c *app.Config) { c.Tools.ConfirmOver, c.Tools.MaxInvite = 2, 4 })
	// Project Alpha (chat 2725) has 3 of the whole structure's 9 people.
	args := map[string]any{"chat_id": 2725, "departments": []int{100}, "include_subdepartments": true}
	no := &answering{yes: false}
	decliner := h.connect(t, mcp.ProtocolVersion20251125, client.WithElicitationHandler(no))
	res := testkit.Call(t, decliner, "sync_chat_with_team", args)
	if !res.IsError || !strings.Contains(testkit.Text(res), "declined by the user") || len(no.asked) != 1 || h.portal.Stats().AddUserCalls != 0 {
		t.Fatalf("declined: %s (asked %v)", testkit.Text(res), no.asked)
	}
	if q := no.asked[0]; !strings.Contains(q, `"Project Alpha" (chat2725)`) || !strings.Contains(q, "invite 4 people") || !strings.Contains(q, "Example Corp") {
		t.Errorf("the question: %s", q)
	}
	yes := &answering{yes: true}
	accepter := h.connect(t, mcp.ProtocolVersion20251125, client.WithElicitationHandler(yes))
	out := testkit.Structured[tools.SyncChatWithTeamOutput](t, testkit.Call(t, accepter, "sync_chat_with_team", args))
	if len(out.Added) != 4 || out.StillMissing != 2 || len(yes.asked) != 1 {
		t.Fatalf("accepted: %+v (asked %v)", out, yes.asked)
	}
	text := testkit.Text(testkit.Call(t, accepter, "sync_chat_with_team", args))
	if !strings.Contains(text, "added 2") || !strings.Contains(text, "0 still missing") {
		t.Fatalf("the rest: %s", text)
	}
	if len(yes.asked) != 1 {
		t.Errorf("two more people are not over the cap of 2, yet the human was asked: %v", yes.asked)
	}
}

// "Who in Sales is not in the Sales floor chat yet, and add them", by
// names only: find the team and the chat, compare, add, and find it in step.
func TestTeamWorkflowByNames(t *testing.T) {
	h := newHarnessOn(t, teamFixture(t))
	teams := testkit.Structured[tools.FindTeamsOutput](t, h.call(t, "find_teams", map[string]any{"query": "Sales", "kind": "department"}))
	chats := testkit.Structured[tools.FindChatsOutput](t, h.call(t, "find_chats", map[string]any{"query": "Sales floor"}))
	if len(teams.Departments) == 0 || len(chats.Chats) != 1 {
		t.Fatalf("%+v %+v", teams, chats)
	}
	team := map[string]any{"chat_id": chats.Chats[0].ID, "departments": []int{teams.Departments[0].ID}, "include_subdepartments": true}
	before := testkit.Structured[tools.CompareChatWithTeamOutput](t, h.call(t, "compare_chat_with_team", team))
	if !slices.Equal(rows(before.Missing), []int{1401, 1402}) || !slices.Equal(rows(before.Extra), []int{99, 1269}) {
		t.Fatalf("before: missing %v, extra %v", rows(before.Missing), rows(before.Extra))
	}
	synced := testkit.Structured[tools.SyncChatWithTeamOutput](t, h.call(t, "sync_chat_with_team", team))
	if !slices.Equal(synced.Added, []int{1401, 1402}) || synced.StillExtra != 2 {
		t.Fatalf("sync: %+v", synced)
	}
	after := testkit.Structured[tools.CompareChatWithTeamOutput](t, h.call(t, "compare_chat_with_team", team))
	if after.MissingCount != 0 || after.ExtraCount != 2 {
		t.Fatalf("after: %+v", after)
	}
}

// A 2,000-person tree (51 departments) against a 2,570-member chat: the
// counts are exact, the lists stay within the result budget, and it takes
// six requests (the structure in two, its people in two, the chat in two),
// because every list after its first page travels in one batch request.
func TestBigTeamAgainstABigChat(t *testing.T) {
	h := newHarnessOn(t, bigTeamFixture(t))
	args := map[string]any{"chat_id": 7000, "departments": []int{9000}, "include_subdepartments": true}
	res := h.call(t, "compare_chat_with_team", args)
	out := testkit.Structured[tools.CompareChatWithTeamOutput](t, res)
	if out.TeamSize != 2000 || out.ChatMembers != 2570 || out.MissingCount != 500 || out.ExtraCount != 1070 || !out.Truncated {
		t.Fatalf("team %d, chat %d, missing %d, extra %d, truncated %v", out.TeamSize, out.ChatMembers, out.MissingCount, out.ExtraCount, out.Truncated)
	}
	if n := h.portal.Stats().Requests; n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if len(raw) > tools.DefaultMaxResultChars || len(testkit.Text(res)) > tools.DefaultMaxResultChars || len(out.Missing.Rows) < 300 {
		t.Errorf("structured %d, text %d characters, %d missing listed", len(raw), len(testkit.Text(res)), len(out.Missing.Rows))
	}
	// Everyone listed as missing really is missing, and in the team.
	members := h.portal.Members(7000)
	for _, r := range out.Missing.Rows {
		if slices.Contains(members, r.ID) || r.ID < 500000 || r.ID >= 502000 {
			t.Fatalf("%d is listed as missing", r.ID)
		}
	}
	// The sync adds the first BITRIX24_MAX_INVITE of them, asking nobody
	// (this client cannot be asked), and says how many remain.
	sync := testkit.Structured[tools.SyncChatWithTeamOutput](t, h.call(t, "sync_chat_with_team", args))
	if len(sync.Added) != tools.DefaultMaxInvite || sync.StillMissing != 500-tools.DefaultMaxInvite || sync.StillExtra != 1070 {
		t.Fatalf("added %d, still missing %d, still extra %d", len(sync.Added), sync.StillMissing, sync.StillExtra)
	}
}
