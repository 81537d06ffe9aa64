package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// checkShapes is check --deep: each read method the tools use, called once
// and decoded with the tools' own code, so that a portal whose answers
// changed shape is found at setup rather than mid-conversation. It only
// reads. A member that did not decode as documented is a FAILED line in
// plain words.
func checkShapes(ctx context.Context, c *bitrix.Client, me *bitrix.CurrentUser, botID int, hasImbot bool, line func(verdict, format string, a ...any), fail func(format string, a ...any)) {
	read := func(method string, call func() error) {
		err := call()
		var e *bitrix.Error
		switch {
		case err == nil:
			line("OK", "%s answers and decodes", method)
		case errors.As(err, &e) && (e.Code == bitrix.CodeBadResult || e.Code == bitrix.CodeBadResponse):
			fail("%s did not decode: %s", method, e.Description)
		case errors.As(err, &e):
			line("NOTE", "%s answered %s, so its shape could not be checked: %s", method, e.Code, e.Description)
		default:
			fail("%s could not be read: %s", method, explain(err))
		}
	}
	find := strings.TrimSpace(me.LastName)
	if len([]rune(find)) < 2 {
		find = strings.TrimSpace(me.Name)
	}
	if len([]rune(find)) >= 2 {
		read(bitrix.MethodSearchUsers, func() error { _, err := c.SearchUsers(ctx, find, 0, 5); return err })
	}
	read(bitrix.MethodUsersByID, func() error { _, err := c.UsersByID(ctx, []int{int(me.ID)}); return err })
	read(bitrix.MethodUserSearch, func() error {
		_, err := c.SearchPortalUsers(ctx, bitrix.UserFilter{Position: firstWord(me.WorkPosition)}, 0)
		return err
	})
	var chats []bitrix.ChatInfo
	read(bitrix.MethodRecent, func() (err error) { chats, _, err = c.RecentChats(ctx, 0, 10); return err })
	if len(chats) == 0 {
		line("NOTE", "no group chat among the recent ones: im.dialog.get, im.search.chat.list and im.dialog.users.list were not checked")
	} else {
		chat := chats[0]
		read(bitrix.MethodDialogGet, func() error { _, err := c.DialogGet(ctx, chat.DialogID); return err })
		if name := firstWord(chat.Name); len([]rune(name)) >= 2 {
			read(bitrix.MethodSearchChats, func() error { _, err := c.SearchChats(ctx, name, 0, 5); return err })
		}
		read(bitrix.MethodDialogUsersList, func() error {
			_, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: chat.DialogID, Limit: 5})
			return err
		})
		if botID > 0 && hasImbot && (!c.IsWebhook() || c.HasBotToken()) {
			read(bitrix.MethodBotV2ChatUsers, func() error { _, err := c.BotChatUsers(ctx, botID, chat.DialogID, 5); return err })
		}
	}
	for _, p := range c.ShapeProblems() {
		fail("%s: %s came as %s, which its documentation does not allow; the tools leave it out. Tell the server's maintainers: the portal's answers changed.", p.Method, p.Field, strings.TrimPrefix(strings.TrimPrefix(p.Got, "an "), "a "))
	}
	if len(c.ShapeProblems()) == 0 {
		line("OK", "every answer read has the documented shape")
	}
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
