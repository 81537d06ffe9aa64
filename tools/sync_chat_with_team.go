package tools

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// SyncChatWithTeamInput is sync_chat_with_team's arguments.
type SyncChatWithTeamInput struct {
	ChatID int `json:"chat_id" jsonschema:"required,minimum=1,example=2935" jsonschema_description:"Numeric id of the group chat (the N of chatN)."`
	TeamInput
	AddMissing  *bool `json:"add_missing,omitempty" jsonschema:"default=true" jsonschema_description:"Invite the team members who are not in the chat. Defaults to true."`
	RemoveExtra bool  `json:"remove_extra,omitempty" jsonschema:"default=false" jsonschema_description:"Also remove the chat members (bots and you aside) who are not in the team. Only where the server allows removal (--enable-remove); the human is asked first."`
	HideHistory *bool `json:"hide_history,omitempty" jsonschema:"default=true" jsonschema_description:"Hide the chat's earlier messages from the people added, as add_chat_users. Defaults to true."`
	DryRun      bool  `json:"dry_run,omitempty" jsonschema:"default=false" jsonschema_description:"Only report what would change; change nothing."`
}

// SyncChatWithTeamOutput is sync_chat_with_team's result.
type SyncChatWithTeamOutput struct {
	ChatID       int          `json:"chat_id" jsonschema:"required"`
	TeamSize     int          `json:"team_size" jsonschema:"required"`
	Added        []int        `json:"added" jsonschema:"required" jsonschema_description:"Team members who are in the chat now and were not (with dry_run: who would be invited)."`
	NotAdded     []NotChanged `json:"not_added" jsonschema:"required" jsonschema_description:"Team members invited but not in the chat afterwards, and why."`
	Removed      []int        `json:"removed" jsonschema:"required" jsonschema_description:"Chat members not in the team who were removed (with dry_run: who would be)."`
	NotRemoved   []NotChanged `json:"not_removed" jsonschema:"required" jsonschema_description:"Chat members not in the team who are still members, and why (you are never removed)."`
	StillMissing int          `json:"still_missing" jsonschema:"required" jsonschema_description:"Team members still not in the chat: past the per-call cap (call again), or not added."`
	StillExtra   int          `json:"still_extra" jsonschema:"required" jsonschema_description:"Chat members, bots aside, still not in the team: remove_extra was off, or they were not removed."`
	InStep       bool         `json:"in_step" jsonschema:"required" jsonschema_description:"true when, after this call, nobody is missing and nobody is extra."`
	HideHistory  bool         `json:"hide_history" jsonschema:"required"`
	DryRun       bool         `json:"dry_run" jsonschema:"required"`
	TeamParts
}

func syncChatWithTeamSpec() spec {
	return spec{
		name:  "sync_chat_with_team",
		title: "Keep a chat in step with a team",
		description: `Bring a chat in step with a team: invite the team members who are not in it, and, only where the server allows removal and remove_extra is set, remove the members who are not in the team. The team is departments (with include_subdepartments, every sub-department too), workgroups or projects, and single user ids, in any union; active users only by default.

The server works out who is missing and who is extra (compare_chat_with_team shows it without changing anything), then changes the chat as add_chat_users and remove_chat_users do: at most BITRIX24_MAX_INVITE people added and as many removed per call (still_missing says how many remain: call again), the human asked to confirm inviting more than BITRIX24_CONFIRM_OVER (default 20) people or removing anyone, and the outcome verified by reading the chat again. Bots and you are never removed. A chat already in step is left alone. Use dry_run to preview.

Example: {"chat_id": 2935, "departments": [2], "include_subdepartments": true, "dry_run": true}`,
		readOnly:   false,
		idempotent: true,
		openWorld:  true,
		removes:    true,
		input:      SyncChatWithTeamInput{},
		output:     SyncChatWithTeamOutput{},
		paramHints: map[string]string{
			"user_ids": "use an array of user ids (whole numbers >= 1), e.g. [99, 1271]",
		},
		run: typed(syncChatWithTeam),
	}
}

