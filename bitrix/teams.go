package bitrix

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Teams: the company structure (department.get, scope department), its
// heads (im.department.managers.get, scope im), users by department
// (user.get, scope user or user_brief) and workgroups with their members
// (sonet_group.get, sonet_group.user.get, scope sonet_group).
const (
	MethodDepartments        = "department.get"
	MethodDepartmentManagers = "im.department.managers.get"
	MethodUserGet            = "user.get"
	MethodWorkgroups         = "sonet_group.get"
	MethodWorkgroupMembers   = "sonet_group.user.get"
	ListPageSize             = 50 // the fixed page of the start-paged list methods
)

// Department is one unit of the company structure, as department.get gives it.
type Department struct {
	ID     FlexInt `json:"ID" b24:"required"`
	Name   string  `json:"NAME"`
	Sort   FlexInt `json:"SORT"`
	Parent FlexInt `json:"PARENT"` // 0 for the root, which has none
}

// Workgroup is a workgroup or project, as sonet_group.get gives it.
type Workgroup struct {
	ID       FlexInt     `json:"ID" b24:"required"`
	Name     string      `json:"NAME"`
	Project  string      `json:"PROJECT"` // Y for a project
	Active   string      `json:"ACTIVE"`
	Visible  string      `json:"VISIBLE"`
	Opened   string      `json:"OPENED"`
	Closed   string      `json:"CLOSED"` // Y when archived
	Owner    FlexInt     `json:"OWNER_ID"`
	Members  FlexInt     `json:"NUMBER_OF_MEMBERS"`
	Extranet string      `json:"IS_EXTRANET"`
	About    Opt[string] `json:"DESCRIPTION"`
}

// WorkgroupMember is a participant of a workgroup: ROLE A (owner), E
// (moderator) or K (member).
type WorkgroupMember struct {
	UserID FlexInt `json:"USER_ID" b24:"required"`
	Role   string  `json:"ROLE"`
}

// Listing is everything a list method gave, and what reading it cost.
type Listing[T any] struct {
	Items    []T
	Total    int
	Requests int  // HTTP requests it took
	Capped   bool // max stopped the read before the end
}

// listAll reads a start-paged list method (50 a page) up to max items: the
// first page learns the total, the other pages travel in batch requests of
// up to 50 pages, so N items cost 1 + ceil((N-50)/2500) requests.
func listAll[T any](ctx context.Context, c *Client, method, startKey string, params Params, max int, want string) (*Listing[T], error) {
	decode := func(r *Response) ([]T, error) {
		var items []T
		if err := c.decodeResult(method, r.Result, &items, want); err != nil {
			return nil, err
		}
		return items, nil
	}
	first, err := c.Call(ctx, method, params)
	if err != nil {
		return nil, err
	}
	items, err := decode(first)
	if err != nil {
		return nil, err
	}
	out := &Listing[T]{Items: items, Requests: 1, Total: len(items)}
	if first.Total != nil {
		out.Total = *first.Total
	}
	end := min(out.Total, max)
	next := len(items)
	for first.Next != nil && next < end && len(items) > 0 {
		var cmds []BatchCommand
		for start := next; start < end && len(cmds) < MaxBatchCommands; start += ListPageSize {
			p := Params{startKey: start}
			for k, v := range params {
				if k != startKey {
					p[k] = v
				}
			}
			cmds = append(cmds, BatchCommand{Key: fmt.Sprintf("p%d", start), Method: method, Params: p})
		}
		res, err := c.Batch(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		out.Requests++
		for _, cmd := range cmds {
			r, err := res.answer(cmd)
			if err != nil {
				return nil, err
			}
			page, err := decode(r)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, page...)
			next += ListPageSize
			if len(page) < ListPageSize { // the list shrank while we read it
				end = next
				break
			}
		}
	}
	if len(out.Items) > max {
		out.Items = out.Items[:max:max]
	}
	out.Capped = len(out.Items) < out.Total && len(out.Items) == max
	return out, nil
}

// AllDepartments reads the company structure, up to max departments.
func (c *Client) AllDepartments(ctx context.Context, max int) (*Listing[Department], error) {
	return listAll[Department](ctx, c, MethodDepartments, "START", Params{"sort": "ID", "order": "ASC"}, max, "a list of departments")
}

// DepartmentHeads calls im.department.managers.get: each department's
// head(s), by department id (a department without one is left out).
func (c *Client) DepartmentHeads(ctx context.Context, ids []int) (map[int][]int, error) {
	r, err := c.Call(ctx, MethodDepartmentManagers, Params{"ID": ids})
	if err != nil {
		return nil, err
	}
	byID, err := section(r.Result) // an object by department id, or [] when none has a head
	if err != nil {
		return nil, badResult(MethodDepartmentManagers, "heads by department", err)
	}
	out := make(map[int][]int, len(byID))
	for key, raw := range byID {
		id, err := strconv.Atoi(key)
		if err != nil {
			continue
		}
		var heads []FlexInt
		if err := c.decodeResult(MethodDepartmentManagers, raw, &heads, "a list of user ids"); err != nil {
			return nil, err
		}
		out[id] = Ints(heads)
	}
	return out, nil
}

// userGetFields are the members user.get is asked for (select): what a
// listing shows, nothing more.
var userGetFields = []string{"ID", "ACTIVE", "NAME", "LAST_NAME", "WORK_POSITION", "EMAIL", "USER_TYPE", "UF_DEPARTMENT"}

// UsersOfDepartments calls user.get for the users of any of these
// departments (active ones only unless inactive), by id, up to max.
func (c *Client) UsersOfDepartments(ctx context.Context, departments []int, inactive bool, max int) (*Listing[PortalUser], error) {
	filter := map[string]any{"UF_DEPARTMENT": departments}
	if !inactive {
		filter["ACTIVE"] = true // "true excludes terminated users" (user-get.md)
	}
	p := Params{"FILTER": filter, "sort": "ID", "order": "ASC", "select": userGetFields}
	return listAll[PortalUser](ctx, c, MethodUserGet, "start", p, max, "a list of users")
}

