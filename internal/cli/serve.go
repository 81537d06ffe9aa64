package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/transport"
)

// runServe is the server: stdio by default, or --transport http|sse, until
// stdin ends or SIGINT/SIGTERM.
func runServe(args []string, env Env) error {
	cfg, err := loadConfig(app.Name, args, env)
	if cfg == nil {
		return err
	}
	logger := newLogger(cfg, env.Stderr)
	opts := appOptions(env, logger)
	if cfg.Transport != "stdio" || cfg.MetricsAddr != "" {
		opts.Metrics = telemetry.ForServer(opts.Version)
	}
	a, err := app.New(cfg, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.Demo != nil {
		logger.Info("serving the built-in demo portal; no Bitrix24 account is used", "chats", demoChats(a))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.MetricsAddr != "" {
		ln, err := transport.ListenMetrics(cfg.MetricsAddr)
		if err != nil {
			return err
		}
		go func() {
			if err := transport.ServeMetrics(ctx, ln, a.Metrics, logger); err != nil {
				logger.Error("metrics listener stopped", "error", err)
			}
		}()
	}
	logger.Info("bitrix24-chat-mcp starting", "version", env.Build.Line(), "transport", cfg.Transport, "client", a.Client.String(), "read_only", cfg.Tools.ReadOnly)
	if cfg.Transport == "stdio" {
		err = transport.ServeStdio(ctx, a.MCP, env.Stdin, env.Stdout, logger)
	} else {
		err = transport.ListenAndServe(ctx, a, logger)
	}
	var ue *app.UsageError
	if err != nil && !errors.Is(err, context.Canceled) && !errors.As(err, &ue) {
		logger.Error("server stopped", "error", err)
		return ErrReported
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// demoChats names the demo's chats with the member counts the tools report.
func demoChats(a *app.App) string {
	var parts []string
	for _, id := range a.Demo.ChatIDs() {
		parts = append(parts, fmt.Sprintf("chat%d (%d)", id, a.Demo.ActiveMemberCount(id)))
	}
	return strings.Join(parts, ", ")
}
