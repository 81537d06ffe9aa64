package bitrix

import (
	"context"
	"encoding/json"
	"strings"
)

// Method names, as sent.
const (
	MethodDialogUsersList  = "im.dialog.users.list"
	MethodChatUserAdd      = "im.chat.user.add"
	MethodBotChatUserList  = "imbot.chat.user.list"
	MethodBotV2ChatUsers   = "imbot.v2.Chat.User.list"
	MethodBotV2ChatGet     = "imbot.v2.Chat.get"
	MethodBatch            = "batch"
	MaxPageSize            = 200 // im.dialog.users.list's and imbot.v2.Chat.User.list's cap
	MaxBatchCommands       = 50
	DefaultDialogPageLimit = 50
)

// Methods are every method the client calls: a fixed set, so that a metric
// labelled with a method cannot grow without bound.
var Methods = []string{MethodDialogUsersList, MethodChatUserAdd, MethodBotChatUserList, MethodBotV2ChatUsers,
	MethodBotV2ChatGet, MethodBatch, MethodSearchUsers, MethodUserSearch, MethodUsersByID, MethodSearchChats,
	MethodRecent, MethodDialogGet, MethodChatUserDelete, MethodBotRegister, "scope", "user.current", "imbot.bot.list",
	MethodDepartments, MethodDepartmentManagers, MethodUserGet, MethodWorkgroups, MethodWorkgroupMembers}

// DialogUsersQuery selects participants for im.dialog.users.list.
//
// Offset mode (LastID nil) orders by join order and reports Total and Next.
// Keyset mode (LastID set, even to 0) orders by user id, returns ids above
// *LastID, and reports neither: stop on a page shorter than Limit.
type DialogUsersQuery struct {
	DialogID          string
	SkipExternal      bool     // drop system users (bots, e-mail guests, connectors...)
	KeepExternalTypes []string // ...except these types; setting it also turns skipping on
	Limit             int      // 1..200; 0 means the portal's default of 50
	Offset            int
	LastID            *int
}

// Params renders the query as the method's parameters.
func (q DialogUsersQuery) Params() Params {
	p := Params{"DIALOG_ID": q.DialogID}
	if q.SkipExternal {
		p["SKIP_EXTERNAL"] = "Y"
	}
	if len(q.KeepExternalTypes) > 0 {
		p["SKIP_EXTERNAL_EXCEPT_TYPES"] = strings.Join(q.KeepExternalTypes, ",")
	}
	if q.Limit > 0 {
		p["LIMIT"] = q.Limit
	}
	if q.LastID != nil {
		p["LAST_ID"] = *q.LastID
	} else if q.Offset > 0 {
		p["OFFSET"] = q.Offset
	}
	return p
}

// DialogUsersPage is one page of participants.
type DialogUsersPage struct {
	Users []DialogUser
	Total *int // offset mode only
	Next  *int // offset mode, when more remain
}

// DecodeDialogUsers turns a (possibly batched) answer to q into a page. A
// page longer than q asked for is cut to its limit: what a portal (or a
// proxy) sends beyond it never reaches a caller.
func (c *Client) DecodeDialogUsers(r *Response, q DialogUsersQuery) (*DialogUsersPage, error) {
	var users []DialogUser
	if err := c.decodeResult(MethodDialogUsersList, r.Result, &users, "a list of users"); err != nil {
		return nil, err
	}
	page := &DialogUsersPage{Users: users, Total: r.Total, Next: r.Next}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultDialogPageLimit
	}
	if len(users) > limit {
		page.Users = users[:limit:limit]
		if q.LastID == nil {
			next := q.Offset + limit
			page.Next = &next
		}
	}
	return page, nil
}

// DialogUsers calls im.dialog.users.list once.
func (c *Client) DialogUsers(ctx context.Context, q DialogUsersQuery) (*DialogUsersPage, error) {
	r, err := c.Call(ctx, MethodDialogUsersList, q.Params())
	if err != nil {
		return nil, err
	}
	return c.DecodeDialogUsers(r, q)
}

