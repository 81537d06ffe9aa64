package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// Teams: the people of departments (with their sub-departments or not),
// of workgroups and projects, and named one by one, in any union. What
// list_team_members, compare_chat_with_team and sync_chat_with_team share.

// TeamInput names a team. At least one of departments, workgroups, user_ids.
type TeamInput struct {
	Departments    []int `json:"departments,omitempty" jsonschema:"maxItems=50,minimum=1" jsonschema_description:"Department ids (find_teams finds them by name): their people are in the team."`
	Subdepartments bool  `json:"include_subdepartments,omitempty" jsonschema:"default=false" jsonschema_description:"Also the people of every sub-department of departments, all the way down the company structure. Off by default: only the departments named."`
	Workgroups     []int `json:"workgroups,omitempty" jsonschema:"maxItems=20,minimum=1" jsonschema_description:"Workgroup or project ids (find_teams finds them by name): their participants (owner, moderators, members) are in the team."`
	UserIDs        []int `json:"user_ids,omitempty" jsonschema:"maxItems=500,minimum=1" jsonschema_description:"Single users to count in the team as well, by id."`
	Inactive       bool  `json:"include_inactive,omitempty" jsonschema:"default=false" jsonschema_description:"Also dismissed (inactive) users. Off by default: only active users are in the team."`
}

// Bounds of a team, so that one call cannot read a whole portal without end.
const (
	maxStructure       = 10000 // departments read from the company structure
	maxTeamDepartments = 1000  // departments in one team, sub-departments included
	maxTeamPeople      = 20000 // people in one team
)

// TeamSource is one part of a team, as the result names it.
type TeamSource struct {
	Kind       string `json:"kind" jsonschema:"required,enum=department,enum=workgroup,enum=users"`
	ID         int    `json:"id,omitempty" jsonschema_description:"The department's or workgroup's id."`
	Name       string `json:"name,omitempty"`
	People     int    `json:"people" jsonschema:"required" jsonschema_description:"How many of the team's people it brings (before the union)."`
	HeadIDs    []int  `json:"head_ids,omitzero" jsonschema_description:"A department's head(s)."`
	OwnerID    int    `json:"owner_id,omitempty" jsonschema_description:"A workgroup's owner."`
	Moderators []int  `json:"moderator_ids,omitzero" jsonschema_description:"A workgroup's moderators; its other participants are members."`
	Within     int    `json:"within,omitempty" jsonschema_description:"For a department named in departments: the sub-departments taken with it (include_subdepartments), or, without it, the sub-departments it has that were left out."`
}

// TeamParts is what a team tool's result says of the team itself.
type TeamParts struct {
	Teams    []TeamSource `json:"teams" jsonschema:"required" jsonschema_description:"Each part of the team with the people it brings; a workgroup's owner and moderators, and in list_team_members a department's head(s)."`
	NotFound []int        `json:"not_found,omitzero" jsonschema_description:"user_ids no user has."`
	Inactive int          `json:"inactive_left_out,omitempty" jsonschema_description:"Dismissed workgroup participants and user_ids left out (include_inactive takes them); a department's dismissed people are not even read."`
}

// parts is the team as its result describes it.
func (t *team) parts() TeamParts {
	return TeamParts{Teams: t.sources, NotFound: t.notFound, Inactive: t.inactive}
}

// team is a resolved team: its people by id, and where they came from.
type team struct {
	people   map[int]bitrix.DialogUser
	sources  []TeamSource
	notFound []int // user_ids that no user has
	inactive int   // dismissed users left out
	requests int   // Bitrix24 requests it took
}

// sorted are the team's people by name, then id.
func (t *team) sorted() []bitrix.DialogUser {
	users := make([]bitrix.DialogUser, 0, len(t.people))
	for _, u := range t.people {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b bitrix.DialogUser) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return users
}

