package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// FindTeamsInput is find_teams' arguments.
type FindTeamsInput struct {
	Query string `json:"query,omitempty" jsonschema:"minLength=2,maxLength=100,example=Sales" jsonschema_description:"A fragment of the department's or workgroup's name (anywhere in it, any case). Leave it out to list them all (up to limit)."`
	Kind  string `json:"kind,omitempty" jsonschema:"maxLength=16,enum=any,enum=department,enum=workgroup,default=any" jsonschema_description:"department (the company structure), workgroup (workgroups and projects), or any."`
	Limit int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50,default=20" jsonschema_description:"At most this many of each kind."`
}

// FoundDepartment is a department of the company structure.
type FoundDepartment struct {
	ID             int    `json:"id" jsonschema:"required"`
	Name           string `json:"name" jsonschema:"required"`
	Path           string `json:"path" jsonschema:"required" jsonschema_description:"Its place in the structure, root first: \"Example Corp / Sales / Sales Europe\"."`
	ParentID       int    `json:"parent_id,omitempty" jsonschema_description:"Absent for the root."`
	HeadIDs        []int  `json:"head_ids,omitzero" jsonschema_description:"The department's head(s), when it has one."`
	Subdepartments int    `json:"subdepartments" jsonschema:"required" jsonschema_description:"How many departments are below it, at every depth (include_subdepartments takes them along)."`
}

// FoundWorkgroup is a workgroup or project the caller may see.
type FoundWorkgroup struct {
	ID       int    `json:"id" jsonschema:"required"`
	Name     string `json:"name" jsonschema:"required"`
	Project  bool   `json:"project,omitempty" jsonschema_description:"Present (true) for a project."`
	Members  int    `json:"members" jsonschema:"required" jsonschema_description:"Participants, as Bitrix24 counts them."`
	Secret   bool   `json:"secret,omitempty" jsonschema_description:"Present (true) when the group is hidden from the list: only its members see it."`
	Archived bool   `json:"archived,omitempty"`
	Extranet bool   `json:"extranet,omitempty"`
}

// FindTeamsOutput is find_teams' result.
type FindTeamsOutput struct {
	Departments       []FoundDepartment `json:"departments" jsonschema:"required"`
	Workgroups        []FoundWorkgroup  `json:"workgroups" jsonschema:"required"`
	DepartmentMatches int               `json:"department_matches" jsonschema:"required" jsonschema_description:"Departments matching in all (more than listed when over limit)."`
	WorkgroupMatches  int               `json:"workgroup_matches" jsonschema:"required"`
	Unavailable       []string          `json:"unavailable,omitzero" jsonschema_description:"A kind that could not be searched, and why (a scope the credentials lack)."`
}

func findTeamsSpec() spec {
	return spec{
		name:  "find_teams",
		title: "Find departments and workgroups",
		description: `Find teams by name: departments of the company structure (department.get) and workgroups or projects (sonet_group.get, only those the caller may see). Call it to turn "Marketing" or "the Website project" into the ids that list_team_members, compare_chat_with_team and sync_chat_with_team take.

Departments come with their path in the structure, their head and how many sub-departments they have; workgroups with their size and whether they are projects, secret or archived. Leave query out to list them all (up to limit).

Example: {"query": "Sales"}`,
		readOnly:   true,
		idempotent: true,
		openWorld:  true,
		input:      FindTeamsInput{},
		output:     FindTeamsOutput{},
		run:        typed(findTeams),
	}
}

