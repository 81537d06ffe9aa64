package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// membershipChange is what add_chat_users and remove_chat_users tell the
// flow they share (changeMembership): read the membership, split the users,
// ask the human when the change calls for it, write, read again to verify.
type membershipChange struct {
	chatID int
	users  []int // deduplicated
	dryRun bool
	adding bool // the users to change are the non-members; else the members
	// question is what to ask the human before writing todo, or "" (or a
	// nil question) to write without asking; names holds the members' names.
	question func(ctx context.Context, todo []int, names map[int]string) string
	verb     string // "invitation", "removal": names the change in messages
	// write sends the change. fatal is a refusal that leaves nothing to
	// verify; failed gives reasons for users it knows were not changed;
	// lost is set when an answer never came, so the outcome must be read.
	write func(ctx context.Context, todo []int) (failed map[int]string, lost error, fatal error)
	// unverified words the reason for a user still unchanged after a write
	// without a reason of its own.
	unverified func(lost error) string
}

// membershipOutcome is what changeMembership found.
type membershipOutcome struct {
	changed    []int        // changed now (with dry run: would be)
	unchanged  []int        // needed no change: already members, or not members
	notChanged []NotChanged // needed it and did not get it, with reasons
	lost       error        // an answer that was lost, so the membership told
}

// changeMembership runs the shared flow. A non-nil result ends the call as
// it is (a refusal, a Bitrix24 error, a declined or pending confirmation).
func changeMembership(ctx context.Context, d *Deps, c membershipChange) (membershipOutcome, *mcp.CallToolResult) {
	var out membershipOutcome
	entry := audit.Entry{ChatID: c.chatID, UserIDs: c.users}
	if refused := d.allowedChat(c.chatID); refused != nil {
		entry.Event, entry.Outcome, entry.Reason = audit.Refused, "refused", "BITRIX24_ALLOWED_CHAT_IDS"
		if err := d.audit(ctx, entry); err != nil {
			return out, auditFailed(err)
		}
		return out, refused
	}
	dialog := fmt.Sprintf("chat%d", c.chatID)
	// One change of this chat at a time reads, writes and verifies. (A
	// question to the person ends this call; the answer comes in another.)
	unlock, err := d.chats.lock(ctx, c.chatID)
	if err != nil {
		return out, bitrixErrorResult(ctx, err, nil)
	}
	defer unlock()
	todo, names, res := c.split(ctx, d, entry, &out)
	if res != nil {
		return out, res
	}
	if c.dryRun || len(todo) == 0 {
		out.changed = todo
		return out, nil
	}
	if c.question != nil {
		if q := c.question(ctx, todo, names); q != "" {
			if res := askFirst(ctx, d, entry, q, c.verb, dialog); res != nil {
				return out, res
			}
		}
	}
	progress := progressFrom(ctx)

	// The trail first: a change whose line cannot be written is not made.
	entry.Event, entry.Outcome, entry.UserIDs = audit.Write, "attempt", todo
	if err := d.audit(ctx, entry); err != nil {
		return out, auditFailed(err)
	}
	defer func() {
		entry.Outcome, entry.Changed = "done", out.changed
		for _, n := range out.notChanged {
			entry.NotChanged = append(entry.NotChanged, n.ID)
		}
		if out.changed == nil && out.notChanged == nil {
			entry.Outcome = "unknown or refused by Bitrix24"
		}
		if err := d.audit(context.WithoutCancel(ctx), entry); err != nil {
			d.Log.Error("the audit log could not take a change's outcome", "error", err)
		}
	}()

	failed, lost, fatal := c.write(ctx, todo)
	if fatal != nil {
		return out, bitrixErrorResult(ctx, fatal, nil)
	}
	// Read the membership again: to verify (Bitrix24 answers true even for
	// ids it ignores), and to learn what happened when an answer was lost.
	verifyCtx := ctx
	if lost != nil || ctx.Err() != nil {
		// The caller may have gone, but the write may have landed: find out
		// for the log and for a caller still listening.
		var cancel context.CancelFunc
		verifyCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
		defer cancel()
	}
	after, err := d.client(ctx).DialogUsersAll(verifyCtx, bitrix.DialogUsersQuery{DialogID: dialog}, maxMembership, progress)
	if err != nil {
		if lost != nil {
			d.Log.Warn("a membership change's outcome is unknown", "chat", c.chatID, "users", todo, "error", lost, "verify_error", err)
			return out, errorResult(fmt.Sprintf("The outcome of the %s of %s for %s is unknown: the request may have reached Bitrix24 but no answer came back (%s), and reading the membership to check failed too (%s).\nHint: call list_dialog_users on %s with fields=\"ids\" to see who is a member now, then send only what is still needed.",
				c.verb, join(todo), dialog, describeErr(lost), describeErr(err), dialog))
		}
		res := bitrixErrorResult(ctx, err, nil)
		res.Content = append(res.Content, mcp.NewTextContent(fmt.Sprintf(
			"Bitrix24 accepted the %s of %s, but verifying the membership afterwards failed; call list_dialog_users on %s with fields=\"ids\" to check.", c.verb, join(todo), dialog)))
		return out, res
	}
	now := idSet(after.Users)
	for _, id := range todo {
		reason, known := failed[id]
		switch {
		case now[id] == c.adding:
			out.changed = append(out.changed, id)
		case known:
			out.notChanged = append(out.notChanged, NotChanged{ID: id, Reason: reason})
		default:
			out.notChanged = append(out.notChanged, NotChanged{ID: id, Reason: c.unverified(lost)})
		}
	}
	if lost != nil {
		d.Log.Warn("a membership change's answer was lost; membership read to verify", "chat", c.chatID, "error", lost)
	}
	out.lost = lost
	return out, nil
}