func syncChatWithTeam(ctx context.Context, d *Deps, in SyncChatWithTeamInput) *mcp.CallToolResult {
	add := in.AddMissing == nil || *in.AddMissing
	if refused := d.allowedChat(in.ChatID); refused != nil {
		entry := audit.Entry{Event: audit.Refused, Outcome: "refused", Reason: "BITRIX24_ALLOWED_CHAT_IDS", ChatID: in.ChatID, UserIDs: in.UserIDs}
		if err := d.audit(ctx, entry); err != nil {
			return auditFailed(err)
		}
		return refused
	}
	if in.RemoveExtra && !d.Settings.EnableRemove {
		return invalidArguments("sync_chat_with_team", "remove_extra: this server does not remove people (it was started without --enable-remove); leave remove_extra out to only invite the missing, or ask the server's operator")
	}
	if !add && !in.RemoveExtra {
		return invalidArguments("sync_chat_with_team", "add_missing, remove_extra: with add_missing false and no remove_extra there is nothing to do; to only see the difference, call compare_chat_with_team")
	}
	diff, res := diffChatWithTeam(ctx, d, "sync_chat_with_team", in.ChatID, in.TeamInput)
	if res != nil {
		return res
	}
	t := diff.team
	hide := in.HideHistory == nil || *in.HideHistory
	out := SyncChatWithTeamOutput{ChatID: in.ChatID, TeamSize: len(t.people), Added: []int{}, NotAdded: []NotChanged{}, Removed: []int{}, NotRemoved: []NotChanged{},
		HideHistory: hide, DryRun: in.DryRun, TeamParts: t.parts()}
	dialog := fmt.Sprintf("chat%d", in.ChatID)

	// What this call changes: at most BITRIX24_MAX_INVITE each way, and
	// never the caller (a sync must not lock its own user out of the chat).
	var toAdd, toRemove []int
	if add {
		toAdd = userIDs(diff.missing)[:min(len(diff.missing), d.Settings.MaxInvite)]
	}
	if in.RemoveExtra {
		extra := userIDs(diff.extra)
		if me, err := strconv.Atoi(d.client(ctx).ActingUser()); err == nil && len(without(extra, me)) < len(extra) {
			extra = without(extra, me)
			out.NotRemoved = append(out.NotRemoved, NotChanged{ID: me, Reason: "you (the user the server acts as): a sync never removes its own user"})
		}
		toRemove = extra[:min(len(extra), d.Settings.MaxInvite)]
	}
	names := map[int]string{}
	for _, u := range append(append([]bitrix.DialogUser{}, diff.missing...), diff.extra...) {
		names[int(u.ID)] = u.Name
	}
	if !in.DryRun && (len(toAdd) > d.Settings.ConfirmOver || len(toRemove) > 0) {
		// One question for the whole change, before any of it.
		var parts []string
		if len(toAdd) > 0 {
			parts = append(parts, fmt.Sprintf("invite %d people (%s)", len(toAdd), peopleNames(toAdd, names)))
		}
		if len(toRemove) > 0 {
			parts = append(parts, fmt.Sprintf("remove %d people (%s)", len(toRemove), peopleNames(toRemove, names)))
		}
		q := fmt.Sprintf("Bring %s in step with the team (%s): %s?", chatName(ctx, d, dialog), teamName(t), strings.Join(parts, " and "))
		entry := audit.Entry{ChatID: in.ChatID, UserIDs: append(append([]int{}, toAdd...), toRemove...)}
		if res := askFirst(ctx, d, entry, q, "change", dialog); res != nil {
			return res
		}
	}

	var lost error
	stillMissing := len(diff.missing)
	if len(toAdd) > 0 {
		o, res := changeMembership(ctx, d, invitation(d, in.ChatID, toAdd, hide, in.DryRun))
		if res != nil {
			return res
		}
		out.Added, out.NotAdded = orEmpty(o.changed), orEmpty(o.notChanged)
		stillMissing -= len(o.changed) + len(o.unchanged) // unchanged: joined meanwhile
		lost = o.lost
	}
	stillExtra := len(diff.extra)
	if len(toRemove) > 0 {
		o, res := changeMembership(ctx, d, removal(d, in.ChatID, toRemove, in.DryRun))
		if res != nil {
			return res
		}
		out.Removed = orEmpty(o.changed)
		out.NotRemoved = append(out.NotRemoved, o.notChanged...)
		stillExtra -= len(o.changed) + len(o.unchanged) // unchanged: left meanwhile
		if o.lost != nil {
			lost = o.lost
		}
	}
	out.StillMissing, out.StillExtra = stillMissing, stillExtra
	out.InStep = stillMissing == 0 && stillExtra == 0

	verb, rverb := "added", "removed"
	if in.DryRun {
		verb, rverb = "would add", "would remove"
	}
	var summary string
	switch {
	case len(diff.missing) == 0 && len(diff.extra) == 0:
		summary = fmt.Sprintf("%s is already in step with the team of %d: nothing was sent", dialog, out.TeamSize)
	default:
		summary = fmt.Sprintf("%s against a team of %d: %s %d", dialog, out.TeamSize, verb, len(out.Added))
		if len(out.NotAdded) > 0 {
			summary += fmt.Sprintf(", %d not added", len(out.NotAdded))
		}
		if in.RemoveExtra {
			summary += fmt.Sprintf(", %s %d", rverb, len(out.Removed))
		}
		summary += fmt.Sprintf("; %d still missing, %d still extra", out.StillMissing, out.StillExtra)
		if rest := len(diff.missing) - len(toAdd); add && rest > 0 {
			summary += fmt.Sprintf(" (%d more missing than one call invites, BITRIX24_MAX_INVITE=%d: call sync_chat_with_team again for them)", rest, d.Settings.MaxInvite)
		}
		if !in.RemoveExtra && out.StillExtra > 0 {
			summary += " (remove_extra was off)"
		}
		if !in.DryRun && len(out.Added) > 0 {
			summary += map[bool]string{true: "; earlier messages hidden from the people added", false: "; the people added can read the history"}[hide]
		}
	}
	if lost != nil {
		summary = fmt.Sprintf("An answer from Bitrix24 was lost (%s), so the membership was read to find out. %s", describeErr(lost), summary)
	}
	if out.Inactive > 0 {
		summary += fmt.Sprintf("; %d dismissed user(s) left out of the team", out.Inactive)
	}
	data := []string{t.sourcesLine(), changeData("added", out.Added, "removed", out.Removed, "not_added", out.NotAdded)}
	for _, n := range out.NotRemoved {
		data = append(data, fmt.Sprintf("not_removed: %d (%s)", n.ID, n.Reason))
	}
	return dataResult(out, summary+".", strings.Join(data, "\n"))
}

// teamName words a team for a question to a human: "Sales and its
// sub-departments, Website relaunch, 2 more people".
func teamName(t *team) string {
	var parts []string
	for _, s := range t.sources {
		switch s.Kind {
		case "users":
			parts = append(parts, fmt.Sprintf("%d named people", s.People))
		default:
			parts = append(parts, s.Name)
		}
	}
	return strings.Join(parts, ", ")
}
