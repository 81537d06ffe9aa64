package bitrix

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Method names of the people-and-chats directory, as sent.
const (
	MethodSearchUsers    = "im.search.user.list"
	MethodUserSearch     = "user.search"
	MethodUsersByID      = "im.user.list.get"
	MethodSearchChats    = "im.search.chat.list"
	MethodRecent         = "im.recent.list"
	MethodDialogGet      = "im.dialog.get"
	MethodChatUserDelete = "im.chat.user.delete"
	MaxSearchPage        = 50  // im.search.*.list's LIMIT cap
	UserSearchPageSize   = 50  // user.search's fixed page
	MaxRecentPage        = 200 // im.recent.list's LIMIT cap
)

// Page is one page of a list, with where to continue.
type Page[T any] struct {
	Items []T
	Total *int // when the portal counts
	Next  *int // the offset of the next page, when there is one
}

// SearchUsers calls im.search.user.list: users whose name, position or
// department matches find (at least 2 characters).
func (c *Client) SearchUsers(ctx context.Context, find string, offset, limit int) (*Page[DialogUser], error) {
	r, err := c.Call(ctx, MethodSearchUsers, Params{"FIND": find, "OFFSET": offset, "LIMIT": limit})
	if err != nil {
		return nil, err
	}
	// An object keyed by user id, or [] when nothing matched.
	byID, err := section(r.Result)
	if err != nil {
		return nil, badResult(MethodSearchUsers, "users by id", err)
	}
	page := &Page[DialogUser]{Total: r.Total, Next: r.Next}
	for _, raw := range byID {
		var u DialogUser
		if err := c.decodeResult(MethodSearchUsers, raw, &u, "users by id"); err != nil {
			return nil, err
		}
		page.Items = append(page.Items, u)
	}
	// JSON objects have no order: keep the portal's relevance order where it
	// gave one (ids in the answer's key order), else by id.
	order := keyOrder(r.Result)
	slices.SortStableFunc(page.Items, func(a, b DialogUser) int { return order[int(a.ID)] - order[int(b.ID)] })
	if limit > 0 && len(page.Items) > limit {
		page.Items = page.Items[:limit:limit]
	}
	return page, nil
}

// keyOrder maps an object's keys (user ids) to their position in the text.
func keyOrder(raw json.RawMessage) map[int]int {
	order := map[int]int{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return order
	}
	for i := 0; dec.More(); i++ {
		key, err := dec.Token()
		if err != nil {
			return order
		}
		if id, err := strconv.Atoi(key.(string)); err == nil {
			order[id] = i
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return order
		}
	}
	return order
}

// UserFilter narrows user.search.
type UserFilter struct {
	Department string // UF_DEPARTMENT_NAME
	Position   string // WORK_POSITION
}

// PortalUser is a user as user.search returns it (UPPER_CASE keys).
type PortalUser struct {
	ID           FlexInt   `json:"ID" b24:"required"`
	Active       bool      `json:"ACTIVE"`
	Name         string    `json:"NAME"`
	LastName     string    `json:"LAST_NAME"`
	WorkPosition string    `json:"WORK_POSITION"`
	Email        string    `json:"EMAIL"`
	UserType     string    `json:"USER_TYPE"`
	Departments  []FlexInt `json:"UF_DEPARTMENT"`
}

// SearchPortalUsers calls user.search with a filter: 50 users a page from
// start; Next is the next page's start.
func (c *Client) SearchPortalUsers(ctx context.Context, f UserFilter, start int) (*Page[PortalUser], error) {
	filter := map[string]any{"ACTIVE": true} // a boolean, as user-search.md documents it
	if f.Department != "" {
		filter["UF_DEPARTMENT_NAME"] = f.Department
	}
	if f.Position != "" {
		filter["WORK_POSITION"] = f.Position
	}
	p := Params{"FILTER": filter, "sort": "LAST_NAME", "order": "ASC"}
	if start > 0 {
		p["start"] = start
	}
	r, err := c.Call(ctx, MethodUserSearch, p)
	if err != nil {
		return nil, err
	}
	var users []PortalUser
	if err := c.decodeResult(MethodUserSearch, r.Result, &users, "a list of users"); err != nil {
		return nil, err
	}
	if len(users) > UserSearchPageSize {
		users = users[:UserSearchPageSize:UserSearchPageSize]
	}
	return &Page[PortalUser]{Items: users, Total: r.Total, Next: r.Next}, nil
}

// UsersByID calls im.user.list.get: the users with these ids that exist
// (unknown ids are left out).
func (c *Client) UsersByID(ctx context.Context, ids []int) ([]DialogUser, error) {
	r, err := c.Call(ctx, MethodUsersByID, Params{"ID": ids})
	if err != nil {
		return nil, err
	}
	return c.decodeUsersByID(r.Result, ids)
}

