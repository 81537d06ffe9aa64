// Package app turns a configuration into a running server's parts: the
// configuration table (settings.go), loading it (config.go), the one
// assembly of client, MCP server and tools (this file), and the demo portal.
// The stdio and network transports, `check`, tests and benchmarks all
// assemble the server here.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/state"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// Name is the server's name in MCP's serverInfo.
const Name = "bitrix24-chat-mcp"

const instructions = `Tools for Bitrix24 chat membership. find_chats and find_users turn names into ids; get_chat shows a chat; list_dialog_users answers who is in a chat or dialog; add_chat_users invites users and reports who was really added; remove_chat_users (when enabled) removes them; bot_chat_members and get_bot_chat look through the configured chat bot. Chats are named chatN (N is the numeric chat id). The invite_to_chat prompt walks the whole invitation.`

// Options are what the assembly needs besides the configuration.
type Options struct {
	Logger  *slog.Logger // defaults to discarding
	Version string       // serverInfo.version
	// DemoFixture seeds the demo portal (Config.Demo); the binary embeds
	// testdata/portal.json.
	DemoFixture []byte
	// ServerOptions are added to the MCP server's (tests turn on output
	// schema validation here).
	ServerOptions []server.ServerOption
	// Metrics, when set, counts tool calls, portal requests, waits,
	// refreshes and store errors (telemetry.New).
	Metrics *telemetry.Metrics
	// MetadataClient fetches MCP clients' metadata documents with sign-in
	// (default: https to public addresses only, see auth.Config).
	MetadataClient *http.Client
	// SignInLimits are sign-in's limits on anonymous requests (default:
	// auth.DefaultLimits).
	SignInLimits auth.Limits
}

// App is an assembled server: its Bitrix24 client and its MCP server with
// the tools registered.
type App struct {
	Config  *Config
	Client  *bitrix.Client
	MCP     *server.MCPServer
	Log     *slog.Logger
	Demo    *fakeportal.Portal // the in-process demo portal, with Config.Demo
	State   *state.Redis       // the store replicas share, with Config.StateURL
	Metrics *telemetry.Metrics // nil: no metrics
	Audit   *audit.Log         // nil: no audit trail
	Auth    *auth.Server       // with --auth bitrix24: the authorization server
	closers []func() error
}

// Close releases what the server holds open (the sign-in store's file).
func (a *App) Close() error {
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// portalName keys the shared state: replicas of the same portal share it.
func portalName(c bitrix.Config, demo bool) string {
	raw := c.WebhookURL.Reveal()
	if c.OAuth != nil {
		raw = c.OAuth.ClientEndpoint
	}
	if u, err := url.Parse(raw); err == nil && u.Host != "" && !demo {
		return strings.ToLower(u.Host)
	}
	return "demo"
}

// New assembles the server. It makes no network call.
func New(cfg *Config, o Options) (*App, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{Config: cfg, Log: logger, Metrics: o.Metrics}
	bcfg := cfg.Bitrix
	bcfg.Logger = logger
	if o.Metrics != nil {
		bcfg.Observer = o.Metrics
	}
	if cfg.Demo {
		portal, demoCfg, err := demoPortal(o.DemoFixture, bcfg)
		if err != nil {
			return nil, err
		}
		a.Demo, bcfg = portal, demoCfg
	}
	if cfg.StateURL != "" {
		r, err := state.NewRedis(cfg.StateURL, portalName(bcfg, a.Demo != nil))
		if err != nil {
			return nil, &UsageError{"BITRIX24_STATE_URL: " + err.Error()}
		}
		if cfg.StateKey != nil {
			if err := r.WithKey(cfg.StateKey); err != nil {
				return nil, &UsageError{"MCP_STATE_KEY: " + err.Error()}
			}
		} else if bcfg.OAuth != nil && !cfg.SignIn() {
			logger.Warn("the OAuth pair is kept in the shared store unsealed: set MCP_STATE_KEY (openssl rand -hex 32) on every replica to seal it")
		}
		a.State, bcfg.Shared = r, r
		logger.Info("sharing the rate limit, method pauses and OAuth pair with other replicas", "store", r.String(), "sealed", r.Sealed())
	}
	client, err := bitrix.New(bcfg)
	if err != nil {
		return nil, &UsageError{err.Error()}
	}
	a.Client = client
	switch o := bcfg.OAuth; {
	case o != nil && o.SignIn:
	case o != nil && a.State != nil:
		logger.Info("OAuth tokens are kept in the shared store", "store", a.State.String())
	case o != nil:
		logger.Info("OAuth tokens are kept in the token file", "file", o.TokenFile)
	}

	settings := cfg.Tools
	if a.Demo != nil && settings.BotID == 0 {
		settings.BotID = a.Demo.Fixture().Bots[0].ID
	}
	opts := append([]server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithLogging(),
		server.WithRecovery(),
		server.WithPromptCapabilities(false),
		server.WithElicitation(),
		server.WithInstructions(instructions),
	}, o.ServerOptions...)
	a.MCP = server.NewMCPServer(Name, o.Version, opts...)
	a.MCP.Use(telemetry.Calls(logger, o.Metrics))
	if _, burst, local := client.BucketLevel(); local {
		// With --state the bucket lives in Redis: no process has the level.
		o.Metrics.GaugeFunc("bitrix24_mcp_rate_limit_bucket_level", fmt.Sprintf("How full this process's view of the portal's bucket is, in requests (it holds %g).", burst),
			func() float64 { level, _, _ := client.BucketLevel(); return level })
	}
	// Rate-limit waits are worth telling the user about, as log notifications.
	client.OnWait(func(ctx context.Context, msg string) {
		_ = a.MCP.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelWarning, "bitrix24", msg))
	})
	trail, err := audit.Open(cfg.AuditLog)
	if err != nil {
		return nil, &UsageError{err.Error()}
	}
	a.Audit = trail
	if cfg.SignIn() {
		if err := a.signIn(bcfg, o); err != nil {
			return nil, err
		}
		a.MCP.Use(asCaller(a.Auth, logger))
	}
	deps := &tools.Deps{Client: client, Settings: settings, Log: logger, Audit: trail}
	if a.State != nil {
		// Replicas share the key that signs confirmations, so an answer may
		// come back to any of them.
		deps.ConfirmKey = sharedKey(a.State, "confirm")
	}
	if err := tools.Register(a.MCP, deps); err != nil {
		return nil, err
	}
	return a, nil
}

// sharedKey reads a key from the shared store once it answers, then keeps it.
func sharedKey(s *state.Redis, name string) func(ctx context.Context) ([]byte, error) {
	var mu sync.Mutex
	var key []byte
	return func(ctx context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if key != nil {
			return key, nil
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		k, err := s.SharedKey(ctx, name)
		if err != nil {
			return nil, err
		}
		key = k
		return key, nil
	}
}
