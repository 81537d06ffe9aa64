package cli

import (
	"fmt"
	"io"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// printHelp is `--help` and `help`: the commands, every setting, examples.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `bitrix24-chat-mcp: an MCP server that lets AI assistants see and change who is in a Bitrix24 chat.

Commands:
  bitrix24-chat-mcp [flags]                 serve MCP: over stdio (the default), or --transport http|sse
  bitrix24-chat-mcp check [flags]           check the configuration, then the credentials against the portal
  bitrix24-chat-mcp bot register [--code C] [--name N]
                                            register a chat bot and print its BITRIX24_BOT_ID/TOKEN lines
  bitrix24-chat-mcp login [--no-browser]    sign in with the OAuth application and save the tokens (logout: delete them)
  bitrix24-chat-mcp signins [revoke USER_ID | clients [delete CLIENT_ID]]
                                            with --auth bitrix24: who is signed in; sign a person out everywhere;
                                            the dynamic client registrations, and deleting one
  bitrix24-chat-mcp health [--ready]        ask a running HTTP server /healthz (or /readyz); for container checks
  bitrix24-chat-mcp version                 print the version (also --version)
  bitrix24-chat-mcp help                    this text (also --help; each command takes --help)

`)
	app.PrintSettings(w)
	fmt.Fprint(w, `
Examples:
  bitrix24-chat-mcp --demo                  the built-in demo portal, no Bitrix24 account needed
  BITRIX24_WEBHOOK_URL=https://example.bitrix24.com/rest/1/CODE/ bitrix24-chat-mcp check
  BITRIX24_WEBHOOK_URL=... bitrix24-chat-mcp --read-only
  MCP_AUTH_TOKEN=$(openssl rand -hex 32) BITRIX24_WEBHOOK_URL=... bitrix24-chat-mcp --transport http --addr 0.0.0.0:8080

The README has the install guides for Claude Code, Cursor, VS Code and Claude Desktop.
`)
}

const checkUsage = `Usage: bitrix24-chat-mcp check [--deep] [flags]

Checks what the server would run with: first the whole configuration (the
same rules the server applies: transport, address and token, booleans and
numbers, OAuth completeness), then the credentials against the portal: that
they work, which of the im and imbot scopes are there, and whether the
configured bot answers. Prints OK, FAILED and NOTE lines; exits 0 only when
everything needed works, 1 when the portal says no, 2 when the configuration
itself is wrong. Takes the same flags and variables as the server
(bitrix24-chat-mcp --help lists them).

  --deep   also read once with each method the tools use (a user search,
           user.search, im.user.list.get, the recent chats, one chat, a
           chat search, one membership page, and the bot's view of it when a
           bot is configured), decode each answer with the tools' own code,
           and say in plain words which member did not have its documented
           type: a portal whose answers changed shape is found at setup, not
           mid-conversation. It only reads; it never writes.
`
