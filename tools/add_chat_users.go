package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// AddChatUsersInput is add_chat_users' arguments.
type AddChatUsersInput struct {
	ChatID      int   `json:"chat_id" jsonschema:"required,minimum=1,example=2935" jsonschema_description:"Numeric id of the group chat (the N of chatN)."`
	UserIDs     []int `json:"user_ids" jsonschema:"required,minItems=1,minimum=1" jsonschema_description:"Ids of the users to invite (each >= 1; duplicates are ignored). At most BITRIX24_MAX_INVITE per call (maxItems)."`
	HideHistory *bool `json:"hide_history,omitempty" jsonschema:"default=true" jsonschema_description:"Hide the chat's earlier messages from the new members. Defaults to true, which is Bitrix24's own default; pass false to let them read the history."`
	DryRun      bool  `json:"dry_run,omitempty" jsonschema:"default=false" jsonschema_description:"Only report who would be added and who is already a member; change nothing."`
}

// AddChatUsersOutput is add_chat_users' result.
type AddChatUsersOutput struct {
	ChatID         int          `json:"chat_id" jsonschema:"required"`
	Added          []int        `json:"added" jsonschema:"required" jsonschema_description:"Users who are members now and were not before (with dry_run: who would be invited)."`
	AlreadyMembers []int        `json:"already_members" jsonschema:"required"`
	NotAdded       []NotChanged `json:"not_added" jsonschema:"required" jsonschema_description:"Users Bitrix24 accepted but did not add: unknown or dismissed ids, or users who cannot join this chat."`
	HideHistory    bool         `json:"hide_history" jsonschema:"required"`
	DryRun         bool         `json:"dry_run" jsonschema:"required"`
}

func addChatUsersSpec() spec {
	return spec{
		name:  "add_chat_users",
		title: "Add users to a chat",
		description: `Invite users into a Bitrix24 group chat (im.chat.user.add) and report exactly who was added.

The tool first reads the chat's current membership and sends only the users who are missing, then reads it again to verify: Bitrix24 answers "true" even for unknown or dismissed user ids, so those are reported under not_added with a reason rather than claimed as added. Calling it twice with the same users is safe.
New members do not see earlier messages unless hide_history is false. Use dry_run to preview. Inviting more than BITRIX24_CONFIRM_OVER (default 20) people asks the human to confirm first, when the client supports it. Find user ids by name with find_users, and chats with find_chats.

Example: {"chat_id": 2935, "user_ids": [99, 1271], "hide_history": false}`,
		readOnly:    false,
		destructive: false,
		idempotent:  true,
		openWorld:   true,
		input:       AddChatUsersInput{},
		capsUserIDs: true,
		output:      AddChatUsersOutput{},
		paramHints: map[string]string{
			"user_ids": "use an array of user ids (whole numbers >= 1), e.g. [99, 1271]; at most BITRIX24_MAX_INVITE per call, so split longer lists",
		},
		run: typed(addChatUsers),
	}
}

func addChatUsers(ctx context.Context, d *Deps, in AddChatUsersInput) *mcp.CallToolResult {
	// The cap on user_ids is in the served schema (maxItems), checked already.
	hide := in.HideHistory == nil || *in.HideHistory
	change := invitation(d, in.ChatID, dedupe(in.UserIDs), hide, in.DryRun)
	change.question = func(ctx context.Context, todo []int, _ map[int]string) string {
		if len(todo) <= d.Settings.ConfirmOver {
			return ""
		}
		return fmt.Sprintf("Invite %d people to %s: %s?", len(todo), chatName(ctx, d, fmt.Sprintf("chat%d", in.ChatID)), peopleNames(todo, userNames(ctx, d, todo)))
	}
	o, res := changeMembership(ctx, d, change)
	if res != nil {
		return res
	}
	out := AddChatUsersOutput{ChatID: in.ChatID, Added: orEmpty(o.changed), AlreadyMembers: orEmpty(o.unchanged), NotAdded: orEmpty(o.notChanged), HideHistory: hide, DryRun: in.DryRun}
	summary := addSummary(out)
	if o.lost != nil {
		summary = fmt.Sprintf("Bitrix24's answer to the invitation was lost (%s), so the membership was read to find out. %s", describeErr(o.lost), summary)
	}
	return dataResult(out, summary, addData(out))
}

// invitation is the change that adds users to a chat (add_chat_users,
// sync_chat_with_team): one im.chat.user.add for all. Its question is the
// caller's to set.
func invitation(d *Deps, chatID int, users []int, hide, dryRun bool) membershipChange {
	return membershipChange{
		chatID: chatID, users: users, dryRun: dryRun, adding: true, verb: "invitation",
		write: func(ctx context.Context, todo []int) (map[int]string, error, error) {
			// One request for all: a write is never retried after a fault.
			err := d.client(ctx).ChatUserAdd(ctx, chatID, todo, hide)
			if err != nil && outcomeUnknown(err) {
				return nil, err, nil
			}
			return nil, nil, err
		},
		unverified: func(lost error) string {
			if lost != nil {
				return "Bitrix24's answer was lost and the user is not a member afterwards: the invitation did not land (safe to try again)"
			}
			return "Bitrix24 accepted the id but the user is not a member afterwards: the id is unknown, the user is dismissed, or cannot join this chat"
		},
	}
}

// userNames are the names of users, for a question to a human (ids stay
// bare where the read fails).
func userNames(ctx context.Context, d *Deps, ids []int) map[int]string {
	names := map[int]string{}
	if users, _, err := d.client(ctx).UsersByIDs(ctx, ids); err == nil {
		for _, u := range users {
			names[int(u.ID)] = u.Name
		}
	}
	return names
}

func addSummary(o AddChatUsersOutput) string {
	verb := "added"
	if o.DryRun {
		verb = "would add"
	}
	s := fmt.Sprintf("chat%d: %s %d user(s)", o.ChatID, verb, len(o.Added))
	if len(o.Added) > 0 {
		s += " (" + join(o.Added) + ")"
	}
	s += fmt.Sprintf(", %d already member(s)", len(o.AlreadyMembers))
	if len(o.NotAdded) > 0 {
		ids := make([]int, len(o.NotAdded))
		for i, n := range o.NotAdded {
			ids[i] = n.ID
		}
		s += fmt.Sprintf(", %d not added (%s: unknown or dismissed ids?)", len(o.NotAdded), join(ids))
	}
	if !o.DryRun && len(o.Added) > 0 {
		if o.HideHistory {
			s += "; earlier messages hidden from them"
		} else {
			s += "; they can read the history"
		}
	}
	return s + "."
}

// addData lists every id per outcome, and why each one was not added.
func addData(o AddChatUsersOutput) string {
	return changeData("added", o.Added, "already_members", o.AlreadyMembers, "not_added", o.NotAdded)
}
