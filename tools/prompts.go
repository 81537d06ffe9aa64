package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The invite_to_chat prompt: the whole invitation, by names, as one command
// (Claude Code shows prompts as slash commands).
func invitePrompt() mcp.Prompt {
	return mcp.NewPrompt("invite_to_chat",
		mcp.WithPromptDescription("Invite people to a Bitrix24 chat by name: find the chat and the people, preview, confirm, add, and report who was really added."),
		mcp.WithArgument("chat", mcp.RequiredArgument(),
			mcp.ArgumentDescription("The chat: its name (or part of it), or chatN.")),
		mcp.WithArgument("people", mcp.RequiredArgument(),
			mcp.ArgumentDescription("Who to invite: names, job titles, user ids, or whole teams (a department, with or without its sub-departments, or a workgroup or project), separated by commas.")),
	)
}

func handleInvitePrompt(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	chat, people := req.Params.Arguments["chat"], req.Params.Arguments["people"]
	if chat == "" || people == "" {
		return nil, fmt.Errorf("invite_to_chat needs both arguments: chat (a chat name or chatN) and people (names or ids)")
	}
	text := fmt.Sprintf(`Invite these people to a Bitrix24 chat, using the bitrix24-chat tools.

Chat: %s
People: %s

1. Find the chat: unless it is already given as chatN, call find_chats with a distinctive part of its name. If several chats match, ask me which one; if none does, tell me and stop.
2. Find each person: call find_users with query set to the name (or ids set to the ids). If a name matches several users, ask me which one; if none, say so and leave that person out.
   For a whole team ("everyone in Marketing", "the Website project"), call find_teams with the team's name instead: a department's id (say whether its sub-departments count: include_subdepartments), or a workgroup's or project's id. If several match, ask me which one.
3. Preview: for people, call add_chat_users with the chat's id, the user ids and dry_run true; for teams (with any single people as user_ids), call sync_chat_with_team with the chat's id, departments, workgroups and dry_run true, which compares the team with the chat for you. Show me who would be added and who is already a member, with names.
4. Ask me to confirm, then call the same tool again without dry_run. If sync_chat_with_team reports still_missing above zero, call it again until it is zero.
5. Report the outcome from the result: who was added, who already was a member, and anyone not added with the reason Bitrix24 gave.`, chat, people)
	return mcp.NewGetPromptResult("Invite people to a Bitrix24 chat by name",
		[]mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))}), nil
}

// registerPrompts adds the prompts; invite_to_chat invites, so read-only
// mode leaves it out.
func registerPrompts(s *server.MCPServer, st Settings) {
	if !st.ReadOnly {
		s.AddPrompt(invitePrompt(), handleInvitePrompt)
	}
}