// sourcesLine words where the team came from, for the text channel.
func (t *team) sourcesLine() string {
	parts := make([]string, 0, len(t.sources))
	for _, s := range t.sources {
		switch s.Kind {
		case "department":
			p := fmt.Sprintf("department %d %q: %d", s.ID, s.Name, s.People)
			if len(s.HeadIDs) > 0 {
				p += ", head " + join(s.HeadIDs)
			}
			parts = append(parts, p)
		case "workgroup":
			p := fmt.Sprintf("workgroup %d %q: %d, owner %d", s.ID, s.Name, s.People, s.OwnerID)
			if len(s.Moderators) > 0 {
				p += ", moderators " + join(s.Moderators)
			}
			parts = append(parts, p)
		default:
			parts = append(parts, fmt.Sprintf("user_ids: %d", s.People))
		}
	}
	return "team: " + strings.Join(parts, "; ")
}

// refused is the result for a team named wrongly, before anything is read.
func (in TeamInput) refused(tool string) *mcp.CallToolResult {
	if len(in.Departments) == 0 && len(in.Workgroups) == 0 && len(in.UserIDs) == 0 {
		return invalidArguments(tool, "departments, workgroups, user_ids: name the team with at least one of them (find_teams finds departments and workgroups by name; find_users finds people)")
	}
	if in.Subdepartments && len(in.Departments) == 0 {
		return invalidArguments(tool, "include_subdepartments: applies to departments, and none were given; pass departments too, or leave it out")
	}
	return nil
}

