package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// signIn builds the authorization server of --auth bitrix24: its store is
// the shared Redis with --state, else the bbolt file.
func (a *App) signIn(bcfg bitrix.Config, o Options) error {
	cfg := a.Config
	var store auth.Store
	if a.State != nil {
		store = a.State
	} else {
		if err := os.MkdirAll(filepath.Dir(cfg.AuthStore), 0o700); err != nil {
			return &UsageError{"MCP_AUTH_STORE: " + err.Error()}
		}
		b, err := auth.OpenBolt(cfg.AuthStore)
		if err != nil {
			return &UsageError{"MCP_AUTH_STORE: " + err.Error()}
		}
		a.closers = append(a.closers, b.Close)
		store = b
	}
	var previous [][]byte
	if cfg.PreviousStateKey != nil {
		previous = append(previous, cfg.PreviousStateKey)
	}
	srv, err := auth.New(auth.Config{PublicURL: cfg.PublicURL, App: *bcfg.OAuth, Base: a.Client, Store: store, Key: cfg.StateKey,
		PreviousKeys: previous, HTTPClient: bcfg.HTTPClient, MetadataClient: o.MetadataClient, Limits: o.SignInLimits, NoDocuments: !cfg.ClientMetadataDocuments,
		TrustedProxies: cfg.TrustedProxies, Log: a.Log, Audit: a.Audit})
	if err != nil {
		return &UsageError{err.Error()}
	}
	if a.Metrics != nil {
		srv.Observe(a.Metrics)
		a.Metrics.GaugeFunc("bitrix24_mcp_people_active", "With --auth bitrix24: people whose Bitrix24 client this process holds (they called within 15 minutes).",
			func() float64 { return float64(srv.People()) })
	}
	a.Auth = srv
	a.Log.Info("people sign in with Bitrix24", "public_url", srv.Issuer(), "bitrix24_handler_url", srv.CallbackURL(), "store", store.String())
	return nil
}

// asCaller runs each tool call with the caller's own Bitrix24 client, and
// refuses a change to a token without chat:write (the HTTP layer answers
// 403 first; this holds whatever the transport).
func asCaller(srv *auth.Server, log *slog.Logger) server.ToolHandlerMiddleware {
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			id := auth.FromContext(ctx)
			if id == nil {
				return mcp.NewToolResultError("This server needs each person to sign in with Bitrix24; the call carried no sign-in."), nil
			}
			if tools.Changes(req.Params.Name) && !id.CanWrite() {
				return mcp.NewToolResultError(req.Params.Name + " changes chats, and this sign-in may only read (scope chat:read). Sign in again granting chat:write."), nil
			}
			c, err := srv.ClientFor(ctx, id)
			if err != nil {
				if bitrix.SignedOut(err) {
					return mcp.NewToolResultError("Your Bitrix24 sign-in is gone (signed out or revoked): sign in again; your MCP client asks you to."), nil
				}
				log.Error("could not load a person's Bitrix24 sign-in", "user_id", id.UserID, "error", err)
				return mcp.NewToolResultError("The sign-in store did not answer; try again in a moment."), nil
			}
			ctx = tools.WithClient(ctx, c)
			ctx = audit.WithClientID(ctx, id.ClientID)
			return next(ctx, req)
		}
	}
}
