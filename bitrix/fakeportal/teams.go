package fakeportal

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Teams, as their pages describe them: department.get (the company
// structure), im.department.managers.get (its heads), user.get (users by
// filter, UF_DEPARTMENT among them), sonet_group.get and sonet_group.user.get
// (workgroups and projects, as the caller may see them). Each needs its
// scope, as a real portal does: insufficient_scope (HTTP 403) without it.

// teamScopes are the scopes each team method needs (any one of them).
var teamScopes = map[string][]string{
	"department.get":       {"department"},
	"user.get":             {"user", "user_brief", "user_basic"},
	"sonet_group.get":      {"sonet_group", "socialnetwork", "sonet"},
	"sonet_group.user.get": {"sonet_group", "socialnetwork", "sonet"},
}

// needScope refuses a method whose scope the credentials lack.
func (p *Portal) needScope(method string) *apiError {
	for _, s := range teamScopes[method] {
		for _, have := range p.fix.Scopes {
			if have == s {
				return nil
			}
		}
	}
	if teamScopes[method] == nil {
		return nil
	}
	return errf(403, "insufficient_scope", "The request requires higher privileges than provided by the webhook token")
}

// startParam is a list method's start (its page is 50 from there).
func startParam(params map[string]any) int {
	if v, ok := params["start"]; ok {
		return max0(intParam(v))
	}
	return max0(intParam(params["START"]))
}

// departmentGet is department.get: filters ID, NAME (the full name),
// PARENT, UF_HEAD and SORT; sort and order; 50 a page from START.
func (p *Portal) departmentGet(params map[string]any) (answer, *apiError) {
	if aerr := p.needScope("department.get"); aerr != nil {
		return answer{}, aerr
	}
	var found []Department
	for _, d := range p.fix.Structure {
		ok := true
		for key, field := range map[string]int{"ID": d.ID, "PARENT": d.Parent, "UF_HEAD": d.Head, "SORT": d.Sort} {
			if v, set := params[key]; set && str(v) != "" && intParam(v) != field {
				ok = false
			}
		}
		if v, set := params["NAME"]; set && str(v) != "" && str(v) != d.Name {
			ok = false
		}
		if ok {
			found = append(found, d)
		}
	}
	desc := strings.EqualFold(str(params["order"]), "DESC")
	by := strings.ToUpper(str(params["sort"]))
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		less := a.ID < b.ID
		switch by {
		case "NAME":
			less = a.Name < b.Name
		case "SORT":
			less = a.Sort < b.Sort
		case "PARENT":
			less = a.Parent < b.Parent
		}
		if desc {
			return !less
		}
		return less
	})
	page, total, next := pageOf(found, map[string]any{"OFFSET": startParam(params), "LIMIT": 50}, 50, 50)
	out := []map[string]any{}
	for _, d := range page {
		// As the page's example: ids as strings, SORT a number, no UF_HEAD
		// (im.department.managers.get tells the heads); the root has no parent.
		row := map[string]any{"ID": strconv.Itoa(d.ID), "NAME": d.Name, "SORT": d.Sort}
		if d.Parent != 0 {
			row["PARENT"] = strconv.Itoa(d.Parent)
		}
		out = append(out, row)
	}
	return answer{result: out, total: total, next: next}, nil
}

// departmentIDs reads an ID parameter that is an array or a string holding
// a JSON array (both documented for the im.department.* methods).
func departmentIDs(v any) []int {
	if s, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "[") {
		var ids []int
		if json.Unmarshal([]byte(s), &ids) == nil {
			return ids
		}
	}
	return intList(v)
}

// departmentManagers is im.department.managers.get without USER_DATA: an
// object keyed by department id, each with its head's id.
func (p *Portal) departmentManagers(who caller, params map[string]any) (answer, *apiError) {
	if u := p.users[who.userID]; u == nil || u.Bot || u.Extranet {
		return answer{}, errf(403, "ACCESS_ERROR", "Only intranet users have access to this method")
	}
	ids := departmentIDs(params["ID"])
	if len(ids) == 0 {
		return answer{}, errf(400, "ID_EMPTY", "Department ID can't be empty")
	}
	out := newOrdered()
	for _, id := range ids {
		for _, d := range p.fix.Structure {
			if d.ID == id && d.Head != 0 {
				out.set(strconv.Itoa(id), []int{d.Head})
			}
		}
	}
	if len(out.keys) == 0 {
		return answer{result: []any{}}, nil // PHP writes an empty map as []
	}
	return answer{result: out}, nil
}