func findTeams(ctx context.Context, d *Deps, in FindTeamsInput) *mcp.CallToolResult {
	limit := in.Limit
	if limit == 0 {
		limit = 20
	}
	kind := in.Kind
	if kind == "" {
		kind = "any"
	}
	out := FindTeamsOutput{Departments: []FoundDepartment{}, Workgroups: []FoundWorkgroup{}}
	var failures []func() *mcp.CallToolResult
	// A kind the credentials may not read: with kind any, the other is
	// still searched and the result says what was not; asked for alone, it
	// is the answer.
	unavailable := func(err error, scope, what string) {
		failures = append(failures, func() *mcp.CallToolResult { return scopeErrorResult(ctx, err, scope, what) })
		if e, ok := bitrix.AsError(err); ok && e.Code == bitrix.CodeInsufficientScope {
			out.Unavailable = append(out.Unavailable, fmt.Sprintf("%s: not searched, the credentials lack the %s scope", strings.SplitN(what, " ", 2)[0], scope))
		}
	}
	if kind != "workgroup" {
		if err := findDepartments(ctx, d, in.Query, limit, &out); err != nil {
			unavailable(err, "department", "departments (department.get)")
		}
	}
	if kind != "department" {
		if err := findWorkgroups(ctx, d, in.Query, limit, &out); err != nil {
			unavailable(err, "sonet_group", "workgroups (sonet_group.get)")
		}
	}
	// Every kind asked for failed, or one failed for another reason than a
	// scope: the failure is the answer.
	if len(failures) > 0 && (len(failures) == 2 || kind != "any" || len(out.Unavailable) < len(failures)) {
		return failures[0]()
	}

	var lines []string
	for _, dep := range out.Departments {
		line := fmt.Sprintf("department %d | %s | %s", dep.ID, cell(dep.Name), cell(dep.Path))
		if len(dep.HeadIDs) > 0 {
			line += " | head " + join(dep.HeadIDs)
		}
		lines = append(lines, line+fmt.Sprintf(" | %d sub-department(s)", dep.Subdepartments))
	}
	for _, g := range out.Workgroups {
		var tags []string
		for tag, on := range map[string]bool{"project": g.Project, "secret": g.Secret, "archived": g.Archived, "extranet": g.Extranet} {
			if on {
				tags = append(tags, tag)
			}
		}
		slices.Sort(tags)
		lines = append(lines, fmt.Sprintf("workgroup %d | %s | %d member(s)%s", g.ID, cell(g.Name), g.Members, orNone(", ", tags)))
	}
	for _, u := range out.Unavailable {
		lines = append(lines, "unavailable: "+u)
	}
	summary := fmt.Sprintf("%d department(s) and %d workgroup(s) found", out.DepartmentMatches, out.WorkgroupMatches)
	if len(out.Departments) < out.DepartmentMatches || len(out.Workgroups) < out.WorkgroupMatches {
		summary += fmt.Sprintf(" (the first %d of each listed: narrow the query)", limit)
	}
	return dataResult(out, summary+".", strings.Join(lines, "\n"))
}

// orNone is ", a, b" for tags, "" for none.
func orNone(sep string, tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return sep + strings.Join(tags, ", ")
}

// findDepartments searches the whole structure (read once: a portal has
// hundreds of departments, not thousands of pages) by name.
func findDepartments(ctx context.Context, d *Deps, query string, limit int, out *FindTeamsOutput) error {
	c := d.client(ctx)
	structure, err := c.AllDepartments(ctx, maxStructure)
	if err != nil {
		return err
	}
	byID, children := index(structure.Items)
	q := strings.ToLower(strings.TrimSpace(query))
	var found []FoundDepartment
	for _, dep := range structure.Items {
		if q != "" && !strings.Contains(strings.ToLower(dep.Name), q) {
			continue
		}
		found = append(found, FoundDepartment{ID: int(dep.ID), Name: dep.Name, Path: departmentPath(int(dep.ID), byID),
			ParentID: int(dep.Parent), Subdepartments: len(subtree(int(dep.ID), children)) - 1})
	}
	// The name itself first ("Sales" before "Sales Europe"), then by path.
	slices.SortStableFunc(found, func(a, b FoundDepartment) int {
		ae, be := strings.EqualFold(a.Name, q), strings.EqualFold(b.Name, q)
		if ae != be {
			if ae {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	out.DepartmentMatches = len(found)
	found = found[:min(limit, len(found))]
	if len(found) > 0 {
		ids := make([]int, len(found))
		for i, dep := range found {
			ids[i] = dep.ID
		}
		// The heads only annotate: without them the answer still stands.
		if heads, err := c.DepartmentHeads(ctx, ids); err == nil {
			for i := range found {
				found[i].HeadIDs = heads[found[i].ID]
			}
		} else {
			d.Log.Debug("find_teams: the departments' heads stay unknown", "error", err)
		}
	}
	out.Departments = append(out.Departments, found...)
	return nil
}

// findWorkgroups asks sonet_group.get, which lists only what the caller may see.
func findWorkgroups(ctx context.Context, d *Deps, query string, limit int, out *FindTeamsOutput) error {
	page, err := d.client(ctx).FindWorkgroups(ctx, strings.TrimSpace(query), 0)
	if err != nil {
		return err
	}
	out.WorkgroupMatches = len(page.Items)
	if page.Total != nil {
		out.WorkgroupMatches = *page.Total
	}
	for _, g := range page.Items[:min(limit, len(page.Items))] {
		out.Workgroups = append(out.Workgroups, FoundWorkgroup{ID: int(g.ID), Name: g.Name, Project: g.Project == "Y",
			Members: int(g.Members), Secret: g.Visible == "N", Archived: g.Closed == "Y", Extranet: g.Extranet == "Y"})
	}
	return nil
}