// decodeUsersByID reads im.user.list.get's answer for ids.
func (c *Client) decodeUsersByID(result json.RawMessage, ids []int) ([]DialogUser, error) {
	// An object keyed by id; an unknown id maps to null.
	byID, err := section(result)
	if err != nil {
		return nil, badResult(MethodUsersByID, "users by id", err)
	}
	var out []DialogUser
	for _, id := range ids {
		raw, ok := byID[strconv.Itoa(id)]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || bytes.Equal(bytes.TrimSpace(raw), []byte("false")) {
			continue
		}
		var u DialogUser
		if err := c.decodeResult(MethodUsersByID, raw, &u, "users by id"); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// ChatInfo is a chat as im.dialog.get, im.search.chat.list and im.recent.list
// describe it (snake_case; the fields this server uses).
type ChatInfo struct {
	ID            FlexInt      `json:"id" b24:"required"`
	DialogID      string       `json:"dialog_id"`
	Name          string       `json:"name"`
	Description   Opt[string]  `json:"description"`
	Type          string       `json:"type"`
	Owner         FlexInt      `json:"owner"`
	Role          string       `json:"role"`
	UserCounter   FlexInt      `json:"user_counter"`
	MessageCount  FlexInt      `json:"message_count"`
	LastMessageID Opt[FlexInt] `json:"last_message_id"`
	Color         Opt[string]  `json:"color"`
	Avatar        Opt[string]  `json:"avatar"`
	Extranet      bool         `json:"extranet"`
	EntityType    string       `json:"entity_type"`
	EntityID      string       `json:"entity_id"`
	DateCreate    Opt[string]  `json:"date_create"`
	ManagerList   IDList       `json:"manager_list"`
	MuteList      IDList       `json:"mute_list"`
}

// IDList reads a list of user ids written as an array, or, as PHP writes a
// set, an object whose keys are the ids ({"503": true}).
type IDList []int

func (l *IDList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")) || bytes.Equal(b, []byte("false")):
		*l = nil
	case b[0] == '[':
		var ids []FlexInt
		if err := json.Unmarshal(b, &ids); err != nil {
			return err
		}
		*l = Ints(ids)
	default:
		var set map[string]json.RawMessage
		if err := json.Unmarshal(b, &set); err != nil {
			return err
		}
		var ids []int
		for k, v := range set {
			if id, err := strconv.Atoi(k); err == nil && !bytes.Equal(v, []byte("false")) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		*l = ids
	}
	return nil
}

// DialogGet calls im.dialog.get: a chat the credentials' user can see.
func (c *Client) DialogGet(ctx context.Context, dialogID string) (*ChatInfo, error) {
	chat, err := callFor[ChatInfo](ctx, c, MethodDialogGet, Params{"DIALOG_ID": dialogID}, "a chat")
	if err != nil {
		return nil, err
	}
	if chat.DialogID == "" {
		chat.DialogID = "chat" + strconv.Itoa(int(chat.ID))
	}
	return &chat, nil
}

// SearchChats calls im.search.chat.list: chats the caller can access whose
// name matches find (at least 2 characters), newest first.
func (c *Client) SearchChats(ctx context.Context, find string, offset, limit int) (*Page[ChatInfo], error) {
	r, err := c.Call(ctx, MethodSearchChats, Params{"FIND": find, "OFFSET": offset, "LIMIT": limit})
	if err != nil {
		return nil, err
	}
	var chats []ChatInfo
	if err := c.decodeResult(MethodSearchChats, r.Result, &chats, "a list of chats"); err != nil {
		return nil, err
	}
	if limit > 0 && len(chats) > limit {
		chats = chats[:limit:limit]
	}
	for i := range chats {
		chats[i].DialogID = "chat" + strconv.Itoa(int(chats[i].ID))
	}
	return &Page[ChatInfo]{Items: chats, Total: r.Total, Next: r.Next}, nil
}

type recentAnswer struct {
	Items []struct {
		ChatID FlexInt   `json:"chat_id"`
		Type   string    `json:"type"`
		Title  string    `json:"title"`
		Chat   *ChatInfo `json:"chat"`
	} `json:"items"`
	HasMore bool `json:"hasMore"`
}

// RecentChats calls im.recent.list for group chats only (private dialogs and
// Open Channels left out). Pages overlap, so callers dedupe by id; more
// reports hasMore.
func (c *Client) RecentChats(ctx context.Context, offset, limit int) (chats []ChatInfo, more bool, err error) {
	p := Params{"SKIP_DIALOG": "Y", "SKIP_OPENLINES": "Y", "OFFSET": offset, "LIMIT": limit}
	body, err := callFor[recentAnswer](ctx, c, MethodRecent, p, "recent items")
	if err != nil {
		return nil, false, err
	}
	for _, it := range body.Items {
		if it.Type != "chat" || it.Chat == nil {
			continue
		}
		ch := *it.Chat
		if ch.ID == 0 {
			ch.ID = it.ChatID
		}
		if ch.Name == "" {
			ch.Name = it.Title
		}
		ch.DialogID = "chat" + strconv.Itoa(int(ch.ID))
		chats = append(chats, ch)
		if limit > 0 && len(chats) == limit {
			break
		}
	}
	return chats, body.HasMore, nil
}

// ChatUserDelete calls im.chat.user.delete for one user.
func (c *Client) ChatUserDelete(ctx context.Context, chatID, userID int) error {
	ok, err := callFor[bool](ctx, c, MethodChatUserDelete, Params{"CHAT_ID": chatID, "USER_ID": userID}, "true")
	if err == nil && !ok {
		return &Error{Method: MethodChatUserDelete, Code: CodeBadResult, Description: "expected result true"}
	}
	return err
}

// NormalizeUserType maps user.search's USER_TYPE to the im methods' type.
func NormalizeUserType(t string) string {
	switch strings.ToLower(t) {
	case "", "employee":
		return "user"
	}
	return strings.ToLower(t)
}
