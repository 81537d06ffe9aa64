package tools

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// BotChatMembersInput is bot_chat_members' arguments.
type BotChatMembersInput struct {
	ChatID int `json:"chat_id" jsonschema:"required,minimum=1,example=2725" jsonschema_description:"Numeric id of the group chat (the N of chatN)."`
	BotArg
}

// BotChatMembersOutput is bot_chat_members' result.
type BotChatMembersOutput struct {
	ChatID    int    `json:"chat_id" jsonschema:"required"`
	BotID     int    `json:"bot_id" jsonschema:"required"`
	MemberIDs []int  `json:"member_ids" jsonschema:"required" jsonschema_description:"Every member's user id, complete for a chat of any size unless truncated."`
	Count     int    `json:"count" jsonschema:"required" jsonschema_description:"How many members the chat has (member_ids may hold fewer when truncated)."`
	Truncated bool   `json:"truncated" jsonschema:"required" jsonschema_description:"True when member_ids stopped at the result size budget; list_dialog_users with fields=ids pages through the rest."`
	Source    string `json:"source" jsonschema:"required,enum=imbot.v2.Chat.User.list,enum=imbot.chat.user.list" jsonschema_description:"The Bitrix24 method that answered."`
}

func botChatMembersSpec() spec {
	return spec{
		name:  "bot_chat_members",
		title: "Chat members as the bot sees them",
		description: `List the user ids of every member of a group chat, as a chat bot sees it (imbot.v2.Chat.User.list, or the deprecated imbot.chat.user.list).

Use it when working on behalf of the bot, or for a complete id list of a large chat in one call. The list is always complete: imbot.v2.Chat.User.list stops at 200 members with no paging, so larger chats are read with imbot.chat.user.list instead (source says which answered). The bot must be a member of the chat. For names and user types use list_dialog_users.

Example: {"chat_id": 2725}`,
		readOnly:   true,
		idempotent: true,
		budgeted:   true,
		openWorld:  true,
		input:      BotChatMembersInput{},
		output:     BotChatMembersOutput{},
		run:        typed(botChatMembers),
	}
}

func botChatMembers(ctx context.Context, d *Deps, in BotChatMembersInput) *mcp.CallToolResult {
	botID, bad := d.botID("bot_chat_members", in.BotArg)
	if bad != nil {
		return bad
	}
	out := BotChatMembersOutput{ChatID: in.ChatID, BotID: botID}
	notMember := map[string]string{
		bitrix.CodeAccessDenied: fmt.Sprintf("The bot %d is not a member of chat %d (or may not read it); add the bot to the chat first.", botID, in.ChatID),
	}

	// imbot.v2 answers completely only below its 200-member cap; on a
	// webhook it also needs the bot token.
	if !d.client(ctx).IsWebhook() || d.client(ctx).HasBotToken() {
		users, err := d.client(ctx).BotChatUsers(ctx, botID, fmt.Sprintf("chat%d", in.ChatID), bitrix.MaxPageSize)
		switch {
		case err == nil && len(users) < bitrix.MaxPageSize:
			ids := make([]int, len(users))
			for i, u := range users {
				ids[i] = int(u.ID)
			}
			out.Source = bitrix.MethodBotV2ChatUsers
			return membersResult(d, out, ids)
		case err == nil:
			// 200 exactly: there may be more; the old method has no cap.
		case isUnavailable(err):
			d.Log.Debug("imbot.v2 unavailable; using imbot.chat.user.list", "error", err)
		default:
			return bitrixErrorResult(ctx, err, notMember)
		}
	}
	ids, err := d.client(ctx).BotChatUserIDs(ctx, in.ChatID, botID)
	if err != nil {
		// The codes imbot-chat-user-list.md lists.
		hints := map[string]string{
			bitrix.CodeAccessError: fmt.Sprintf("The bot %d may not read chat %d; add the bot to the chat first.", botID, in.ChatID),
			"BOT_ID_ERROR":         "No bot has that id on this portal; check bot_id (or BITRIX24_BOT_ID).",
			"APP_ID_ERROR":         "That bot was installed by another application; check bot_id and BITRIX24_BOT_CLIENT_ID.",
		}
		if e, ok := bitrix.AsError(err); ok && e.Code == bitrix.CodeAccessDenied && strings.Contains(e.Description, "Client ID") {
			// Not on the page, but what the portal answers a webhook call without CLIENT_ID.
			hints[bitrix.CodeAccessDenied] = "imbot.chat.user.list on a webhook needs the CLIENT_ID the bot was registered with: set BITRIX24_BOT_CLIENT_ID in the server's configuration."
		}
		return bitrixErrorResult(ctx, err, hints)
	}
	if len(ids) == 0 {
		return errorResult(fmt.Sprintf("imbot.chat.user.list returned no members for chat %d: the bot %d is not a member of it (or the chat does not exist).\nHint: add the bot to the chat first, or check chat_id.", in.ChatID, botID))
	}
	out.Source = bitrix.MethodBotChatUserList
	return membersResult(d, out, ids)
}

// isUnavailable says the v2 method cannot be used here at all (an older
// portal), as opposed to refusing this particular request.
func isUnavailable(err error) bool {
	e, ok := bitrix.AsError(err)
	return ok && (e.Code == bitrix.CodeMethodNotFound || e.Code == "BOT_TOKEN_NOT_SPECIFIED")
}

// membersResult keeps member_ids within the result size budget.
func membersResult(d *Deps, out BotChatMembersOutput, ids []int) *mcp.CallToolResult {
	out.Count = len(ids)
	out.MemberIDs, _ = withinBudget(d.maxResultChars(), ids, strconv.Itoa, nil)
	out.Truncated = len(out.MemberIDs) < len(ids)
	summary := fmt.Sprintf("chat%d has %d member(s), as bot %d sees it (via %s)", out.ChatID, out.Count, out.BotID, out.Source)
	if out.Truncated {
		summary += fmt.Sprintf("; only the first %d ids fit the result size budget (BITRIX24_MAX_RESULT_CHARS=%d): page through the rest with list_dialog_users, fields=\"ids\", offset=%d",
			len(out.MemberIDs), d.maxResultChars(), len(out.MemberIDs))
	}
	return dataResult(out, summary+".", idsLine("member_ids", out.MemberIDs))
}
