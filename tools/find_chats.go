package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// FindChatsInput is find_chats' arguments.
type FindChatsInput struct {
	Query  string `json:"query,omitempty" jsonschema:"minLength=2,maxLength=100,example=Sales" jsonschema_description:"A chat name fragment (at least 2 characters). Leave it out to list the chats the credentials' user was recently active in."`
	Offset int    `json:"offset,omitempty" jsonschema:"minimum=0,maximum=10000,default=0" jsonschema_description:"How many chats to skip; pass next_offset from a previous result."`
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50,default=20" jsonschema_description:"Chats per page (1-50)."`
}

// ChatSummary is a chat in a list.
type ChatSummary struct {
	ID          int    `json:"id" jsonschema:"required"`
	DialogID    string `json:"dialog_id" jsonschema:"required" jsonschema_description:"chatN: what list_dialog_users and get_chat take."`
	Name        string `json:"name" jsonschema:"required"`
	Type        string `json:"type" jsonschema:"required" jsonschema_description:"chat, open, general, sonetGroup, crm..."`
	MemberCount int    `json:"member_count" jsonschema:"required"`
	Owner       int    `json:"owner" jsonschema:"required" jsonschema_description:"User id of the owner (0 for none)."`
}

// FindChatsOutput is find_chats' result.
type FindChatsOutput struct {
	Chats      []ChatSummary `json:"chats" jsonschema:"required"`
	NextOffset *int          `json:"next_offset,omitempty" jsonschema_description:"Present only when more chats remain: pass it as offset."`
	Truncated  bool          `json:"truncated" jsonschema:"required"`
	Source     string        `json:"source" jsonschema:"required,enum=im.search.chat.list,enum=im.recent.list" jsonschema_description:"The Bitrix24 method that answered."`
}

func findChatsSpec() spec {
	return spec{
		name:  "find_chats",
		title: "Find chats by name",
		description: `Find Bitrix24 group chats by name (im.search.chat.list), or, without a query, list the chats the credentials' user was recently active in (im.recent.list). Only chats that user can see are found.

Use it to turn a chat's name into its id before list_dialog_users, add_chat_users or get_chat. Each chat: id, dialog_id (chatN), name, type, member count and owner; the text content lists them one a line: id | dialog_id | name | type | members | owner.

Example: {"query": "Sales"}`,
		readOnly:   true,
		idempotent: true,
		openWorld:  true,
		input:      FindChatsInput{},
		output:     FindChatsOutput{},
		run:        typed(findChats),
	}
}

func findChats(ctx context.Context, d *Deps, in FindChatsInput) *mcp.CallToolResult {
	limit := in.Limit
	if limit == 0 {
		limit = 20
	}
	var chats []bitrix.ChatInfo
	out := FindChatsOutput{Chats: []ChatSummary{}}
	if in.Query != "" {
		page, err := d.client(ctx).SearchChats(ctx, in.Query, in.Offset, limit)
		if err != nil {
			return bitrixErrorResult(ctx, err, map[string]string{"FIND_SHORT": "query must be at least 2 characters long."})
		}
		chats, out.NextOffset, out.Source = page.Items, page.Next, bitrix.MethodSearchChats
	} else {
		all, more, err := recentChats(ctx, d, in.Offset+limit)
		if err != nil {
			return bitrixErrorResult(ctx, err, nil)
		}
		if in.Offset < len(all) {
			chats = all[in.Offset:min(len(all), in.Offset+limit)]
		}
		if more || len(all) > in.Offset+limit {
			next := in.Offset + limit
			out.NextOffset = &next
		}
		out.Source = bitrix.MethodRecent
	}
	lines := []string{"chats (id | dialog_id | name | type | members | owner):"}
	for _, c := range chats {
		s := ChatSummary{ID: int(c.ID), DialogID: c.DialogID, Name: c.Name, Type: c.Type, MemberCount: int(c.UserCounter), Owner: int(c.Owner)}
		out.Chats = append(out.Chats, s)
		lines = append(lines, fmt.Sprintf("%d | %s | %s | %s | %d | %d", s.ID, s.DialogID, cell(s.Name), cell(s.Type), s.MemberCount, s.Owner))
	}
	out.Truncated = out.NextOffset != nil
	summary := fmt.Sprintf("%d chat(s)", len(out.Chats))
	if in.Query != "" {
		summary += fmt.Sprintf(" named like %q", in.Query)
	} else {
		summary += " the credentials' user was recently active in"
	}
	if out.NextOffset != nil {
		summary += fmt.Sprintf("; more remain (next_offset %d)", *out.NextOffset)
	}
	return dataResult(out, summary+".", strings.Join(lines, "\n"))
}

// recentChats reads im.recent.list from the start until it has want chats
// (plus one, to know whether more remain) or the list ends. Its pages
// overlap, so chats are deduplicated by id; OFFSET rises by LIMIT.
func recentChats(ctx context.Context, d *Deps, want int) ([]bitrix.ChatInfo, bool, error) {
	var out []bitrix.ChatInfo
	seen := map[int]bool{}
	for offset := 0; ; offset += bitrix.MaxRecentPage {
		page, more, err := d.client(ctx).RecentChats(ctx, offset, bitrix.MaxRecentPage)
		if err != nil {
			return nil, false, err
		}
		for _, c := range page {
			if !seen[int(c.ID)] {
				seen[int(c.ID)] = true
				out = append(out, c)
			}
		}
		if !more || len(out) > want {
			return out, more, nil
		}
	}
}
