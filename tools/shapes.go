package tools

import (
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// The shapes several tools return: users (list_dialog_users, find_users)
// and chats (get_bot_chat, get_chat, find_chats).

// DialogUser is one participant. Compact fields always; the embedded
// details only with fields=full.
type DialogUser struct {
	ID             int    `json:"id" jsonschema:"required"`
	Name           string `json:"name" jsonschema:"required"`
	Type           string `json:"type,omitempty" jsonschema_description:"user, bot, extranet, email, collaber...; absent when Bitrix24 did not say (the portal's answer to a search carries no type)."`
	Active         *bool  `json:"active,omitempty" jsonschema_description:"false for dismissed users; absent when Bitrix24 did not say."`
	Bot            bool   `json:"bot,omitempty" jsonschema_description:"Present (true) only for bots."`
	Extranet       bool   `json:"extranet,omitempty" jsonschema_description:"Present (true) only for extranet (external) users."`
	WorkPosition   string `json:"work_position,omitempty"`
	ExternalAuthID string `json:"external_auth_id,omitempty" jsonschema_description:"Set for system users (bot, email, imconnector...) and external logins; absent for ordinary employees."`
	*UserDetails
}

// UserDetails are the fields=full extras; unset values are null.
type UserDetails struct {
	FirstName        string         `json:"first_name"`
	LastName         string         `json:"last_name"`
	Color            string         `json:"color"`
	Avatar           *string        `json:"avatar" jsonschema:"nullable"`
	AvatarHR         *string        `json:"avatar_hr" jsonschema:"nullable"`
	Gender           *string        `json:"gender" jsonschema:"nullable"`
	Birthday         *string        `json:"birthday" jsonschema:"nullable"`
	Network          bool           `json:"network"`
	Connector        bool           `json:"connector"`
	Status           string         `json:"status"`
	Idle             *string        `json:"idle" jsonschema:"nullable"`
	LastActivityDate *string        `json:"last_activity_date" jsonschema:"nullable"`
	MobileLastDate   *string        `json:"mobile_last_date" jsonschema:"nullable"`
	DesktopLastDate  *string        `json:"desktop_last_date" jsonschema:"nullable"`
	Absent           *string        `json:"absent" jsonschema:"nullable"`
	Departments      []int          `json:"departments"`
	Phones           *bitrix.Phones `json:"phones" jsonschema:"nullable"`
	BotData          map[string]any `json:"bot_data" jsonschema:"nullable"`
	Website          *string        `json:"website" jsonschema:"nullable"`
	Email            *string        `json:"email" jsonschema:"nullable"`
}

func toDialogUser(u bitrix.DialogUser, full bool) DialogUser {
	out := DialogUser{ID: int(u.ID), Name: u.Name, Type: u.Type, Active: u.Active, Bot: u.Bot, Extranet: u.Extranet,
		WorkPosition: u.WorkPosition.V}
	if u.ExternalAuthID != "default" {
		out.ExternalAuthID = u.ExternalAuthID
	}
	if !full {
		return out
	}
	nonEmpty := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	det := &UserDetails{FirstName: u.FirstName, LastName: u.LastName, Color: u.Color, Avatar: nonEmpty(u.Avatar),
		AvatarHR: nonEmpty(u.AvatarHR), Gender: nonEmpty(u.Gender), Birthday: nonEmpty(u.Birthday.V), Network: u.Network,
		Connector: u.Connector, Status: u.Status, Idle: u.Idle.Ptr(), LastActivityDate: u.LastActivityDate.Ptr(),
		MobileLastDate: u.MobileLastDate.Ptr(), DesktopLastDate: u.DesktopLastDate.Ptr(), Absent: u.Absent.Ptr(),
		Departments: bitrix.Ints(u.Departments), Phones: u.Phones.Ptr(), Website: nonEmpty(u.Website), Email: nonEmpty(u.Email)}
	if len(u.BotData) > 0 && string(u.BotData) != "null" {
		_ = json.Unmarshal(u.BotData, &det.BotData)
	}
	out.UserDetails = det
	return out
}

// NotChanged is a user a change did not reach (not added, not removed), and why.
type NotChanged struct {
	ID     int    `json:"id" jsonschema:"required"`
	Reason string `json:"reason" jsonschema:"required"`
}

// ChatDetails is a chat's details with snake_case keys (get_bot_chat, get_chat).
type ChatDetails struct {
	ID            int     `json:"id" jsonschema:"required"`
	DialogID      string  `json:"dialog_id" jsonschema:"required"`
	Name          string  `json:"name" jsonschema:"required"`
	Description   string  `json:"description" jsonschema:"required"`
	Type          string  `json:"type" jsonschema:"required" jsonschema_description:"chat, open, channel, private, general..."`
	Owner         int     `json:"owner" jsonschema:"required" jsonschema_description:"User id of the owner (0 for none)."`
	Role          string  `json:"role" jsonschema:"required" jsonschema_description:"The role of whoever looked (the bot for get_bot_chat, the credentials' user for get_chat): owner, manager, member, guest or none."`
	UserCounter   int     `json:"user_counter" jsonschema:"required" jsonschema_description:"Number of members."`
	ManagerIDs    []int   `json:"manager_ids" jsonschema:"required"`
	MutedUserIDs  []int   `json:"muted_user_ids" jsonschema:"required"`
	DateCreate    *string `json:"date_create" jsonschema:"required,nullable"`
	LastMessageID *int    `json:"last_message_id" jsonschema:"required,nullable"`
	MessageCount  int     `json:"message_count" jsonschema:"required"`
	Color         *string `json:"color" jsonschema:"required,nullable"`
	Avatar        string  `json:"avatar" jsonschema:"required"`
	Extranet      bool    `json:"extranet" jsonschema:"required"`
	EntityType    string  `json:"entity_type" jsonschema:"required"`
	EntityID      string  `json:"entity_id" jsonschema:"required"`
}

// chatResult is get_chat's and get_bot_chat's result: a summary naming whose
// role it reports, then every field of the chat.
func chatResult(structured any, c ChatDetails, whoseRole string) *mcp.CallToolResult {
	summary := fmt.Sprintf("%s %q (type %s): %d member(s); %s: %s.", c.DialogID, c.Name, c.Type, c.UserCounter, whoseRole, orDash(c.Role))
	return dataResult(structured, summary, chatData(c))
}

// chatData renders every field of a chat, one a line.
func chatData(c ChatDetails) string {
	return fieldLines("id", c.ID, "dialog_id", c.DialogID, "name", c.Name, "description", c.Description, "type", c.Type,
		"owner", c.Owner, "role", c.Role, "user_counter", c.UserCounter, "manager_ids", c.ManagerIDs,
		"muted_user_ids", c.MutedUserIDs, "date_create", c.DateCreate, "last_message_id", c.LastMessageID,
		"message_count", c.MessageCount, "color", c.Color, "avatar", c.Avatar, "extranet", c.Extranet,
		"entity_type", c.EntityType, "entity_id", c.EntityID)
}
