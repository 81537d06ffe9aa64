package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// RemoveChatUsersInput is remove_chat_users' arguments.
type RemoveChatUsersInput struct {
	ChatID  int   `json:"chat_id" jsonschema:"required,minimum=1,example=4000" jsonschema_description:"Numeric id of the group chat (the N of chatN)."`
	UserIDs []int `json:"user_ids" jsonschema:"required,minItems=1,minimum=1" jsonschema_description:"Ids of the users to remove (each >= 1; duplicates are ignored). At most BITRIX24_MAX_INVITE per call (maxItems)."`
	DryRun  bool  `json:"dry_run,omitempty" jsonschema:"default=false" jsonschema_description:"Only report who would be removed and who is not a member; change nothing."`
}

// RemoveChatUsersOutput is remove_chat_users' result.
type RemoveChatUsersOutput struct {
	ChatID     int          `json:"chat_id" jsonschema:"required"`
	Removed    []int        `json:"removed" jsonschema:"required" jsonschema_description:"Users who were members and are not now (with dry_run: who would be removed)."`
	NotMembers []int        `json:"not_members" jsonschema:"required" jsonschema_description:"Users who were not members to begin with; nothing was sent for them."`
	NotRemoved []NotChanged `json:"not_removed" jsonschema:"required" jsonschema_description:"Members who are still members, and why."`
	DryRun     bool         `json:"dry_run" jsonschema:"required"`
}

func removeChatUsersSpec() spec {
	return spec{
		name:  "remove_chat_users",
		title: "Remove users from a chat",
		description: `Remove users from a Bitrix24 group chat (im.chat.user.delete, one user per request) and report exactly who was removed.

The tool reads the chat's membership first and sends nothing for users who are not members, then reads it again to verify. When the client supports it, the human is asked to confirm first, with the chat's and the people's names; a decline sends nothing. Only the chat's owner and managers may remove others. Use dry_run to preview; find ids by name with find_users.

Example: {"chat_id": 4000, "user_ids": [1403]}`,
		readOnly:    false,
		destructive: true,
		idempotent:  true,
		openWorld:   true,
		input:       RemoveChatUsersInput{},
		capsUserIDs: true,
		output:      RemoveChatUsersOutput{},
		paramHints: map[string]string{
			"user_ids": "use an array of user ids (whole numbers >= 1), e.g. [1403]; at most BITRIX24_MAX_INVITE per call, so split longer lists",
		},
		enabled: func(st Settings) bool { return st.EnableRemove },
		run:     typed(removeChatUsers),
	}
}

func removeChatUsers(ctx context.Context, d *Deps, in RemoveChatUsersInput) *mcp.CallToolResult {
	change := removal(d, in.ChatID, dedupe(in.UserIDs), in.DryRun)
	change.question = func(ctx context.Context, todo []int, names map[int]string) string {
		return fmt.Sprintf("Remove %s from %s?", peopleNames(todo, names), chatName(ctx, d, fmt.Sprintf("chat%d", in.ChatID)))
	}
	o, res := changeMembership(ctx, d, change)
	if res != nil {
		return res
	}
	out := RemoveChatUsersOutput{ChatID: in.ChatID, Removed: orEmpty(o.changed), NotMembers: orEmpty(o.unchanged), NotRemoved: orEmpty(o.notChanged), DryRun: in.DryRun}
	return dataResult(out, removeSummary(out), removeData(out))
}

// removal is the change that removes users from a chat (remove_chat_users,
// sync_chat_with_team): one im.chat.user.delete per user. Its question is
// the caller's to set.
func removal(d *Deps, chatID int, users []int, dryRun bool) membershipChange {
	return membershipChange{
		chatID: chatID, users: users, dryRun: dryRun, adding: false, verb: "removal",
		write: func(ctx context.Context, todo []int) (map[int]string, error, error) {
			// One user per request (im.chat.user.delete takes one).
			failed := map[int]string{}
			var lost error
			for i, id := range todo {
				if ctx.Err() != nil {
					break
				}
				err := d.client(ctx).ChatUserDelete(ctx, chatID, id)
				switch {
				case err == nil:
					continue
				case outcomeUnknown(err):
					lost = err
					failed[id] = "Bitrix24's answer was lost (" + describeErr(err) + ")"
					continue
				}
				failed[id] = removalReason(ctx, err)
				if e, ok := bitrix.AsError(err); ok && e.Code == bitrix.CodeAccessDeniedKick {
					// The same refusal awaits the rest: do not send them.
					for _, rest := range todo[i+1:] {
						failed[rest] = failed[id]
					}
					break
				}
			}
			return failed, lost, nil
		},
		unverified: func(error) string { return "Bitrix24 answered true but the user is still a member" },
	}
}

func removalReason(ctx context.Context, err error) string {
	e, ok := bitrix.AsError(err)
	if !ok {
		return describeErr(err)
	}
	switch e.Code {
	case bitrix.CodeAccessDeniedKick:
		return "ACCESS_DENIED_KICK: only the chat's owner and managers may remove others; " + map[credentials]string{
			viaWebhook: "use a webhook of one of them", viaOAuth: "sign the server in (bitrix24-chat-mcp login) as one of them",
			viaSignedIn: "ask one of them"}[callFrom(ctx).creds]
	case bitrix.CodeAccessError:
		return "ACCESS_ERROR: " + e.Description + " (the general chat, or a chat that does not allow removals)"
	case "USER_NOT_FOUND":
		return "USER_NOT_FOUND: not a member by the time the request arrived"
	}
	return e.Code + ": " + e.Description
}

// chatName names a chat for a human: its name and id, or just the id.
func chatName(ctx context.Context, d *Deps, dialog string) string {
	if c, err := d.client(ctx).DialogGet(ctx, dialog); err == nil && c.Name != "" {
		return fmt.Sprintf("%q (%s)", c.Name, dialog)
	}
	return dialog
}

// peopleNames lists people for a human: "Kevin Moss (1403), 1500".
func peopleNames(ids []int, names map[int]string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		if n := names[id]; n != "" {
			parts[i] = fmt.Sprintf("%s (%d)", n, id)
		} else {
			parts[i] = fmt.Sprint(id)
		}
	}
	return strings.Join(parts, ", ")
}

func removeSummary(o RemoveChatUsersOutput) string {
	verb := "removed"
	if o.DryRun {
		verb = "would remove"
	}
	s := fmt.Sprintf("chat%d: %s %d user(s)", o.ChatID, verb, len(o.Removed))
	if len(o.Removed) > 0 {
		s += " (" + join(o.Removed) + ")"
	}
	s += fmt.Sprintf(", %d not member(s)", len(o.NotMembers))
	if len(o.NotRemoved) > 0 {
		s += fmt.Sprintf(", %d still member(s)", len(o.NotRemoved))
	}
	return s + "."
}

func removeData(o RemoveChatUsersOutput) string {
	return changeData("removed", o.Removed, "not_members", o.NotMembers, "not_removed", o.NotRemoved)
}
