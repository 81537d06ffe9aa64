// Command bitrix24-chat-mcp is an MCP server that lets AI assistants see and
// change who is in a Bitrix24 chat. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lmittmann/tint"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program, with its surroundings passed in; it returns the
// exit status: 0, 1 for a failure while serving, 2 for a configuration mistake.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runCheck(args[1:], getenv, stdout, stderr)
		case "bot":
			return runBot(args[1:], getenv, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, versionLine())
			return 0
		case "help":
			printHelp(stdout)
			return 0
		case "serve":
			args = args[1:]
		}
	}
	cfg, status, done := loadConfig(app.Name, args, getenv, stdout, stderr)
	if done {
		return status
	}
	logger := newLogger(cfg, stderr)
	opts := appOptions(logger)
	calls := newCallTracker()
	if cfg.Transport != "stdio" {
		opts.ServerOptions = append(opts.ServerOptions, server.WithToolHandlerMiddleware(calls.middleware))
	}
	a, err := app.New(cfg, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitStatus(err)
	}
	if a.Demo != nil {
		logger.Info("serving the built-in demo portal; no Bitrix24 account is used", "chats", demoChats(a))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("bitrix24-chat-mcp starting", "version", versionLine(), "transport", cfg.Transport, "client", a.Client.String(), "read_only", cfg.Tools.ReadOnly)
	switch cfg.Transport {
	case "stdio":
		err = serveStdio(ctx, a.MCP, stdin, stdout, logger)
	default:
		err = serveNetwork(ctx, cfg, a, logger, calls)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("server stopped", "error", err)
		return exitStatus(err)
	}
	return 0
}

// loadConfig loads the settings for a command; done means the command is
// over (help, version, or a mistake) and exits with status.
func loadConfig(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) (cfg *app.Config, status int, done bool) {
	cfg, showVersion, err := app.Load(name, args, getenv, io.Discard)
	switch {
	case errors.Is(err, flag.ErrHelp):
		if name == app.Name+" check" {
			fmt.Fprint(stdout, checkUsage)
		} else {
			printHelp(stdout)
		}
		return nil, 0, true
	case err != nil:
		fmt.Fprintln(stderr, err)
		return nil, 2, true
	case showVersion:
		// The one write to stdout outside the JSON-RPC stream: no server runs.
		fmt.Fprintln(stdout, versionLine())
		return nil, 0, true
	}
	return cfg, 0, false
}

// appOptions are the binary's: its version and the demo portal's seed.
func appOptions(logger *slog.Logger) app.Options {
	return app.Options{Logger: logger, Version: strings.Fields(versionLine())[1], DemoFixture: demoFixture}
}

func exitStatus(err error) int {
	var ue *app.UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func newLogger(cfg *app.Config, stderr io.Writer) *slog.Logger {
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

func serveStdio(ctx context.Context, s *server.MCPServer, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	stdio := server.NewStdioServer(s)
	stdio.SetErrorLogger(log.New(slogWriter{logger}, "", 0))
	// Agents fire bursts of calls; the default 5 workers would serialise them
	// behind the rate limiter's waits.
	server.WithWorkerPoolSize(64)(stdio)
	server.WithQueueSize(1000)(stdio)
	err := stdio.Listen(ctx, limitLines(stdin, maxStdioMessage), stdout)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// slogWriter adapts mcp-go's *log.Logger output to slog (stderr).
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	w.l.Error(string(p))
	return n, nil
}