// userGet is user.get: FILTER (ID, UF_DEPARTMENT, ACTIVE, USER_TYPE; a
// value may be a list), sort and order, select, 50 a page from start. Bots,
// e-mail users and Open Channels users are never listed.
func (p *Portal) userGet(params map[string]any) (answer, *apiError) {
	if aerr := p.needScope("user.get"); aerr != nil {
		return answer{}, aerr
	}
	filter, _ := params["FILTER"].(map[string]any)
	sets := map[string]map[int]bool{} // list filters, read once
	for k, v := range filter {
		set := map[int]bool{}
		for _, id := range intList(v) {
			set[id] = true
		}
		sets[strings.TrimLeft(k, "@=")] = set
	}
	var found []*User
	for _, u := range p.sortedUsers() {
		if u.Bot || u.ExternalAuthID == "email" || u.ExternalAuthID == "imconnector" || u.ExternalAuthID == "replica" {
			continue
		}
		ok := true
		for k, v := range filter {
			switch strings.TrimLeft(k, "@=") {
			case "ID":
				ok = ok && sets["ID"][u.ID]
			case "UF_DEPARTMENT":
				ok = ok && slices.ContainsFunc(u.Departments, func(d int) bool { return sets["UF_DEPARTMENT"][d] })
			case "ACTIVE":
				want := str(v)
				ok = ok && u.Active == (want == "Y" || want == "1" || want == "true")
			case "USER_TYPE":
				ok = ok && userType(u) == str(v)
			}
		}
		if ok {
			found = append(found, u)
		}
	}
	if strings.EqualFold(str(params["order"]), "DESC") {
		sort.SliceStable(found, func(i, j int) bool { return found[i].ID > found[j].ID })
	}
	page, total, next := pageOf(found, map[string]any{"OFFSET": startParam(params), "LIMIT": 50}, 50, 50)
	selected := map[string]bool{}
	for _, f := range stringList(params["select"]) {
		selected[f] = true
	}
	out := []map[string]any{}
	for _, u := range page {
		row := renderPortalUser(u, true)
		if len(selected) > 0 && !selected["*"] {
			for k := range row {
				if !selected[k] && k != "ID" {
					delete(row, k)
				}
			}
		}
		out = append(out, row)
	}
	return answer{result: out, total: total, next: next}, nil
}

func stringList(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, str(e))
		}
	case map[string]any:
		for _, e := range x {
			out = append(out, str(e))
		}
	case string:
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// roleOf is a user's role in a group: A owner, E moderator, K member, "" none.
func (g *Workgroup) roleOf(id int) string {
	switch {
	case g.Owner == id:
		return "A"
	case contains(g.Moderators, id):
		return "E"
	case contains(g.Members, id):
		return "K"
	}
	return ""
}

// visibleTo: a group shown in the list, or one the caller belongs to.
func (g *Workgroup) visibleTo(who caller) bool {
	return g.Visible || g.roleOf(who.userID) != ""
}

