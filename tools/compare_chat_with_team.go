package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// CompareChatWithTeamInput is compare_chat_with_team's arguments.
type CompareChatWithTeamInput struct {
	ChatID int `json:"chat_id" jsonschema:"required,minimum=1,example=2935" jsonschema_description:"Numeric id of the group chat (the N of chatN)."`
	TeamInput
}

// CompareChatWithTeamOutput is compare_chat_with_team's result.
type CompareChatWithTeamOutput struct {
	ChatID       int         `json:"chat_id" jsonschema:"required"`
	TeamSize     int         `json:"team_size" jsonschema:"required" jsonschema_description:"People in the team (each once)."`
	ChatMembers  int         `json:"chat_members" jsonschema:"required" jsonschema_description:"The chat's members, bots left out."`
	InStep       bool        `json:"in_step" jsonschema:"required" jsonschema_description:"true when nobody is missing and nobody is extra."`
	MissingCount int         `json:"missing_count" jsonschema:"required" jsonschema_description:"Team members who are not in the chat."`
	ExtraCount   int         `json:"extra_count" jsonschema:"required" jsonschema_description:"Chat members (bots left out) who are not in the team."`
	Missing      UserListing `json:"missing" jsonschema:"required" jsonschema_description:"Who is missing, by name, as far as the result size budget allows (missing_count says how many in all)."`
	Extra        UserListing `json:"extra" jsonschema:"required" jsonschema_description:"Who is extra, in join order, as far as the budget allows (extra_count says how many in all)."`
	Truncated    bool        `json:"truncated" jsonschema:"required" jsonschema_description:"true when missing or extra lists fewer than their count."`
	TeamParts
}

func compareChatWithTeamSpec() spec {
	return spec{
		name:  "compare_chat_with_team",
		title: "Compare a chat with a team",
		description: `Compare a chat's members with a team and say who is missing from the chat and who is in it but not in the team: the server reads both and does the comparison, so never compare lists yourself. The team is departments (with include_subdepartments, every sub-department too), workgroups or projects, and single user ids, in any union; active users only by default. Bots in the chat are never counted as extra.

The result gives both counts, whether the chat is in step, and the people missing and extra (compact rows, as list_dialog_users) as far as the result size allows. To add the missing (and, where the server allows removal, remove the extra), call sync_chat_with_team.

Example: {"chat_id": 2935, "departments": [2], "include_subdepartments": true}`,
		readOnly:   true,
		idempotent: true,
		openWorld:  true,
		budgeted:   true,
		input:      CompareChatWithTeamInput{},
		output:     CompareChatWithTeamOutput{},
		run:        typed(compareChatWithTeam),
	}
}

// teamDiff is a team against a chat's membership.
type teamDiff struct {
	team    *team
	members []bitrix.DialogUser // the chat's members, join order, bots left out
	missing []bitrix.DialogUser // in the team, not in the chat, by name
	extra   []bitrix.DialogUser // in the chat, not in the team, join order
}

// diffChatWithTeam reads the team and the chat's membership (at once: the
// two reads may share a batch request) and compares them.
func diffChatWithTeam(ctx context.Context, d *Deps, tool string, chatID int, in TeamInput) (*teamDiff, *mcp.CallToolResult) {
	if res := in.refused(tool); res != nil {
		return nil, res
	}
	type membership struct {
		all *bitrix.AllDialogUsers
		err error
	}
	read := make(chan membership, 1)
	go func() {
		all, err := d.client(ctx).DialogUsersAll(ctx, bitrix.DialogUsersQuery{DialogID: fmt.Sprintf("chat%d", chatID)}, maxMembership, nil)
		read <- membership{all, err}
	}()
	t, res := resolveTeam(ctx, d, tool, in, false)
	m := <-read
	if res != nil {
		return nil, res
	}
	if m.err != nil {
		return nil, bitrixErrorResult(ctx, m.err, nil)
	}
	t.requests += m.all.Requests
	diff := &teamDiff{team: t}
	inChat := make(map[int]bool, len(m.all.Users))
	for _, u := range m.all.Users {
		inChat[int(u.ID)] = true
		if u.Bot {
			continue
		}
		diff.members = append(diff.members, u)
		if _, ok := t.people[int(u.ID)]; !ok {
			diff.extra = append(diff.extra, u)
		}
	}
	for _, u := range t.sorted() {
		if !inChat[int(u.ID)] {
			diff.missing = append(diff.missing, u)
		}
	}
	return diff, nil
}

func compareChatWithTeam(ctx context.Context, d *Deps, in CompareChatWithTeamInput) *mcp.CallToolResult {
	diff, res := diffChatWithTeam(ctx, d, "compare_chat_with_team", in.ChatID, in.TeamInput)
	if res != nil {
		return res
	}
	t := diff.team
	out := CompareChatWithTeamOutput{ChatID: in.ChatID, TeamSize: len(t.people), ChatMembers: len(diff.members),
		MissingCount: len(diff.missing), ExtraCount: len(diff.extra), TeamParts: t.parts()}
	out.InStep = out.MissingCount == 0 && out.ExtraCount == 0
	sources := t.sourcesLine()
	budget := d.maxResultChars() - max(len(sources), jsonLen(t.sources))
	var missingLines, extraLines []string
	// The missing first (what a sync would add), the extra in what is left.
	out.Missing, missingLines = listing(budget*2/3, diff.missing)
	used := jsonLen(out.Missing)
	out.Extra, extraLines = listing(budget-used, diff.extra)
	out.Truncated = len(missingLines) < out.MissingCount || len(extraLines) < out.ExtraCount

	summary := fmt.Sprintf("chat%d against a team of %d: %d missing from the chat, %d in the chat but not in the team (%d chat members, bots left out)",
		in.ChatID, out.TeamSize, out.MissingCount, out.ExtraCount, out.ChatMembers)
	if out.InStep {
		summary = fmt.Sprintf("chat%d is in step with the team: all %d are members and nobody else is (bots left out)", in.ChatID, out.TeamSize)
	}
	if out.Truncated {
		summary += fmt.Sprintf("; listed %d missing and %d extra (the result size budget)", len(missingLines), len(extraLines))
	}
	if out.Inactive > 0 {
		summary += fmt.Sprintf("; %d dismissed user(s) left out of the team", out.Inactive)
	}
	if len(out.NotFound) > 0 {
		summary += "; no user has the id(s) " + join(out.NotFound)
	}
	lines := []string{sources, "missing " + strings.TrimPrefix(usersHeader, "users ")}
	lines = append(lines, missingLines...)
	lines = append(lines, "extra "+strings.TrimPrefix(usersHeader, "users "))
	lines = append(lines, extraLines...)
	return dataResult(out, summary+".", strings.Join(lines, "\n"))
}

// listing is a compact listing of users within max characters a channel.
func listing(max int, users []bitrix.DialogUser) (UserListing, []string) {
	all := make([]DialogUser, len(users))
	for i, u := range users {
		all[i] = toDialogUser(u, false)
	}
	l, lines, _ := listUsers(max, all, false)
	if l.Rows == nil {
		l.Rows = []UserRow{}
	}
	return l, lines
}

// userIDs are users' ids, in order.
func userIDs(users []bitrix.DialogUser) []int {
	ids := make([]int, len(users))
	for i, u := range users {
		ids[i] = int(u.ID)
	}
	return ids
}

// without is ids less those in drop, in order.
func without(ids []int, drop ...int) []int {
	return slices.DeleteFunc(slices.Clone(ids), func(id int) bool { return slices.Contains(drop, id) })
}
