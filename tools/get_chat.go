package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// GetChatInput is get_chat's arguments.
type GetChatInput struct {
	DialogID string `json:"dialog_id" jsonschema:"required,maxLength=64,pattern=^(chat|sg)[1-9][0-9]*$,example=chat2935" jsonschema_description:"chatN for a group chat (e.g. chat2935), or sgN for a workgroup/project chat."`
}

// GetChatOutput is get_chat's result.
type GetChatOutput struct {
	Chat ChatDetails `json:"chat" jsonschema:"required"`
}

func getChatSpec() spec {
	return spec{
		name:  "get_chat",
		title: "Chat details",
		description: `Get a chat's details (im.dialog.get): name, description, type, owner, managers, member count, message counters, and the credentials' user's role in it. No bot needed: any chat that user can see.

Use it to learn what a chat is and who runs it before changing its membership (only the owner and managers may remove people). Find a chat's id by name with find_chats.

Example: {"dialog_id": "chat2935"}`,
		readOnly:   true,
		idempotent: true,
		openWorld:  true,
		input:      GetChatInput{},
		output:     GetChatOutput{},
		paramHints: map[string]string{
			"dialog_id": `use chatN for a group chat (e.g. "chat2935") or sgN for a project chat; find_chats finds it by name`,
		},
		run: typed(getChat),
	}
}

func getChat(ctx context.Context, d *Deps, in GetChatInput) *mcp.CallToolResult {
	c, err := d.client(ctx).DialogGet(ctx, in.DialogID)
	if err != nil {
		return bitrixErrorResult(ctx, err, map[string]string{
			bitrix.CodeAccessError: fmt.Sprintf("The credentials' user cannot see %s (not a member, or no such chat); check the id with find_chats.", in.DialogID),
		})
	}
	chat := ChatDetails{ID: int(c.ID), DialogID: c.DialogID, Name: c.Name, Description: c.Description.V, Type: c.Type,
		Owner: int(c.Owner), Role: c.Role, UserCounter: int(c.UserCounter), ManagerIDs: orEmpty(c.ManagerList),
		MutedUserIDs: orEmpty(c.MuteList), DateCreate: c.DateCreate.Ptr(), LastMessageID: intPtr(c.LastMessageID),
		MessageCount: int(c.MessageCount), Color: c.Color.Ptr(), Avatar: c.Avatar.V, Extranet: c.Extranet,
		EntityType: c.EntityType, EntityID: c.EntityID}
	return chatResult(GetChatOutput{Chat: chat}, chat, "your role")
}

func intPtr(v bitrix.Opt[bitrix.FlexInt]) *int {
	if !v.Valid {
		return nil
	}
	n := int(v.V)
	return &n
}