// ChatUserAddParams renders im.chat.user.add's parameters. hideHistory=true
// (Bitrix24's own default) keeps earlier messages hidden from the new members.
func ChatUserAddParams(chatID int, userIDs []int, hideHistory bool) Params {
	return Params{"CHAT_ID": chatID, "USERS": userIDs, "HIDE_HISTORY": yn(hideHistory)}
}

// ChatUserAdd calls im.chat.user.add. Bitrix24 answers true even for unknown
// or dismissed users and for existing members: check membership afterwards.
func (c *Client) ChatUserAdd(ctx context.Context, chatID int, userIDs []int, hideHistory bool) error {
	r, err := c.Call(ctx, MethodChatUserAdd, ChatUserAddParams(chatID, userIDs, hideHistory))
	if err != nil {
		return err
	}
	var ok bool
	if err := json.Unmarshal(r.Result, &ok); err != nil || !ok {
		return &Error{Method: MethodChatUserAdd, Code: CodeBadResult, Description: "expected result true, got " + c.secrets.scrub(truncate(string(r.Result), 80))}
	}
	return nil
}

// BotChatUserIDs calls the deprecated imbot.chat.user.list: every member's id,
// complete, with no paging; empty when the bot is not in the chat.
// botID 0 lets the portal pick the application's first bot.
func (c *Client) BotChatUserIDs(ctx context.Context, chatID, botID int) ([]int, error) {
	p := Params{"CHAT_ID": chatID}
	if botID > 0 {
		p["BOT_ID"] = botID
	}
	if c.hook != nil && c.cfg.BotClientID != "" {
		p["CLIENT_ID"] = c.cfg.BotClientID.Reveal()
	}
	ids, err := callFor[[]FlexInt](ctx, c, MethodBotChatUserList, p, "a list of user ids")
	return Ints(ids), err
}

func (c *Client) botParams(botID int, dialogID string) Params {
	p := Params{"botId": botID, "dialogId": dialogID}
	if c.hook != nil && c.cfg.BotToken != "" {
		p["botToken"] = c.cfg.BotToken.Reveal()
	}
	return p
}

// BotChatUsers calls imbot.v2.Chat.User.list. It has no paging: a chat with
// more than limit (at most 200) members cannot be read whole through it.
func (c *Client) BotChatUsers(ctx context.Context, botID int, dialogID string, limit int) ([]BotChatUser, error) {
	p := c.botParams(botID, dialogID)
	if limit > 0 {
		p["limit"] = limit
	}
	users, err := callFor[[]BotChatUser](ctx, c, MethodBotV2ChatUsers, p, "a list of users")
	if limit > 0 && len(users) > limit {
		users = users[:limit:limit] // never more than asked for
	}
	return users, err
}

// BotChat calls imbot.v2.Chat.get. The bot must be a member (else ACCESS_DENIED).
func (c *Client) BotChat(ctx context.Context, botID int, dialogID string) (*BotChat, error) {
	r, err := c.Call(ctx, MethodBotV2ChatGet, c.botParams(botID, dialogID))
	if err != nil {
		return nil, err
	}
	var body struct {
		Chat *BotChat `json:"chat"`
	}
	if err := c.decodeResult(MethodBotV2ChatGet, r.Result, &body, "an object with a chat"); err != nil {
		return nil, err
	}
	if body.Chat == nil {
		return nil, badResult(MethodBotV2ChatGet, "an object with a chat", nil)
	}
	return body.Chat, nil
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// callFor calls a method and decodes its result into T; a result of another
// shape is a BAD_RESPONSE error naming what was expected.
func callFor[T any](ctx context.Context, c *Client, method string, params Params, want string) (T, error) {
	var v T
	r, err := c.Call(ctx, method, params)
	if err != nil {
		return v, err
	}
	if err := c.decodeResult(method, r.Result, &v, want); err != nil {
		return v, err
	}
	return v, nil
}

func badResult(method, want string, err error) error {
	d := "the result is not " + want
	if err != nil {
		d += ": " + truncate(err.Error(), 120)
	}
	return &Error{Method: method, Code: CodeBadResult, Description: d}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