// askFirst asks the person to confirm a change: nil once they did (or
// nobody can be asked); otherwise the result that ends the call: the
// question itself, or why nothing was sent, on the audit trail too.
func askFirst(ctx context.Context, d *Deps, entry audit.Entry, question, verb, dialog string) *mcp.CallToolResult {
	answer, ask := confirmChange(ctx, d, question)
	switch answer {
	case confirmed:
		return nil
	case askingFirst:
		return ask
	}
	why, told := notConfirmed(answer, verb, dialog)
	entry.Event, entry.Outcome, entry.Reason = audit.Refused, "refused", why
	if err := d.audit(ctx, entry); err != nil {
		return auditFailed(err)
	}
	if ask != nil {
		return ask
	}
	return errorResult(told)
}

// notConfirmed words a change the person did not confirm: the audit
// trail's reason, and what the model is told. A cancel is not a decline:
// nobody said no, and the model must not tell the person they did.
func notConfirmed(answer confirmation, verb, dialog string) (reason, told string) {
	switch answer {
	case declined:
		return "the confirmation was declined", fmt.Sprintf("The %s for %s was declined by the user; nothing was sent to Bitrix24.", verb, dialog)
	case unanswered:
		return "the confirmation came back without an answer", fmt.Sprintf("The %s for %s was not made: the client came back without the answer to the question (\"%s\"), so the user did not decline either; nothing was sent to Bitrix24. Call the tool again without inputResponses and requestState to be asked anew.", verb, dialog, confirmKey)
	case cancelled:
		return "the confirmation was cancelled: nobody was asked, or nobody answered", fmt.Sprintf("The %s for %s was not confirmed: the question to the user was cancelled, so the user was not asked or did not answer; they did not decline. Nothing was sent to Bitrix24. "+
			"To get the question shown, make the change from an interactive client (a client run without a person, such as claude -p, cancels every question), or let the client answer such questions (in Claude Code, an Elicitation hook); do not tell the user they declined.", verb, dialog)
	}
	return "the confirmation did not verify", fmt.Sprintf("The %s for %s was not made: its confirmation did not verify; nothing was sent to Bitrix24.", verb, dialog)
}

// split reads the chat's membership and splits c.users into those to
// change (todo) and those that need no change (into out.unchanged); names
// are the members' names. res ends the call: Bitrix24 refused the read.
func (c membershipChange) split(ctx context.Context, d *Deps, entry audit.Entry, out *membershipOutcome) (todo []int, names map[int]string, res *mcp.CallToolResult) {
	dialog := fmt.Sprintf("chat%d", c.chatID)
	before, err := d.client(ctx).DialogUsersAll(ctx, bitrix.DialogUsersQuery{DialogID: dialog}, maxMembership, progressFrom(ctx))
	if err != nil {
		if e, ok := bitrix.AsError(err); ok && ctx.Err() == nil {
			// Bitrix24 refused this person the chat: a refused change, on the record.
			entry.Event, entry.Outcome, entry.Reason = audit.Refused, "refused", "Bitrix24 "+e.Code+" reading the chat's members"
			if aerr := d.audit(ctx, entry); aerr != nil {
				return nil, nil, auditFailed(aerr)
			}
		}
		return nil, nil, bitrixErrorResult(ctx, err, nil)
	}
	names = make(map[int]string, len(before.Users))
	for _, u := range before.Users {
		names[int(u.ID)] = u.Name
	}
	for _, id := range c.users {
		if _, member := names[id]; member != c.adding {
			todo = append(todo, id)
		} else {
			out.unchanged = append(out.unchanged, id)
		}
	}
	return todo, names, nil
}

// verifyTimeout bounds the membership read after a write whose answer was lost.
const verifyTimeout = 30 * time.Second

// maxMembership bounds a membership read: a chat larger than this is read
// only partly, and users beyond it look missing (and are re-sent harmlessly).
const maxMembership = 100000

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

func idSet(users []bitrix.DialogUser) map[int]bool {
	m := make(map[int]bool, len(users))
	for _, u := range users {
		m[int(u.ID)] = true
	}
	return m
}

// orEmpty keeps a JSON list a list ([]), never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// auditFailed refuses a change whose audit line could not be written.
func auditFailed(err error) *mcp.CallToolResult {
	return errorResult(fmt.Sprintf("The change was not made: the audit log could not be written (%v). Nothing was sent to Bitrix24; tell the server's operator.", err))
}
