package bitrix

import (
	"context"
	"fmt"
)

// AllDialogUsers is the result of following im.dialog.users.list's pages.
type AllDialogUsers struct {
	Users      []DialogUser
	Total      int  // as the portal counted it on the first page
	NextOffset *int // where to continue when max stopped us early
	Requests   int  // HTTP requests it took
}

// Progress hears how far a multi-request operation has got.
type Progress func(done, total int)

// DialogUsersAll reads up to max participants from q.Offset on. The first
// page (200 users) learns total; the remaining pages travel in batch
// requests of up to 50 commands, so a chat of N members costs
// 1 + ceil((N-200)/10000) requests instead of N/200.
func (c *Client) DialogUsersAll(ctx context.Context, q DialogUsersQuery, max int, progress Progress) (*AllDialogUsers, error) {
	q.Limit, q.LastID = MaxPageSize, nil
	first, err := c.DialogUsers(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &AllDialogUsers{Requests: 1}
	if first.Total != nil {
		out.Total = *first.Total
	}
	seen := make(map[FlexInt]bool, min(out.Total, max))
	// add keeps a page's users until max is reached and says how many of
	// its rows it consumed, so that NextOffset resumes right after them.
	add := func(users []DialogUser) int {
		for i, u := range users {
			if len(out.Users) == max {
				return i
			}
			if !seen[u.ID] { // a row can repeat if members joined or left mid-read
				seen[u.ID] = true
				out.Users = append(out.Users, u)
			}
		}
		return len(users)
	}
	end := min(out.Total, q.Offset+max)
	next := q.Offset + add(first.Users)
	if progress != nil {
		progress(len(out.Users), min(out.Total-q.Offset, max))
	}
	for first.Next != nil && next < end && len(first.Users) > 0 {
		var cmds []BatchCommand
		queries := map[string]DialogUsersQuery{}
		for off := next; off < end && len(cmds) < MaxBatchCommands; off += MaxPageSize {
			pq := q
			pq.Offset, pq.Limit = off, min(MaxPageSize, end-off)
			key := fmt.Sprintf("p%d", off)
			queries[key] = pq
			cmds = append(cmds, BatchCommand{Key: key, Method: MethodDialogUsersList, Params: pq.Params()})
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
			page, err := c.DecodeDialogUsers(r, queries[cmd.Key])
			if err != nil {
				return nil, err
			}
			next = queries[cmd.Key].Offset + add(page.Users)
			if page.Next == nil { // the chat shrank while we read it
				end = next
				break
			}
		}
		if progress != nil {
			progress(len(out.Users), min(out.Total-q.Offset, max))
		}
	}
	if next < out.Total {
		n := next
		out.NextOffset = &n
	}
	return out, nil
}
