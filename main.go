// Command bitrix24-chat-mcp is an MCP server that lets AI assistants see and
// change who is in a Bitrix24 chat. See README.md.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/lmittmann/tint"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/bitrixtest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// Stamped by the build (see Makefile).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

//go:embed testdata/portal.json
var demoFixture []byte

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(args[1:], getenv, stdout, stderr)
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cfg.ShowVersion {
		// The one write to stdout outside the JSON-RPC stream: no server runs.
		fmt.Fprintf(stdout, "bitrix24-chat-mcp %s (commit %s, built %s)\n", version, commit, date)
		return 0
	}
	logger := newLogger(cfg, stderr)
	cfg.Bitrix.Logger = logger

	if cfg.Demo {
		if err := useDemoPortal(cfg); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		logger.Info("serving the built-in demo portal; no Bitrix24 account is used",
			"chats", "chat2935, chat2725, chat5, chat9001 (450 members), chat9002 (5000)", "bot_id", cfg.Settings.BotID)
	}
	client, err := bitrix.New(cfg.Bitrix)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	mcpServer, err := newMCPServer(cfg, client, logger)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("bitrix24-chat-mcp starting", "version", version, "transport", cfg.Transport, "client", client.String(), "read_only", cfg.ReadOnly)
	switch cfg.Transport {
	case "stdio":
		err = serveStdio(ctx, mcpServer, stdin, stdout, logger)
	default:
		err = serveNetwork(ctx, cfg, mcpServer, logger)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("server stopped", "error", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func newLogger(cfg *config, stderr io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	noColor := true
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" {
			noColor = false
		}
	}
	return slog.New(tint.NewHandler(stderr, &tint.Options{Level: cfg.LogLevel, NoColor: noColor, TimeFormat: "15:04:05.000"}))
}

const instructions = `Tools for Bitrix24 chat membership. list_dialog_users answers who is in a chat or dialog; add_chat_users invites users and reports who was really added; bot_chat_members and get_bot_chat look through the configured chat bot. Chats are named chatN (N is the numeric chat id).`

func newMCPServer(cfg *config, client *bitrix.Client, logger *slog.Logger) (*server.MCPServer, error) {
	s := server.NewMCPServer("bitrix24-chat-mcp", version,
		server.WithToolCapabilities(false),
		server.WithLogging(),
		server.WithRecovery(),
		server.WithInstructions(instructions),
	)
	// Rate-limit waits are worth telling the user about, as log notifications.
	client.OnWait(func(ctx context.Context, msg string) {
		_ = s.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelWarning, "bitrix24", msg))
	})
	if err := tools.Register(s, &tools.Deps{Client: client, Settings: cfg.Settings, Log: logger}); err != nil {
		return nil, err
	}
	return s, nil
}

func serveStdio(ctx context.Context, s *server.MCPServer, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	stdio := server.NewStdioServer(s)
	stdio.SetErrorLogger(log.New(slogWriter{logger}, "", 0))
	// Agents fire bursts of calls; the default 5 workers would serialise them
	// behind the rate limiter's waits.
	server.WithWorkerPoolSize(64)(stdio)
	server.WithQueueSize(1000)(stdio)
	err := stdio.Listen(ctx, stdin, stdout)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// slogWriter adapts mcp-go's *log.Logger output to slog (stderr).
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Error(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// useDemoPortal points the configuration at an in-process fake portal
// seeded with sample chats, users and a bot.
func useDemoPortal(cfg *config) error {
	fix, err := bitrixtest.ParseFixture(demoFixture)
	if err != nil {
		return err
	}
	portal := bitrixtest.New(fix, bitrixtest.WithRateLimit(cfg.Bitrix.RateLimit, cfg.Bitrix.RateBurst))
	portal.SetBaseURL("http://demo-portal.invalid")
	bot := fix.Bots[0]
	cfg.Bitrix.WebhookURL = bitrix.Secret(portal.WebhookURL())
	cfg.Bitrix.OAuth = nil
	cfg.Bitrix.HTTPClient = &http.Client{Transport: portal.Transport()}
	cfg.Bitrix.BotToken = bitrix.Secret(bot.Token)
	cfg.Bitrix.BotClientID = bitrix.Secret(bot.ClientID)
	if cfg.Settings.BotID == 0 {
		cfg.Settings.BotID = bot.ID
	}
	cfg.Settings.Webhook, cfg.Settings.HasBotToken = true, true
	return nil
}
