package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/transport"
)

// runCheck is `bitrix24-chat-mcp check`: one or two calls with the configured
// credentials, and a plain-words verdict on each thing the tools need.
// Exit status 0 only when everything needed is there.
func runCheck(args []string, env Env) error {
	deep := false
	var rest []string
	for _, a := range args {
		if a == "--deep" || a == "-deep" {
			deep = true
			continue
		}
		rest = append(rest, a)
	}
	cfg, err := loadConfig(app.Name+" check", rest, env)
	if cfg == nil {
		return err
	}
	stdout := env.Stdout
	// Refuse what the server would refuse, before asking the portal anything.
	if cfg.Transport != "stdio" {
		if err := transport.CheckListen(cfg); err != nil {
			fmt.Fprintln(stdout, "Not ready: the server would refuse this configuration (see stderr).")
			return err
		}
	}
	if cfg.SignIn() {
		return checkSignIn(cfg, env)
	}
	// A check answers quickly: a portal that is down stays down for a while.
	cfg.Bitrix.MaxRetryTime, cfg.Bitrix.MaxAttempts = 20*time.Second, 3
	a, err := app.New(cfg, appOptions(env, nil))
	if err != nil {
		return err
	}
	client := a.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	v := &verdicts{w: stdout}
	line, fail := v.line, v.fail
	fmt.Fprintf(stdout, "Checking %s\n", client)

	me, err := client.Me(ctx)
	var te *bitrix.TransportError
	if errors.As(err, &te) {
		fail("could not reach the portal: %s", te.Msg)
		fmt.Fprintln(stdout, "Not ready: check the portal address and the network.")
		return ErrReported
	}
	if err != nil {
		fail("the credentials do not work: %s", explain(err))
		fmt.Fprintln(stdout, "Not ready: fix the credentials first.")
		return ErrReported
	}
	line("OK", "the credentials work: acting as %s %s (user %d)", me.Name, me.LastName, me.ID)

	scopes, err := client.Scopes(ctx)
	if err != nil {
		fail("could not read the scopes: %s", explain(err))
	}
	how := "add it in Bitrix24 (Developer resources > your inbound webhook > scopes, or the application's settings), save, and run check again"
	if slices.Contains(scopes, "im") {
		line("OK", "scope im: list_dialog_users and add_chat_users can work")
	} else if err == nil {
		fail("scope im is MISSING: no tool can work without it; %s", how)
	}
	botID := cfg.Tools.BotID
	if a.Demo != nil && botID == 0 {
		botID = a.Demo.Fixture().Bots[0].ID
	}
	hasImbot := slices.Contains(scopes, "imbot")
	switch {
	case hasImbot:
		line("OK", "scope imbot: bot_chat_members and get_bot_chat can work")
	case err == nil && botID > 0:
		fail("scope imbot is MISSING, and BITRIX24_BOT_ID is set: the bot tools need it; %s", how)
	case err == nil:
		line("NOTE", "scope imbot is missing: bot_chat_members and get_bot_chat will not work (fine if you do not use a bot)")
	}

	if err == nil {
		checkTeamScopes(scopes, line)
	}

	if botID == 0 {
		line("NOTE", "no BITRIX24_BOT_ID: the bot tools need bot_id in every call")
	} else if hasImbot {
		checkBot(ctx, client, botID, line, fail)
	}
	if deep {
		checkShapes(ctx, client, me, botID, hasImbot, line, fail)
	}
	return v.end()
}

// teamScopes are the scopes the team tools need beyond im, each with what
// it turns on; any one of a line's names grants it.
var teamScopes = []struct {
	names []string
	what  string
}{
	{[]string{"department"}, "departments (find_teams, and departments in list_team_members, compare_chat_with_team and sync_chat_with_team)"},
	{[]string{"user_brief", "user", "user_basic"}, "the people of a department (user.get) and find_users' department and position filters (user.search)"},
	{[]string{"sonet_group", "socialnetwork", "sonet"}, "workgroups and projects (find_teams, and workgroups in the team tools)"},
}