// FindWorkgroups calls sonet_group.get for the workgroups and projects the
// caller may see whose name holds name (all, with ""), by name, 50 from start.
func (c *Client) FindWorkgroups(ctx context.Context, name string, start int) (*Page[Workgroup], error) {
	filter := map[string]any{"ACTIVE": "Y"}
	if name != "" {
		filter["%NAME"] = name
	}
	p := Params{"FILTER": filter, "ORDER": map[string]any{"NAME": "ASC"}}
	if start > 0 {
		p["start"] = start
	}
	r, err := c.Call(ctx, MethodWorkgroups, p)
	if err != nil {
		return nil, err
	}
	var groups []Workgroup
	if err := c.decodeResult(MethodWorkgroups, r.Result, &groups, "a list of workgroups"); err != nil {
		return nil, err
	}
	return &Page[Workgroup]{Items: groups, Total: r.Total, Next: r.Next}, nil
}

// WorkgroupMembers calls sonet_group.user.get: one workgroup's participants.
func (c *Client) WorkgroupMembers(ctx context.Context, groupID int) ([]WorkgroupMember, error) {
	return callFor[[]WorkgroupMember](ctx, c, MethodWorkgroupMembers, Params{"ID": groupID}, "a list of participants")
}

// WorkgroupTeam is one workgroup and its participants.
type WorkgroupTeam struct {
	Group   Workgroup
	Members []WorkgroupMember
}

// Workgroups reads these workgroups and their participants: for each, a
// sonet_group.get by GROUP_ID and a sonet_group.user.get, all of them in
// batch requests (25 groups a request). A group the caller may not see is an
// error naming it, as Bitrix24 words it ("not found"): a team is read whole
// or not at all.
func (c *Client) Workgroups(ctx context.Context, ids []int) ([]WorkgroupTeam, int, error) {
	out := make([]WorkgroupTeam, 0, len(ids))
	requests := 0
	for chunk := range slices.Chunk(ids, MaxBatchCommands/2) {
		var cmds []BatchCommand
		for _, id := range chunk {
			cmds = append(cmds,
				BatchCommand{Key: fmt.Sprintf("g%d", id), Method: MethodWorkgroups, Params: Params{"GROUP_ID": id}},
				BatchCommand{Key: fmt.Sprintf("m%d", id), Method: MethodWorkgroupMembers, Params: Params{"ID": id}})
		}
		res, err := c.Batch(ctx, cmds, false)
		if err != nil {
			return nil, requests, err
		}
		requests++
		for _, id := range chunk {
			for _, key := range []string{fmt.Sprintf("m%d", id), fmt.Sprintf("g%d", id)} {
				if e := res.Errors[key]; e != nil {
					e.Method = MethodWorkgroupMembers
					if key[0] == 'g' {
						e.Method = MethodWorkgroups
					}
					return nil, requests, &WorkgroupError{GroupID: id, Err: e}
				}
			}
			var groups []Workgroup
			if r := res.Results[fmt.Sprintf("g%d", id)]; r != nil {
				if err := c.decodeResult(MethodWorkgroups, r.Result, &groups, "a list of workgroups"); err != nil {
					return nil, requests, err
				}
			}
			if len(groups) == 0 {
				// Listed by nobody: it does not exist, or is hidden from the caller.
				return nil, requests, &WorkgroupError{GroupID: id, Err: &Error{Method: MethodWorkgroups, Code: "", Description: "Socialnetwork group not found"}}
			}
			var members []WorkgroupMember
			if r := res.Results[fmt.Sprintf("m%d", id)]; r != nil {
				if err := c.decodeResult(MethodWorkgroupMembers, r.Result, &members, "a list of participants"); err != nil {
					return nil, requests, err
				}
			}
			out = append(out, WorkgroupTeam{Group: groups[0], Members: members})
		}
	}
	return out, requests, nil
}

// WorkgroupError is a workgroup the caller could not read.
type WorkgroupError struct {
	GroupID int
	Err     *Error
}

func (e *WorkgroupError) Error() string { return fmt.Sprintf("workgroup %d: %v", e.GroupID, e.Err) }
func (e *WorkgroupError) Unwrap() error { return e.Err }

// UsersByIDs reads many users with im.user.list.get, 50 ids a command and
// the commands batched: up to 2,500 users a request. Unknown ids are left out.
func (c *Client) UsersByIDs(ctx context.Context, ids []int) ([]DialogUser, int, error) {
	if len(ids) <= ListPageSize {
		users, err := c.UsersByID(ctx, ids)
		return users, 1, err
	}
	var out []DialogUser
	requests := 0
	for big := range slices.Chunk(ids, ListPageSize*MaxBatchCommands) {
		var cmds []BatchCommand
		chunks := map[string][]int{}
		for part := range slices.Chunk(big, ListPageSize) {
			key := fmt.Sprintf("u%d", len(cmds))
			chunks[key] = part
			cmds = append(cmds, BatchCommand{Key: key, Method: MethodUsersByID, Params: Params{"ID": part}})
		}
		res, err := c.Batch(ctx, cmds, true)
		if err != nil {
			return nil, requests, err
		}
		requests++
		for _, cmd := range cmds {
			r, err := res.answer(cmd)
			if err != nil {
				return nil, requests, err
			}
			users, err := c.decodeUsersByID(r.Result, chunks[cmd.Key])
			if err != nil {
				return nil, requests, err
			}
			out = append(out, users...)
		}
	}
	return out, requests, nil
}
