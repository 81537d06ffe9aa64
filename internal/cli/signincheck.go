package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/state"
)

// checkSignIn is `check` with --auth bitrix24: the server holds no Bitrix24
// token to call with, so it checks what sign-in needs: that Bitrix24's
// OAuth server accepts the application, and that the store answers.
func checkSignIn(cfg *app.Config, env Env) error {
	stdout := env.Stdout
	v := &verdicts{w: stdout}
	line, fail := v.line, v.fail
	o := *cfg.Bitrix.OAuth
	fmt.Fprintf(stdout, "Checking sign-in with Bitrix24 for %s\n", o.ClientEndpoint)
	line("OK", "people sign in at %s; the Bitrix24 application's handler URL must be %s/callback", cfg.PublicURL, cfg.PublicURL)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A code that cannot be valid: invalid_grant means the OAuth server knows
	// the application's id and secret; invalid_client means it does not.
	_, err := bitrix.ExchangeCode(ctx, o, cfg.Bitrix.HTTPClient, "bitrix24-chat-mcp-check")
	var te *bitrix.TransportError
	e, isB := bitrix.AsError(err)
	switch {
	case errors.As(err, &te):
		fail("could not reach Bitrix24's OAuth server: %s", te.Msg)
	case isB && e.Code == bitrix.CodeInvalidGrant:
		line("OK", "Bitrix24's OAuth server accepts BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET")
	case isB && e.Code == bitrix.CodeInvalidClient:
		fail("Bitrix24's OAuth server refuses BITRIX24_CLIENT_ID or BITRIX24_CLIENT_SECRET (invalid_client): copy them again from the application's settings")
	default:
		line("NOTE", "Bitrix24's OAuth server answered an unexpected way: %v", err)
	}

	if cfg.StateURL != "" {
		r, err := state.NewRedis(cfg.StateURL, "check")
		if err == nil {
			err = r.Ping(ctx)
			r.Close()
		}
		if err != nil {
			fail("the shared store (BITRIX24_STATE_URL) does not answer: %v", err)
		} else {
			line("OK", "sign-ins are kept in the shared store %s", r)
		}
	} else if _, err := os.Stat(cfg.AuthStore); err != nil {
		line("OK", "sign-ins will be kept in %s (made on the first start)", cfg.AuthStore)
	} else if b, err := auth.OpenBolt(cfg.AuthStore); err != nil {
		line("NOTE", "the sign-in store %s is open in a running server (fine)", cfg.AuthStore)
	} else {
		b.Close()
		line("OK", "sign-ins are kept in %s", cfg.AuthStore)
	}
	return v.end()
}
