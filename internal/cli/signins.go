package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

const signinsUsage = `Usage: bitrix24-chat-mcp signins [flags]
       bitrix24-chat-mcp signins revoke USER_ID [flags]

For a team server with --auth bitrix24: lists who is signed in, through
which MCP client, with which scopes; revoke signs a person out of every
client and forgets their Bitrix24 tokens (their next call is asked to sign
in again; other replicas stop honouring their tokens within 10 seconds).
Takes the same settings as the server: run it where the server's
environment is. With the default store (a bbolt file) the server must be
stopped, as the file is one process's; with --state (Redis) it works while
the replicas run.
`

// runSignins is `bitrix24-chat-mcp signins [revoke USER_ID]`.
func runSignins(args []string, env Env) error {
	revoke := 0
	if len(args) > 0 && args[0] == "revoke" {
		if len(args) < 2 {
			return &app.UsageError{Msg: "signins revoke: give the person's Bitrix24 user id (signins lists them)"}
		}
		id, err := strconv.Atoi(args[1])
		if err != nil || id <= 0 {
			return &app.UsageError{Msg: fmt.Sprintf("signins revoke: %q is not a Bitrix24 user id", args[1])}
		}
		revoke, args = id, args[2:]
	}
	for _, a := range args {
		if a == "--help" || a == "-h" || a == "-help" {
			fmt.Fprint(env.Stdout, signinsUsage)
			return nil
		}
	}
	cfg, err := loadConfig(app.Name+" signins", args, env)
	if cfg == nil {
		return err
	}
	if !cfg.SignIn() {
		return &app.UsageError{Msg: "signins: this configuration has no sign-in (set MCP_AUTH=bitrix24 and the rest of the server's settings)"}
	}
	opts := appOptions(env, nil)
	// The trail: the server's, so a revocation here is on the record too.
	a, err := app.New(cfg, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if revoke > 0 {
		had, err := a.Auth.SignOutPerson(ctx, revoke, "revoked by the operator (signins revoke)")
		switch {
		case err != nil:
			return fmt.Errorf("signins revoke: %w", err)
		case !had:
			fmt.Fprintf(env.Stdout, "User %d is not signed in.\n", revoke)
		default:
			fmt.Fprintf(env.Stdout, "Signed out user %d everywhere; their Bitrix24 tokens are forgotten.\n", revoke)
		}
		return nil
	}
	list, err := a.Auth.Signins(ctx)
	if err != nil {
		return fmt.Errorf("signins: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "Nobody is signed in.")
		return nil
	}
	fmt.Fprintf(env.Stdout, "%-10s %-22s %-20s %-30s %s\n", "user", "signed in", "scope", "client", "client id")
	for _, s := range list {
		name := s.ClientName
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(env.Stdout, "%-10d %-22s %-20s %-30s %s\n", s.UserID, s.Created.UTC().Format("2006-01-02 15:04 UTC"), s.Scope, name, s.ClientID)
	}
	return nil
}
