package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// ListTeamMembersInput is list_team_members' arguments: a team, and a page of it.
type ListTeamMembersInput struct {
	TeamInput
	Offset int    `json:"offset,omitempty" jsonschema:"minimum=0,maximum=20000,default=0" jsonschema_description:"How many of the team (ordered by name) to skip; pass next_offset from a previous result."`
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=500,default=100" jsonschema_description:"People per page (1-500); a page also stops at the result size budget."`
	Fields string `json:"fields,omitempty" jsonschema:"maxLength=16,enum=compact,enum=full,default=compact" jsonschema_description:"compact or full, as in list_dialog_users."`
}

// ListTeamMembersOutput is list_team_members' result.
type ListTeamMembersOutput struct {
	UserListing
	Total      int  `json:"total" jsonschema:"required" jsonschema_description:"People in the team (the union: each person once)."`
	NextOffset *int `json:"next_offset,omitempty" jsonschema_description:"Present only when more people remain: pass it as offset."`
	Truncated  bool `json:"truncated" jsonschema:"required"`
	TeamParts
}

func listTeamMembersSpec() spec {
	return spec{
		name:  "list_team_members",
		title: "List a team's people",
		description: `List the people of a team: departments (with include_subdepartments, every sub-department too), workgroups or projects, and single user ids, in any union, each person once and active users only by default. Find the department and workgroup ids by name with find_teams first.

The result names each part of the team with its size, a department's head(s) and a workgroup's owner and moderators; people come in the same compact or full shape as list_dialog_users, ordered by name, and the text content lists them one a line: id | name | type | flags | position. Pass next_offset back as offset for the next page. To compare a team with a chat, use compare_chat_with_team rather than comparing lists yourself.

Example: {"departments": [2], "include_subdepartments": true}`,
		readOnly:   true,
		idempotent: true,
		openWorld:  true,
		budgeted:   true,
		input:      ListTeamMembersInput{},
		output:     ListTeamMembersOutput{},
		run:        typed(listTeamMembers),
	}
}

func listTeamMembers(ctx context.Context, d *Deps, in ListTeamMembersInput) *mcp.CallToolResult {
	t, res := resolveTeam(ctx, d, "list_team_members", in.TeamInput, true)
	if res != nil {
		return res
	}
	limit := in.Limit
	if limit == 0 {
		limit = 100
	}
	full := in.Fields == "full"
	people := t.sorted()
	out := ListTeamMembersOutput{Total: len(people), TeamParts: t.parts()}
	page := people[min(in.Offset, len(people)):]
	page = page[:min(limit, len(page))]
	all := make([]DialogUser, len(page))
	for i, u := range page {
		all[i] = toDialogUser(u, full)
	}
	// The team's parts travel too: the people get what they leave.
	sources := t.sourcesLine()
	var userLines []string
	var kept int
	out.UserListing, userLines, kept = listUsers(d.maxResultChars()-max(len(sources), jsonLen(t.sources)), all, full)
	if next := in.Offset + kept; next < len(people) {
		out.NextOffset = &next
	}
	out.Truncated = out.NextOffset != nil
	summary := fmt.Sprintf("%d people in the team; %d listed from offset %d", out.Total, kept, in.Offset)
	if out.NextOffset != nil {
		summary += fmt.Sprintf("; more remain (next_offset %d)", *out.NextOffset)
	}
	if out.Inactive > 0 {
		summary += fmt.Sprintf("; %d dismissed user(s) left out", out.Inactive)
	}
	if len(out.NotFound) > 0 {
		summary += "; no user has the id(s) " + join(out.NotFound)
	}
	lines := append([]string{sources, usersHeader}, userLines...)
	return dataResult(out, summary+".", strings.Join(lines, "\n"))
}