// resolveTeam reads a team from Bitrix24. A part that cannot be read ends
// the call with a result saying why: a team is read whole or not at all,
// since a partial one would make people look missing or extra.
// With heads, a department's heads are read too (one more request), to
// name them; a comparison has no use for them.
func resolveTeam(ctx context.Context, d *Deps, tool string, in TeamInput, heads bool) (*team, *mcp.CallToolResult) {
	if res := in.refused(tool); res != nil {
		return nil, res
	}
	t := &team{people: map[int]bitrix.DialogUser{}}
	c := d.client(ctx)
	if len(in.Departments) > 0 {
		if res := t.addDepartments(ctx, c, dedupe(in.Departments), in.Subdepartments, in.Inactive, heads); res != nil {
			return nil, res
		}
	}
	// Workgroup participants and single users come as ids: read who they
	// are (name, activity) in one go.
	unknown := map[int]bool{}
	groupMembers := map[int][]int{} // the ids a source names, by its index in t.sources
	if len(in.Workgroups) > 0 {
		groups, n, err := c.Workgroups(ctx, dedupe(in.Workgroups))
		t.requests += n
		if err != nil {
			return nil, workgroupErrorResult(ctx, err)
		}
		for _, g := range groups {
			src := TeamSource{Kind: "workgroup", ID: int(g.Group.ID), Name: g.Group.Name, People: len(g.Members)}
			for _, m := range g.Members {
				switch m.Role {
				case "A":
					src.OwnerID = int(m.UserID)
				case "E":
					src.Moderators = append(src.Moderators, int(m.UserID))
				}
				if _, ok := t.people[int(m.UserID)]; !ok {
					unknown[int(m.UserID)] = true
				}
				groupMembers[len(t.sources)] = append(groupMembers[len(t.sources)], int(m.UserID))
			}
			t.sources = append(t.sources, src)
		}
	}
	named := dedupe(in.UserIDs)
	for _, id := range named {
		if _, ok := t.people[id]; !ok {
			unknown[id] = true
		}
	}
	if len(in.UserIDs) > 0 {
		groupMembers[len(t.sources)] = named
		t.sources = append(t.sources, TeamSource{Kind: "users"})
	}
	if len(unknown) > 0 {
		ids := make([]int, 0, len(unknown))
		for id := range unknown {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		users, n, err := c.UsersByIDs(ctx, ids)
		t.requests += n
		if err != nil {
			return nil, bitrixErrorResult(ctx, err, nil)
		}
		found := map[int]bool{}
		for _, u := range users {
			found[int(u.ID)] = true
			t.add(u, in.Inactive)
		}
		for _, id := range named {
			if !found[id] && unknown[id] {
				t.notFound = append(t.notFound, id)
			}
		}
	}
	// A workgroup's (or user_ids') people are those left in the team:
	// active ones, unless include_inactive.
	for i, ids := range groupMembers {
		t.sources[i].People = 0
		for _, id := range ids {
			if _, ok := t.people[id]; ok {
				t.sources[i].People++
			}
		}
	}
	if len(t.people) > maxTeamPeople {
		return nil, errorResult(fmt.Sprintf("The team has more than %d people, more than one call handles; nothing was changed.\nHint: name a smaller team (fewer departments, or without include_subdepartments).", maxTeamPeople))
	}
	return t, nil
}

// add counts a user in the team, unless dismissed and not wanted.
func (t *team) add(u bitrix.DialogUser, inactive bool) {
	if u.Active != nil && !*u.Active && !inactive {
		t.inactive++
		return
	}
	t.people[int(u.ID)] = u
}

// addDepartments reads the structure, the departments' people (user.get,
// batched) and their heads (im.department.managers.get).
func (t *team) addDepartments(ctx context.Context, c *bitrix.Client, named []int, subdepartments, inactive, withHeads bool) *mcp.CallToolResult {
	structure, err := c.AllDepartments(ctx, maxStructure)
	if err != nil {
		return scopeErrorResult(ctx, err, "department", "reading the company structure")
	}
	t.requests += structure.Requests
	byID, children := index(structure.Items)
	var missing []int
	for _, id := range named {
		if _, ok := byID[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		report(ctx, OutcomeToolError, "")
		return errorResult(fmt.Sprintf("departments: no department has the id(s) %s in this portal's structure (department.get); nothing was changed.\nHint: find_teams lists the departments by name.", join(missing)))
	}
	// Each named department with its sub-departments (when asked), every
	// department once even where the structure repeats one.
	taken := map[int]bool{}
	var all []int
	for _, id := range named {
		tree := subtree(id, children)
		src := TeamSource{Kind: "department", ID: id, Name: byID[id].Name, Within: len(tree) - 1}
		if !subdepartments {
			tree = tree[:1]
		}
		for _, dep := range tree {
			if !taken[dep] {
				taken[dep] = true
				all = append(all, dep)
			}
		}
		t.sources = append(t.sources, src)
	}
	if len(all) > maxTeamDepartments {
		return errorResult(fmt.Sprintf("The team spans %d departments, more than the %d one call reads; nothing was changed.\nHint: name fewer departments, or leave include_subdepartments out.", len(all), maxTeamDepartments))
	}
	people, err := c.UsersOfDepartments(ctx, all, inactive, maxTeamPeople+1)
	if err != nil {
		return scopeErrorResult(ctx, err, "user_brief (or user)", "listing a department's people (user.get)")
	}
	t.requests += people.Requests
	inTree := func(deps []bitrix.FlexInt, tree map[int]bool) bool {
		return slices.ContainsFunc(deps, func(d bitrix.FlexInt) bool { return tree[int(d)] })
	}
	for i := range t.sources {
		src := &t.sources[i]
		if src.Kind != "department" {
			continue
		}
		tree := map[int]bool{src.ID: true}
		if subdepartments {
			for _, dep := range subtree(src.ID, children) {
				tree[dep] = true
			}
		}
		for _, u := range people.Items {
			if inTree(u.Departments, tree) {
				src.People++
			}
		}
	}
	for _, u := range people.Items {
		t.add(portalUser(u), inactive)
	}
	if !withHeads {
		return nil
	}
	// The heads, to name them: one request (im scope, which every tool
	// needs). Without them the team is the same, so a failure leaves them out.
	heads, err := c.DepartmentHeads(ctx, named)
	t.requests++
	if err == nil {
		for i := range t.sources {
			if t.sources[i].Kind == "department" {
				t.sources[i].HeadIDs = heads[t.sources[i].ID]
			}
		}
	}
	return nil
}

// index reads the company structure: each department by id, and the
// departments right below each one.
func index(structure []bitrix.Department) (byID map[int]bitrix.Department, children map[int][]int) {
	byID = make(map[int]bitrix.Department, len(structure))
	children = map[int][]int{}
	for _, dep := range structure {
		byID[int(dep.ID)] = dep
		if dep.Parent != 0 && dep.Parent != dep.ID {
			children[int(dep.Parent)] = append(children[int(dep.Parent)], int(dep.ID))
		}
	}
	return byID, children
}

// subtree is a department and every department below it, breadth first,
// each once (a structure with a loop still ends).
func subtree(root int, children map[int][]int) []int {
	out := []int{root}
	seen := map[int]bool{root: true}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i]] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// departmentPath is a department's place in the structure, root first:
// "Example Corp / Sales / Sales Europe".
func departmentPath(id int, byID map[int]bitrix.Department) string {
	var names []string
	seen := map[int]bool{}
	for cur := id; cur != 0 && !seen[cur]; {
		seen[cur] = true
		dep, ok := byID[cur]
		if !ok {
			break
		}
		names = append(names, dep.Name)
		cur = int(dep.Parent)
	}
	slices.Reverse(names)
	return strings.Join(names, " / ")
}

// scopeErrorResult is bitrixErrorResult, except that a missing scope is
// named, with where to add it in the words of whose credentials these are.
func scopeErrorResult(ctx context.Context, err error, scope, what string) *mcp.CallToolResult {
	e, ok := bitrix.AsError(err)
	if !ok || e.Code != bitrix.CodeInsufficientScope {
		return bitrixErrorResult(ctx, err, nil)
	}
	report(ctx, OutcomeToolError, e.Code)
	var hint string
	switch callFrom(ctx).creds {
	case viaSignedIn:
		hint = fmt.Sprintf("The server's Bitrix24 application lacks the %s scope; tell the server's operator, who adds it in the application's settings in Bitrix24 (then everyone signs in again).", scope)
	case viaOAuth:
		hint = fmt.Sprintf("Add the %s scope in the OAuth application's settings in Bitrix24, then sign the server in again (bitrix24-chat-mcp login).", scope)
	default:
		hint = fmt.Sprintf("Add the %s scope to the inbound webhook in Bitrix24 (Developer resources > the webhook > scopes), save, and try again; `bitrix24-chat-mcp check` lists what each missing scope turns off.", scope)
	}
	return errorResult(fmt.Sprintf("Bitrix24 error %s from %s: %s needs the %s scope, which the credentials lack (HTTP %d).\nHint: %s", e.Code, e.Method, what, scope, e.HTTPStatus, hint))
}

// workgroupErrorResult words a workgroup that could not be read: Bitrix24
// says "not found" alike for one that does not exist and one the caller
// may not see.
func workgroupErrorResult(ctx context.Context, err error) *mcp.CallToolResult {
	var we *bitrix.WorkgroupError
	if !errors.As(err, &we) {
		return scopeErrorResult(ctx, err, "sonet_group", "reading workgroups")
	}
	if we.Err.Code == bitrix.CodeInsufficientScope {
		return scopeErrorResult(ctx, we.Err, "sonet_group", "reading workgroups")
	}
	report(ctx, OutcomeToolError, "")
	who := "the credentials' user"
	if callFrom(ctx).creds == viaSignedIn {
		who = "you"
	}
	desc := we.Err.Description
	if we.Err.Code != "" {
		desc = we.Err.Code + ": " + desc
	}
	return errorResult(fmt.Sprintf("Workgroup %d could not be read (Bitrix24, %s: %s): it does not exist, or it is a secret group %s may not see. Nothing was changed.\nHint: find_teams lists the workgroups %s can see; a secret group's members must be named another way.",
		we.GroupID, we.Err.Method, desc, who, who))
}
