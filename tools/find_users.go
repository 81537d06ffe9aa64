package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// FindUsersInput is find_users' arguments: one of query, the filters, or ids.
type FindUsersInput struct {
	Query      string `json:"query,omitempty" jsonschema:"minLength=2,maxLength=100,example=Catherine Peterson" jsonschema_description:"A name, job title or department fragment (at least 2 characters), e.g. \"Peterson\" or \"sales\"."`
	Department string `json:"department,omitempty" jsonschema:"minLength=2,maxLength=100" jsonschema_description:"Only users of departments whose name has a word starting with this (Bitrix24 matches by full-text index or by prefix, not anywhere inside a word). With position, both must match. Not together with query or ids."`
	Position   string `json:"position,omitempty" jsonschema:"minLength=2,maxLength=100" jsonschema_description:"Only users whose job title has a word starting with this (full-text or prefix match, as Bitrix24 does it). Not together with query or ids."`
	IDs        []int  `json:"ids,omitempty" jsonschema:"minItems=1,maxItems=100,minimum=1" jsonschema_description:"Look these user ids up, to say who they are. Not together with query or the filters."`
	Offset     int    `json:"offset,omitempty" jsonschema:"minimum=0,maximum=100000,default=0" jsonschema_description:"How many matches to skip; pass next_offset from a previous result."`
	Limit      int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50,default=10" jsonschema_description:"Users per page (1-50)."`
	Fields     string `json:"fields,omitempty" jsonschema:"maxLength=16,enum=compact,enum=full,default=compact" jsonschema_description:"compact or full, as in list_dialog_users."`
}

// FindUsersOutput is find_users' result.
type FindUsersOutput struct {
	UserListing
	Total      int    `json:"total" jsonschema:"required" jsonschema_description:"Matches in all (with ids: how many of them exist)."`
	NextOffset *int   `json:"next_offset,omitempty" jsonschema_description:"Present only when more matches remain: pass it as offset."`
	Truncated  bool   `json:"truncated" jsonschema:"required"`
	NotFound   []int  `json:"not_found,omitzero" jsonschema_description:"With ids: the ids no user has."`
	Source     string `json:"source" jsonschema:"required,enum=im.search.user.list,enum=user.search,enum=im.user.list.get" jsonschema_description:"The Bitrix24 method that answered."`
}

func findUsersSpec() spec {
	return spec{
		name:  "find_users",
		title: "Find users by name, department or id",
		description: `Find Bitrix24 users by name, job title or department, or say who given user ids are. Call it before any tool that takes a user id, to turn names into ids.

Pass exactly one of: query (im.search.user.list: first name, last name, job title or department, at least 2 characters); department and/or position (user.search filters, active users only); or ids (im.user.list.get).
Pages hold up to 50 users; pass next_offset back as offset. Users come in the same compact or full shape as list_dialog_users, and the text content lists them one a line: id | name | type | flags | position.

Example: {"query": "Peterson"}`,
		readOnly:   true,
		idempotent: true,
		budgeted:   true,
		openWorld:  true,
		input:      FindUsersInput{},
		output:     FindUsersOutput{},
		run:        typed(findUsers),
	}
}

