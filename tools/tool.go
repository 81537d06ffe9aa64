// Package tools holds the MCP tools, one file each. This file is what every
// tool shares: its description (spec), its dependencies, and the result and
// parameter helpers. catalog.go lists the tools and registers them; args.go
// validates and binds arguments; errors.go turns Bitrix24 errors into results.
package tools

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// Settings are the server-side limits and defaults the tools obey. Secrets
// and credentials live in the bitrix client, never here or in arguments.
type Settings struct {
	BotID          int          // default bot_id; 0 = none configured
	MaxInvite      int          // cap on user_ids of the tools that change membership
	AllowedChatIDs map[int]bool // nil = every chat; else writes refuse other chats
	ReadOnly       bool         // tools that write are not registered
	EnableRemove   bool         // remove_chat_users is registered (never in read-only mode)
	ConfirmOver    int          // add_chat_users asks the human before inviting more than this many
	MaxResultChars int          // each channel of a result stays within this; 0 = DefaultMaxResultChars
}

// DefaultConfirmOver is BITRIX24_CONFIRM_OVER's default.
const DefaultConfirmOver = 20

// DefaultMaxInvite is the one default cap on the users a call may add or
// remove (BITRIX24_MAX_INVITE); the committed schemas carry it as maxItems.
const DefaultMaxInvite = 100

// Deps is what a tool handler needs.
type Deps struct {
	// Client is the server's Bitrix24 client. With sign-in, each call runs
	// with the caller's own instead (WithClient).
	Client   *bitrix.Client
	Settings Settings
	Log      *slog.Logger
	// ConfirmKey signs the requestState of confirmations: a key replicas
	// share (with a shared state store). Nil means a random key of this
	// server's own, made at Register.
	ConfirmKey func(ctx context.Context) ([]byte, error)
	// Audit is the trail of changes and refusals (nil: off).
	Audit *audit.Log

	chats chatLocks // one membership change of a chat at a time
}

// audit writes one line of the trail, with who acted, through which client,
// for which call.
func (d *Deps) audit(ctx context.Context, e audit.Entry) error {
	if d.Audit == nil {
		return nil
	}
	e.Portal, e.UserID, e.RequestID = d.client(ctx).Portal(), d.client(ctx).ActingUser(), audit.RequestID(ctx)
	e.Tool = callFrom(ctx).req.Params.Name
	e.ClientID = audit.ClientID(ctx)
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil {
		e.Client = info.ClientInfo.Name
	} else if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		e.Client = s.GetClientInfo().Name
	}
	return d.Audit.Write(e)
}

type clientKey struct{}

// WithClient makes the tool calls under ctx use c: the signed-in caller's
// own Bitrix24 client.
func WithClient(ctx context.Context, c *bitrix.Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// client is the Bitrix24 client a call uses: the caller's, or the server's.
func (d *Deps) client(ctx context.Context) *bitrix.Client {
	if c, ok := ctx.Value(clientKey{}).(*bitrix.Client); ok {
		return c
	}
	return d.Client
}

// Changes reports whether the tool named changes chats (chat:write).
func Changes(name string) bool { return changing[name] }

// changing holds the tools that are not read-only, made once: Changes is
// asked on every call with sign-in.
var changing = func() map[string]bool {
	m := map[string]bool{}
	for _, sp := range specs() {
		if !sp.readOnly {
			m[sp.name] = true
		}
	}
	return m
}()

func (d *Deps) confirmKey(ctx context.Context) ([]byte, error) { return d.ConfirmKey(ctx) }

// randomKey is a key of this server's own: confirmations it asked for are
// honoured only by it.
func randomKey() func(context.Context) ([]byte, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return func(context.Context) ([]byte, error) { return b, nil }
}

// spec describes one tool. run gets arguments that passed the input schema
// and returns an error only when they do not bind to the tool's input type.
type spec struct {
	name        string
	title       string
	description string
	readOnly    bool
	destructive bool
	idempotent  bool
	openWorld   bool
	input       any                 // zero value of the input type, for schema generation
	output      any                 // zero value of the output type
	paramHints  map[string]string   // parameter -> how to fix a bad value
	capsUserIDs bool                // user_ids is capped at Settings.MaxInvite (served as maxItems)
	budgeted    bool                // results grow to Settings.MaxResultChars (listings)
	removes     bool                // may remove people where the server allows removal: destructive then
	enabled     func(Settings) bool // nil: always registered (read-only mode still hides writes)
	run         func(ctx context.Context, d *Deps, args []byte) (*mcp.CallToolResult, error)
}

// typed binds validated arguments into the tool's input type In.
func typed[In any](handle func(ctx context.Context, d *Deps, in In) *mcp.CallToolResult) func(context.Context, *Deps, []byte) (*mcp.CallToolResult, error) {
	return func(ctx context.Context, d *Deps, args []byte) (*mcp.CallToolResult, error) {
		var in In
		if err := json.Unmarshal(args, &in); err != nil {
			return nil, err
		}
		return handle(ctx, d, in), nil
	}
}

// dataResult is a successful result: structuredContent, and text that is the
// summary followed by the same data rendered for reading (render.go).
func dataResult(structured any, summary, data string) *mcp.CallToolResult {
	text := summary
	if data != "" {
		text += "\n" + data
	}
	return mcp.NewToolResultStructured(structured, text)
}

func errorResult(text string) *mcp.CallToolResult {
	return mcp.NewToolResultError(text)
}

// invalidArguments is the one wording for refused input: each problem names
// the parameter and the fix, and the model learns that nothing was sent.
func invalidArguments(tool string, problems ...string) *mcp.CallToolResult {
	return errorResult(fmt.Sprintf("Invalid arguments for %s (nothing was sent to Bitrix24):\n- %s", tool, strings.Join(problems, "\n- ")))
}

// BotArg is the bot_id parameter of the tools that look through a bot.
type BotArg struct {
	BotID int `json:"bot_id,omitempty" jsonschema:"minimum=1" jsonschema_description:"The bot to look through. Defaults to the server's BITRIX24_BOT_ID."`
}

// botID picks the bot_id argument or the configured default.
func (d *Deps) botID(tool string, arg BotArg) (int, *mcp.CallToolResult) {
	if arg.BotID > 0 {
		return arg.BotID, nil
	}
	if d.Settings.BotID > 0 {
		return d.Settings.BotID, nil
	}
	return 0, invalidArguments(tool, "bot_id: required here, because the server has no BITRIX24_BOT_ID; pass the bot's numeric id (imbot.bot.list shows it) or set BITRIX24_BOT_ID")
}

// allowedChat refuses a write to a chat outside BITRIX24_ALLOWED_CHAT_IDS.
func (d *Deps) allowedChat(chatID int) *mcp.CallToolResult {
	allowed := d.Settings.AllowedChatIDs
	if allowed == nil || allowed[chatID] {
		return nil
	}
	ids := make([]int, 0, len(allowed))
	for id := range allowed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return errorResult(fmt.Sprintf("chat_id %d is not in this server's allow-list (BITRIX24_ALLOWED_CHAT_IDS=%s), so nothing was sent.\nHint: to allow it, add %d to BITRIX24_ALLOWED_CHAT_IDS in the server's configuration and restart it; otherwise use one of the allowed chats.",
		chatID, join(ids), chatID))
}

func dedupe(ids []int) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// join lists values for a message: "1, 2, 3".
func join[T any](values []T) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
