package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// AddChatUsersInput is add_chat_users' arguments.
type AddChatUsersInput struct {
	ChatID      int   `json:"chat_id" jsonschema:"required,minimum=1,example=2935" jsonschema_description:"Numeric id of the group chat (the N of chatN)."`
	UserIDs     []int `json:"user_ids" jsonschema:"required,minItems=1,maxItems=100,minimum=1" jsonschema_description:"Ids of the users to invite (each >= 1; duplicates are ignored). At most BITRIX24_MAX_INVITE (default 100) per call."`
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
	if refused := d.allowedChat(in.ChatID); refused != nil {
		return refused
	}
	want := dedupe(in.UserIDs)
	dialog := fmt.Sprintf("chat%d", in.ChatID)
	progress := progressFrom(ctx)

	before, err := d.Client.DialogUsersAll(ctx, bitrix.DialogUsersQuery{DialogID: dialog}, maxMembership, progress)
	if err != nil {
		return bitrixErrorResult(ctx, err, nil)
	}
	members := idSet(before.Users)
	out := AddChatUsersOutput{ChatID: in.ChatID, Added: []int{}, AlreadyMembers: []int{}, NotAdded: []NotChanged{}, HideHistory: hide, DryRun: in.DryRun}
	var missing []int
	for _, id := range want {
		if members[id] {
			out.AlreadyMembers = append(out.AlreadyMembers, id)
		} else {
			missing = append(missing, id)
		}
	}
	if in.DryRun || len(missing) == 0 {
		out.Added = append(out.Added, missing...)
		return dataResult(out, addSummary(out), addData(out))
	}
	if len(missing) > d.Settings.ConfirmOver {
		names := map[int]string{}
		if users, err := d.Client.UsersByID(ctx, missing); err == nil {
			for _, u := range users {
				names[int(u.ID)] = u.Name
			}
		}
		msg := fmt.Sprintf("Invite %d people to %s: %s?", len(missing), chatName(ctx, d, dialog), peopleNames(missing, names))
		switch answer, ask := confirmChange(ctx, msg); answer {
		case askingFirst:
			return ask
		case declined:
			return errorResult(fmt.Sprintf("The invitation to %s was declined by the user; nothing was sent to Bitrix24.", dialog))
		}
	}
	addErr := d.Client.ChatUserAdd(ctx, in.ChatID, missing, hide)
	if addErr != nil && !outcomeUnknown(addErr) {
		return bitrixErrorResult(ctx, addErr, nil)
	}
	// Read the membership again: to verify (Bitrix24 answers true even for
	// ids it ignores), and to learn what happened when the answer was lost.
	verifyCtx := ctx
	if addErr != nil {
		// The caller may have gone, but the write may have landed: find out
		// for the log and for a caller still listening.
		var cancel context.CancelFunc
		verifyCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
		defer cancel()
	}
	after, err := d.Client.DialogUsersAll(verifyCtx, bitrix.DialogUsersQuery{DialogID: dialog}, maxMembership, progress)
	if err != nil && addErr != nil {
		d.Log.Warn("an invitation's outcome is unknown", "chat", in.ChatID, "users", missing, "error", addErr, "verify_error", err)
		return errorResult(fmt.Sprintf("The outcome of inviting %s to %s is unknown: the request may have reached Bitrix24 but no answer came back (%s), and reading the membership to check failed too (%s).\nHint: call list_dialog_users on %s with fields=\"ids\" to see who is a member now, then invite only those still missing.",
			join(missing), dialog, describeErr(addErr), describeErr(err), dialog))
	}
	if err != nil {
		res := bitrixErrorResult(ctx, err, nil)
		res.Content = append(res.Content, mcp.NewTextContent(fmt.Sprintf(
			"Bitrix24 accepted the invitation of %s, but verifying the membership afterwards failed; call list_dialog_users on %s to check.", join(missing), dialog)))
		return res
	}
	now := idSet(after.Users)
	for _, id := range missing {
		switch {
		case now[id]:
			out.Added = append(out.Added, id)
		case addErr != nil:
			out.NotAdded = append(out.NotAdded, NotChanged{ID: id, Reason: "Bitrix24's answer was lost and the user is not a member afterwards: the invitation did not land (safe to try again)"})
		default:
			out.NotAdded = append(out.NotAdded, NotChanged{ID: id, Reason: "Bitrix24 accepted the id but the user is not a member afterwards: the id is unknown, the user is dismissed, or cannot join this chat"})
		}
	}
	summary := addSummary(out)
	if addErr != nil {
		d.Log.Warn("an invitation's answer was lost; membership read to verify", "chat", in.ChatID, "error", addErr)
		summary = fmt.Sprintf("Bitrix24's answer to the invitation was lost (%s), so the membership was read to find out. %s", describeErr(addErr), summary)
	}
	return dataResult(out, summary, addData(out))
}

// verifyTimeout bounds the membership read after a write whose answer was lost.
const verifyTimeout = 30 * time.Second

// outcomeUnknown reports a write error after which the write may have been
// applied: no answer (transport failure, cancellation, timeout) or a server
// fault. Bitrix24's own refusals mean it was not.
func outcomeUnknown(err error) bool {
	var te *bitrix.TransportError
	return errors.As(err, &te) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || bitrix.IsTransient(err)
}

// describeErr words an error for a model, never naming a retry that did not happen.
func describeErr(err error) string {
	var te *bitrix.TransportError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("%s after %d attempt(s)", te.Msg, te.Attempts)
	case errors.Is(err, context.Canceled):
		return "the call was cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "the call timed out"
	}
	return err.Error()
}

// maxMembership bounds a membership read: a chat larger than this is read
// only partly, and users beyond it look missing (and are re-sent harmlessly).
const maxMembership = 100000

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

func idSet(users []bitrix.DialogUser) map[int]bool {
	m := make(map[int]bool, len(users))
	for _, u := range users {
		m[int(u.ID)] = true
	}
	return m
}