// checkTeamScopes names each team scope there or missing, and what a
// missing one turns off. The team tools are optional: a NOTE, not a failure.
func checkTeamScopes(scopes []string, line func(verdict, format string, a ...any)) {
	for _, s := range teamScopes {
		if i := slices.IndexFunc(s.names, func(n string) bool { return slices.Contains(scopes, n) }); i >= 0 {
			line("OK", "scope %s: %s can work", s.names[i], s.what)
			continue
		}
		line("NOTE", "scope %s is missing, so these will not work: %s; add it where you added im to use them", s.names[0], s.what)
	}
}

// verdicts are check's OK, FAILED and NOTE lines, and its last word.
type verdicts struct {
	w      io.Writer
	failed bool
}

func (v *verdicts) line(verdict, format string, a ...any) {
	fmt.Fprintf(v.w, "  %-7s %s\n", verdict, fmt.Sprintf(format, a...))
}

func (v *verdicts) fail(format string, a ...any) { v.failed = true; v.line("FAILED", format, a...) }

// end says Ready, or Not ready (exit status 1).
func (v *verdicts) end() error {
	if !v.failed {
		fmt.Fprintln(v.w, "Ready.")
		return nil
	}
	fmt.Fprintln(v.w, "Not ready: see FAILED above.")
	return ErrReported
}

func checkBot(ctx context.Context, client *bitrix.Client, botID int, line func(verdict, format string, a ...any), fail func(format string, a ...any)) {
	bots, err := client.Bots(ctx)
	switch {
	case err != nil:
		fail("could not list the portal's bots: %s", explain(err))
	case bots[botID] == "" && len(bots) > 0:
		fail("bot %d is not registered on this portal (%s); check BITRIX24_BOT_ID", botID, botNames(bots))
	case bots[botID] == "":
		fail("bot %d is not registered on this portal (it has no bots); check BITRIX24_BOT_ID, or run bot register", botID)
	default:
		line("OK", "bot %d (%s) is registered on the portal", botID, bots[botID])
	}
	if client.IsWebhook() && !client.HasBotClientID() {
		line("NOTE", "no BITRIX24_BOT_CLIENT_ID: chats over 200 members cannot be listed by bot_chat_members on a webhook")
	}
	if !client.IsWebhook() {
		return
	}
	if !client.HasBotToken() {
		line("NOTE", "no BITRIX24_BOT_TOKEN: imbot.v2 cannot be used on a webhook; bot_chat_members falls back to imbot.chat.user.list and get_bot_chat will fail")
		return
	}
	// The bot's dialog with the webhook's own user: ownership (the token) is
	// checked before access, so any answer but an ownership error means the
	// token is right.
	_, err = client.BotChat(ctx, botID, client.WebhookUserID())
	if e, isB := bitrix.AsError(err); err != nil && (!isB || e.Code != bitrix.CodeAccessDenied) {
		fail("the bot did not answer imbot.v2 with the configured BITRIX24_BOT_TOKEN: %s", explain(err))
		return
	}
	line("OK", "bot %d answers imbot.v2 with the configured token", botID)
}

func botNames(bots map[int]string) string {
	ids := make([]int, 0, len(bots))
	for id := range bots {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(id) + " " + bots[id]
	}
	return s
}

// explain renders a client error in plain words.
func explain(err error) string {
	if e, ok := bitrix.AsError(err); ok {
		switch {
		case e.Code == bitrix.CodeNoAuthFound:
			return "Bitrix24 does not know these credentials (NO_AUTH_FOUND): check the webhook URL, or whether the webhook was deleted"
		case bitrix.IsAuth(err):
			return fmt.Sprintf("%s: %s", e.Code, e.Description)
		}
		return e.Error()
	}
	return err.Error()
}
