package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// GetBotChatInput is get_bot_chat's arguments.
type GetBotChatInput struct {
	DialogID string `json:"dialog_id" jsonschema:"required,maxLength=64,pattern=^(chat)?[1-9][0-9]*$,example=chat5" jsonschema_description:"chatN for a group chat (e.g. chat5), or a user id N for the bot's private dialog with that user."`
	BotArg
}

// GetBotChatOutput is get_bot_chat's result.
type GetBotChatOutput struct {
	Chat ChatDetails `json:"chat" jsonschema:"required"`
}

func getBotChatSpec() spec {
	return spec{
		name:  "get_bot_chat",
		title: "Chat details as the bot sees them",
		description: `Get a chat's details through a chat bot (imbot.v2.Chat.get): name, type, owner, managers, member count, the bot's role, message counters.

Use it to learn what a chat is and who runs it before acting on it. The bot must be a member of the chat; otherwise Bitrix24 answers ACCESS_DENIED.

Example: {"dialog_id": "chat5"}`,
		readOnly:   true,
		idempotent: true,
		openWorld:  true,
		input:      GetBotChatInput{},
		output:     GetBotChatOutput{},
		paramHints: map[string]string{
			"dialog_id": `use chatN for a group chat (e.g. "chat5") or a user id such as "1269" for the bot's private dialog`,
		},
		run: typed(getBotChat),
	}
}

func getBotChat(ctx context.Context, d *Deps, in GetBotChatInput) *mcp.CallToolResult {
	botID, bad := d.botID("get_bot_chat", in.BotArg)
	if bad != nil {
		return bad
	}
	c, err := d.client(ctx).BotChat(ctx, botID, in.DialogID)
	if err != nil {
		return bitrixErrorResult(ctx, err, map[string]string{
			bitrix.CodeAccessDenied: fmt.Sprintf("The bot %d is not a member of %s, so it may not read it; add the bot to the chat first, or use list_dialog_users.", botID, in.DialogID),
		})
	}
	chat := ChatDetails{ID: int(c.ID), DialogID: c.DialogID, Name: c.Name, Description: c.Description, Type: c.Type,
		Owner: int(c.Owner), Role: c.Role, UserCounter: int(c.UserCounter), ManagerIDs: bitrix.Ints(c.ManagerList),
		MutedUserIDs: bitrix.Ints(c.MuteList), DateCreate: c.DateCreate.Ptr(), LastMessageID: intPtr(c.LastMessageID),
		MessageCount: int(c.MessageCount), Color: c.Color.Ptr(), Avatar: c.Avatar.V, Extranet: c.Extranet,
		EntityType: c.EntityType, EntityID: c.EntityID}
	return chatResult(GetBotChatOutput{Chat: chat}, chat, "the bot's role")
}
