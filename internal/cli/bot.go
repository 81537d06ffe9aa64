package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

const botUsage = `Usage: bitrix24-chat-mcp bot register [--code CODE] [--name NAME] [settings flags]

Registers a chat bot for bot_chat_members and get_bot_chat through
imbot.v2.Bot.register, with the configured credentials (BITRIX24_WEBHOOK_URL
or OAuth), and prints the lines to add to the server's configuration:
BITRIX24_BOT_ID, and on a webhook BITRIX24_BOT_TOKEN, a new random token that
is printed this once and never logged. Registering is idempotent per code: a
second run gives the same bot, and keeps the token it already has.

  --code   the bot's code, unique within the application (default bitrix24_chat_mcp)
  --name   the bot's name in chats (default "Chat membership assistant")
`

// runBot is `bitrix24-chat-mcp bot register`.
func runBot(args []string, env Env) error {
	stdout, stderr := env.Stdout, env.Stderr
	if len(args) == 0 || args[0] != "register" {
		fmt.Fprint(stderr, botUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return &app.UsageError{Msg: "bot: the command is bot register"}
	}
	code, name, rest, help := "bitrix24_chat_mcp", "Chat membership assistant", []string{}, false
	for i := 1; i < len(args); i++ {
		flag, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case flag == "h" || flag == "help":
			help = true
		case (flag == "code" || flag == "name") && strings.HasPrefix(args[i], "-"):
			if !hasValue {
				if i+1 == len(args) {
					return &app.UsageError{Msg: fmt.Sprintf("--%s needs a value", flag)}
				}
				i++
				value = args[i]
			}
			if flag == "code" {
				code = value
			} else {
				name = value
			}
		default:
			rest = append(rest, args[i])
		}
	}
	if help {
		fmt.Fprint(stderr, botUsage)
		return nil
	}
	cfg, err := loadConfig(app.Name+" bot register", rest, env)
	if cfg == nil {
		return err
	}
	a, err := app.New(cfg, appOptions(env, newLogger(cfg, stderr)))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token := newBotToken()
	entry := audit.Entry{Event: audit.Register, Portal: a.Client.Portal(), UserID: a.Client.ActingUser(), Outcome: "attempt", Reason: "code " + code}
	if err := a.Audit.Write(entry); err != nil {
		return fmt.Errorf("not registered: the audit log could not be written: %w", err)
	}
	bot, err := a.Client.BotRegister(ctx, code, name, token)
	if err != nil {
		return fmt.Errorf("registering the bot failed: %s", explain(err))
	}
	entry.Outcome, entry.Reason = "done", fmt.Sprintf("bot %d (code %s)", bot.ID, code)
	if err := a.Audit.Write(entry); err != nil {
		fmt.Fprintln(stderr, "the audit log could not take the registration:", err)
	}
	fmt.Fprintf(stdout, "# Bot %q (code %s) is registered. Add to the server's configuration:\n", name, code)
	fmt.Fprintf(stdout, "BITRIX24_BOT_ID=%d\n", bot.ID)
	if !a.Client.IsWebhook() {
		fmt.Fprintln(stdout, "# OAuth: imbot.v2 calls need no bot token.")
		return nil
	}
	ours, err := a.Client.BotTokenWorks(ctx, int(bot.ID), token)
	switch {
	case err != nil:
		return fmt.Errorf("the bot is registered, but checking its token failed: %s", explain(err))
	case ours:
		// The one place a secret is printed: stdout, for the operator, once.
		fmt.Fprintf(stdout, "BITRIX24_BOT_TOKEN=%s\n", token.Reveal())
	default:
		fmt.Fprintln(stdout, "# This code was registered before, and Bitrix24 kept that bot and its token:")
		fmt.Fprintln(stdout, "# keep the BITRIX24_BOT_TOKEN printed the first time (or register with another --code).")
	}
	return nil
}

// newBotToken makes a random bot token: 32 URL-safe characters, within
// imbot.v2's 40.
func newBotToken() bitrix.Secret {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return bitrix.Secret(base64.RawURLEncoding.EncodeToString(b))
}
