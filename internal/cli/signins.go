package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
)

const signinsUsage = `Usage: bitrix24-chat-mcp signins [flags]
       bitrix24-chat-mcp signins revoke USER_ID [flags]
       bitrix24-chat-mcp signins clients [flags]
       bitrix24-chat-mcp signins clients delete CLIENT_ID [flags]

For a team server with --auth bitrix24: lists who is signed in, through
which MCP client, with which scopes; revoke signs a person out of every
client and forgets their Bitrix24 tokens (their next call is asked to sign
in again; other replicas stop honouring their tokens within 10 seconds).
clients lists the dynamic client registrations (who registered them, and
whether anyone has consented to them: a registration nobody consented to
expires after an hour, one unused for 30 days after that); clients delete
deletes one (its sign-ins go on until revoked).
Takes the same settings as the server: run it where the server's
environment is. With the default store (a bbolt file) the server must be
stopped, as the file is one process's; with --state (Redis) it works while
the replicas run.
`

// runSignins is `bitrix24-chat-mcp signins [revoke USER_ID | clients [delete CLIENT_ID]]`.
func runSignins(args []string, env Env) error {
	revoke := 0
	clients, deleteClient := false, ""
	if len(args) > 0 && args[0] == "clients" {
		clients, args = true, args[1:]
		if len(args) > 0 && args[0] == "delete" {
			if len(args) < 2 || args[1] == "" {
				return &app.UsageError{Msg: "signins clients delete: give the client id (signins clients lists them)"}
			}
			deleteClient, args = args[1], args[2:]
		}
	} else if len(args) > 0 && args[0] == "revoke" {
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
	if clients {
		return listClients(ctx, a, deleteClient, env)
	}
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
		fmt.Fprintf(env.Stdout, "%-10d %-22s %-20s %-30s %s\n", s.UserID, s.Created.UTC().Format("2006-01-02 15:04 UTC"), s.Scope,
			auth.EscapeForTerminal(name), auth.EscapeForTerminal(s.ClientID))
	}
	return nil
}

// listClients is `signins clients [delete CLIENT_ID]`. What a client named
// itself is escaped: it cannot forge a row or move the terminal.
func listClients(ctx context.Context, a *app.App, deleteID string, env Env) error {
	if deleteID != "" {
		// The trail first: a change whose line cannot be written is not made.
		if err := a.Audit.Write(audit.Entry{Event: audit.SignOut, ClientID: deleteID, Outcome: "attempt",
			Reason: "registration deleted by the operator (signins clients delete)"}); err != nil {
			return fmt.Errorf("signins clients delete: the audit trail could not be written, so nothing was deleted: %w", err)
		}
		had, err := a.Auth.DeleteRegistration(ctx, deleteID)
		switch {
		case err != nil:
			return fmt.Errorf("signins clients delete: %w", err)
		case !had:
			fmt.Fprintf(env.Stdout, "No registration %s.\n", auth.EscapeForTerminal(deleteID))
		default:
			fmt.Fprintf(env.Stdout, "Deleted the registration %s.\n", auth.EscapeForTerminal(deleteID))
		}
		return nil
	}
	list, err := a.Auth.Registrations(ctx)
	if err != nil {
		return fmt.Errorf("signins clients: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "No client is registered.")
		return nil
	}
	fmt.Fprintf(env.Stdout, "%-40s %-22s %-9s %-24s %-30s %s\n", "client id", "registered", "consented", "from", "name", "redirect URIs")
	for _, r := range list {
		consented := "no"
		if r.Trusted {
			consented = "yes"
		}
		name := r.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(env.Stdout, "%-40s %-22s %-9s %-24s %-30s %s\n", auth.EscapeForTerminal(r.ClientID), r.Created.UTC().Format("2006-01-02 15:04 UTC"),
			consented, r.Source, auth.EscapeForTerminal(name), auth.EscapeForTerminal(strings.Join(r.RedirectURIs, " ")))
	}
	return nil
}