// sonetGroupGet is sonet_group.get: the groups the caller may see, FILTER
// (ID, NAME, %NAME, ACTIVE, VISIBLE, OPENED, CLOSED, PROJECT, OWNER_ID),
// GROUP_ID, ORDER (ID DESC by default), 50 a page from start.
func (p *Portal) sonetGroupGet(who caller, params map[string]any) (answer, *apiError) {
	if aerr := p.needScope("sonet_group.get"); aerr != nil {
		return answer{}, aerr
	}
	filter, _ := params["FILTER"].(map[string]any)
	if gid := intParam(params["GROUP_ID"]); gid > 0 {
		if filter == nil {
			filter = map[string]any{}
		}
		filter["ID"] = gid
	}
	yn := func(b bool) string {
		if b {
			return "Y"
		}
		return "N"
	}
	var found []*Workgroup
	for i := range p.fix.Workgroups {
		g := &p.fix.Workgroups[i]
		if !g.visibleTo(who) {
			continue
		}
		ok := true
		for k, v := range filter {
			switch k {
			case "ID", "=ID":
				ok = ok && contains(intList(v), g.ID)
			case "NAME", "=NAME":
				ok = ok && g.Name == str(v)
			case "%NAME":
				ok = ok && matches(g.Name, str(v))
			case "ACTIVE":
				ok = ok && str(v) == "Y"
			case "VISIBLE":
				ok = ok && str(v) == yn(g.Visible)
			case "OPENED":
				ok = ok && str(v) == yn(g.Opened)
			case "CLOSED":
				ok = ok && str(v) == yn(g.Closed)
			case "PROJECT":
				ok = ok && str(v) == yn(g.Project)
			case "OWNER_ID":
				ok = ok && intParam(v) == g.Owner
			}
		}
		if ok {
			found = append(found, g)
		}
	}
	order, _ := params["ORDER"].(map[string]any)
	sort.SliceStable(found, func(i, j int) bool { return found[i].ID > found[j].ID })
	if dir, ok := order["NAME"]; ok {
		desc := strings.EqualFold(str(dir), "DESC")
		sort.SliceStable(found, func(i, j int) bool { return (found[i].Name < found[j].Name) != desc })
	} else if dir, ok := order["ID"]; ok && strings.EqualFold(str(dir), "ASC") {
		sort.SliceStable(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	}
	page, total, next := pageOf(found, map[string]any{"OFFSET": startParam(params), "LIMIT": 50}, 50, 50)
	out := []map[string]any{}
	for _, g := range page {
		subject := "Workgroups"
		out = append(out, map[string]any{"ID": strconv.Itoa(g.ID), "SITE_ID": "s1", "NAME": g.Name, "DESCRIPTION": nil,
			"DATE_CREATE": "2026-03-19T15:01:27+02:00", "DATE_UPDATE": "2026-03-19T15:01:27+02:00", "ACTIVE": "Y",
			"VISIBLE": yn(g.Visible), "OPENED": yn(g.Opened), "CLOSED": yn(g.Closed), "SUBJECT_ID": "1",
			"OWNER_ID": strconv.Itoa(g.Owner), "KEYWORDS": nil, "NUMBER_OF_MEMBERS": strconv.Itoa(1 + len(g.Moderators) + len(g.Members)),
			"DATE_ACTIVITY": "2026-03-19T15:01:27+02:00", "SUBJECT_NAME": subject, "PROJECT": yn(g.Project), "IS_EXTRANET": yn(g.Extranet)})
	}
	return answer{result: out, total: total, next: next}, nil
}

// sonetGroupUserGet is sonet_group.user.get: the group's participants with
// their roles; a group the caller may not see is "not found", as one that
// does not exist (the error code is empty, as the page shows it).
func (p *Portal) sonetGroupUserGet(who caller, params map[string]any) (answer, *apiError) {
	if aerr := p.needScope("sonet_group.user.get"); aerr != nil {
		return answer{}, aerr
	}
	id := intParam(params["ID"])
	if id <= 0 {
		return answer{}, errf(400, "", "Wrong socialnetwork group ID")
	}
	for i := range p.fix.Workgroups {
		g := &p.fix.Workgroups[i]
		if g.ID != id || !g.visibleTo(who) {
			continue
		}
		out := []map[string]any{{"USER_ID": strconv.Itoa(g.Owner), "ROLE": "A"}}
		for _, m := range g.Moderators {
			out = append(out, map[string]any{"USER_ID": strconv.Itoa(m), "ROLE": "E"})
		}
		for _, m := range g.Members {
			out = append(out, map[string]any{"USER_ID": strconv.Itoa(m), "ROLE": "K"})
		}
		return answer{result: out}, nil
	}
	return answer{}, errf(400, "", "Socialnetwork group not found")
}
