package tools

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// ListDialogUsersInput is list_dialog_users' arguments.
type ListDialogUsersInput struct {
	DialogID          string   `json:"dialog_id" jsonschema:"required,maxLength=64,pattern=^(chat|sg)?[1-9][0-9]*$,example=chat2935" jsonschema_description:"The chat or dialog: chatN for a group chat (e.g. chat2935), sgN for a workgroup/project chat, or a user id N for the private dialog with that user."`
	SkipExternal      bool     `json:"skip_external,omitempty" jsonschema:"default=false" jsonschema_description:"Leave out system users: bots, e-mail guests, Open Channel clients and the like."`
	KeepExternalTypes []string `json:"keep_external_types,omitempty" jsonschema:"maxLength=32,enum=bot,enum=email,enum=imconnector,enum=replica,enum=sale,enum=saleanonymous,enum=shop,enum=call,enum=document_editor,enum=calendar_sharing,enum=__controller" jsonschema_description:"Leave out system users except these types, e.g. [\"bot\"] to keep bots but drop e-mail guests. Setting it implies skip_external."`
	Limit             int      `json:"limit,omitempty" jsonschema:"minimum=1,maximum=200,default=50" jsonschema_description:"Users per page (1-200). Ignored when all is true."`
	Offset            int      `json:"offset,omitempty" jsonschema:"minimum=0,default=0" jsonschema_description:"How many users to skip, in join order. Pass next_offset from a previous result to continue."`
	All               bool     `json:"all,omitempty" jsonschema:"default=false" jsonschema_description:"Read every page (from offset) up to max_users, in as few requests as the portal allows."`
	MaxUsers          int      `json:"max_users,omitempty" jsonschema:"minimum=1,maximum=10000,default=1000" jsonschema_description:"With all: stop after this many users (truncated is then true). Defaults to 1000, or 10000 with fields=ids."`
	Fields            string   `json:"fields,omitempty" jsonschema:"maxLength=16,enum=compact,enum=full,enum=ids,default=compact" jsonschema_description:"compact: id, name, type, active (+ bot and extranet when true, work_position and external_auth_id when set). full: every field Bitrix24 documents, including e-mail and phones; ask for it only when needed. ids: only user_ids, the cheapest way to get every member of a large chat."`
}

// ListDialogUsersOutput is list_dialog_users' result.
type ListDialogUsersOutput struct {
	DialogID string `json:"dialog_id" jsonschema:"required"`
	Total    int    `json:"total" jsonschema:"required" jsonschema_description:"Participants matching the filters (inactive users are never counted)."`
	UserListing
	UserIDs    []int `json:"user_ids,omitzero" jsonschema_description:"With fields=ids only: the users' ids, in join order."`
	NextOffset *int  `json:"next_offset,omitempty" jsonschema_description:"Present only when more users remain: pass it as offset."`
	Truncated  bool  `json:"truncated" jsonschema:"required" jsonschema_description:"True when more users remain than this result holds (max_users, or the result size budget)."`
}

func listDialogUsersSpec() spec {
	return spec{
		name:  "list_dialog_users",
		title: "List chat participants",
		description: `List the participants of a Bitrix24 chat or private dialog (im.dialog.users.list): who is in it, whether each is a bot, an extranet or external user, and their position.

Use it to answer "who is in this chat?", to check membership before inviting people, or to find a user's id by name. Dismissed users are never listed.
Pages hold up to 200 users in join order; pass next_offset back as offset, or set all=true to read every page up to max_users in as few requests as possible.
Results are compact by default (no e-mail, phones or avatars): a table, columns named once and each user a row [id, name, type, flags, position]; ask for fields="full" (each user an object with every field) only when those are needed, and fields="ids" for just the ids (every member of a 5000-member chat in one call).
A result never exceeds the server's size budget: when more users would not fit, it stops early with truncated=true and next_offset.
The text content lists the users one a line: id | name | type | flags | position.

Example: {"dialog_id": "chat2935", "skip_external": true, "limit": 20}`,
		readOnly:   true,
		idempotent: true,
		budgeted:   true,
		openWorld:  true,
		input:      ListDialogUsersInput{},
		output:     ListDialogUsersOutput{},
		paramHints: map[string]string{
			"dialog_id": `use chatN (group chat, e.g. "chat2935"), sgN (project chat) or a user id such as "1269"`,
		},
		run: typed(listDialogUsers),
	}
}

func listDialogUsers(ctx context.Context, d *Deps, in ListDialogUsersInput) *mcp.CallToolResult {
	q := bitrix.DialogUsersQuery{DialogID: in.DialogID, SkipExternal: in.SkipExternal, KeepExternalTypes: in.KeepExternalTypes,
		Limit: in.Limit, Offset: in.Offset}
	if q.Limit == 0 {
		q.Limit = bitrix.DefaultDialogPageLimit
	}
	var users []bitrix.DialogUser
	out := ListDialogUsersOutput{DialogID: in.DialogID}
	if in.All {
		max := in.MaxUsers
		if max == 0 {
			max = 1000
			if in.Fields == "ids" {
				max = 10000
			}
		}
		all, err := d.client(ctx).DialogUsersAll(ctx, q, max, progressFrom(ctx))
		if err != nil {
			return bitrixErrorResult(ctx, err, nil)
		}
		users, out.Total, out.NextOffset = all.Users, all.Total, all.NextOffset
	} else {
		page, err := d.client(ctx).DialogUsers(ctx, q)
		if err != nil {
			return bitrixErrorResult(ctx, err, nil)
		}
		if page.Total != nil {
			out.Total = *page.Total
		}
		users, out.NextOffset = page.Users, page.Next
	}

	// Fill the result up to the size budget, in both channels.
	max := d.maxResultChars()
	var lines []string
	kept := 0
	if in.Fields == "ids" {
		ids := make([]int, len(users))
		for i, u := range users {
			ids[i] = int(u.ID)
		}
		out.UserIDs, _ = withinBudget(max, ids, strconv.Itoa, nil)
		kept = len(out.UserIDs)
		lines = append(lines, idsLine("user_ids", out.UserIDs))
	} else {
		all := make([]DialogUser, len(users))
		for i, raw := range users {
			all[i] = toDialogUser(raw, in.Fields == "full")
		}
		var userLines []string
		out.UserListing, userLines, kept = listUsers(max, all, in.Fields == "full")
		lines = append(append(lines, usersHeader), userLines...)
	}
	overBudget := kept < len(users)
	if overBudget {
		next := in.Offset + kept
		out.NextOffset = &next
	}
	out.Truncated = out.NextOffset != nil

	summary := fmt.Sprintf("%d of %d participants of %s", kept, out.Total, in.DialogID)
	switch {
	case overBudget:
		summary += fmt.Sprintf("; stopped at the result size budget (BITRIX24_MAX_RESULT_CHARS=%d): call again with offset=%d for the rest", max, *out.NextOffset)
		if in.Fields != "ids" {
			summary += `, or use fields="ids" for ids only`
		}
	case out.NextOffset != nil:
		summary += fmt.Sprintf("; more remain (next_offset %d)", *out.NextOffset)
	}
	return dataResult(out, summary+".", strings.Join(lines, "\n"))
}