func findUsers(ctx context.Context, d *Deps, in FindUsersInput) *mcp.CallToolResult {
	modes := 0
	for _, set := range []bool{in.Query != "", in.Department != "" || in.Position != "", len(in.IDs) > 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return invalidArguments("find_users", "query, department/position, ids: pass exactly one of them (a name fragment in query, filters in department and position, or user ids in ids)")
	}
	limit := in.Limit
	if limit == 0 {
		limit = 10
	}
	full := in.Fields == "full"
	out := FindUsersOutput{}
	var found []bitrix.DialogUser
	switch {
	case in.Query != "":
		page, err := d.client(ctx).SearchUsers(ctx, in.Query, in.Offset, limit)
		if err != nil {
			return bitrixErrorResult(ctx, err, map[string]string{"FIND_SHORT": "query must be at least 2 characters long."})
		}
		found, out.NextOffset, out.Source = page.Items, page.Next, bitrix.MethodSearchUsers
		out.Total = len(found) + in.Offset
		if page.Total != nil {
			out.Total = *page.Total
		}
		found = withActivity(ctx, d, found)
	case len(in.IDs) > 0:
		ids := dedupe(in.IDs)
		users, err := d.client(ctx).UsersByID(ctx, ids)
		if err != nil {
			return bitrixErrorResult(ctx, err, nil)
		}
		found, out.Total, out.Source = users, len(users), bitrix.MethodUsersByID
		out.NotFound = []int{}
		for _, id := range ids {
			if !slices.ContainsFunc(users, func(u bitrix.DialogUser) bool { return int(u.ID) == id }) {
				out.NotFound = append(out.NotFound, id)
			}
		}
	default:
		// user.search pages by 50 from start: fetch the page holding offset.
		start := in.Offset / bitrix.UserSearchPageSize * bitrix.UserSearchPageSize
		page, err := d.client(ctx).SearchPortalUsers(ctx, bitrix.UserFilter{Department: in.Department, Position: in.Position}, start)
		if err != nil {
			return bitrixErrorResult(ctx, err, map[string]string{bitrix.CodeInsufficientScope: "user.search needs the user_brief (or user) scope: add it to the webhook or application."})
		}
		skip := min(in.Offset-start, len(page.Items))
		rest := page.Items[skip:]
		for _, u := range rest[:min(limit, len(rest))] {
			found = append(found, portalUser(u))
		}
		out.Source, out.Total = bitrix.MethodUserSearch, start+len(page.Items)
		if page.Total != nil {
			out.Total = *page.Total
		}
		if next := in.Offset + len(found); next < out.Total {
			out.NextOffset = &next
		}
	}

	all := make([]DialogUser, len(found))
	for i, raw := range found {
		all[i] = toDialogUser(raw, full)
	}
	var userLines []string
	var kept int
	out.UserListing, userLines, kept = listUsers(d.maxResultChars(), all, full)
	if kept < len(all) {
		next := in.Offset + kept
		out.NextOffset = &next
	}
	lines := append([]string{usersHeader}, userLines...)
	out.Truncated = out.NextOffset != nil
	summary := fmt.Sprintf("%d user(s) found (%d in all, via %s)", kept, out.Total, out.Source)
	if out.NextOffset != nil {
		summary += fmt.Sprintf("; more remain (next_offset %d)", *out.NextOffset)
	}
	if len(out.NotFound) > 0 {
		summary += "; no user has the id(s) " + join(out.NotFound)
		lines = append(lines, idsLine("not_found", out.NotFound))
	}
	return dataResult(out, summary+".", strings.Join(lines, "\n"))
}

// portalUser puts a user.search user in the im methods' shape.
func portalUser(u bitrix.PortalUser) bitrix.DialogUser {
	name := strings.TrimSpace(u.Name + " " + u.LastName)
	active := u.Active
	out := bitrix.DialogUser{ID: u.ID, Active: &active, Name: name, FirstName: u.Name, LastName: u.LastName,
		Type: bitrix.NormalizeUserType(u.UserType), Extranet: strings.EqualFold(u.UserType, "extranet"),
		Email: u.Email, Departments: u.Departments, ExternalAuthID: "default"}
	if u.WorkPosition != "" {
		out.WorkPosition = bitrix.Opt[string]{V: u.WorkPosition, Valid: true}
	}
	return out
}

// withActivity fills in what a search does not say: im.search.user.list
// users carry no active and no type, so they are read with
// im.user.list.get (one request; it joins a batch when calls queue). If
// that read fails they stay unknown, never guessed.
func withActivity(ctx context.Context, d *Deps, users []bitrix.DialogUser) []bitrix.DialogUser {
	if len(users) == 0 {
		return users
	}
	ids := make([]int, len(users))
	for i, u := range users {
		ids[i] = int(u.ID)
	}
	known, err := d.client(ctx).UsersByID(ctx, ids)
	if err != nil {
		d.Log.Debug("find_users: activity and type stay unknown", "error", err)
		return users
	}
	byID := make(map[bitrix.FlexInt]bitrix.DialogUser, len(known))
	for _, u := range known {
		byID[u.ID] = u
	}
	for i, u := range users {
		if k, ok := byID[u.ID]; ok {
			users[i].Active, users[i].Type = k.Active, k.Type
		}
	}
	return users
}
