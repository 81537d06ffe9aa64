// Package cli is the command line: serve (the default), check, bot register,
// login and logout, health, version and help, a file each. Commands return errors; main maps them to
// exit statuses with ExitStatus (an *app.UsageError is 2, others 1).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// Env is what a command runs with: its surroundings and the build.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Build  Build
	// DemoFixture seeds --demo's in-process portal (the binary embeds
	// testdata/portal.json).
	DemoFixture []byte
}

// ExitStatus maps a command's error to the process's exit status: 0; 2 for
// a configuration mistake; 1 for a failure, said on stderr unless the
// command said it already.
func ExitStatus(err error, stderr io.Writer) int {
	var usage *app.UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, err)
		return 2
	case errors.Is(err, ErrReported):
		return 1
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// ErrReported ends a command that has already said why it failed (check's
// FAILED lines, say): exit status 1, nothing more to print.
var ErrReported = errors.New("failed (see above)")

// Run runs the command that args name.
func Run(args []string, env Env) error {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runCheck(args[1:], env)
		case "bot":
			return runBot(args[1:], env)
		case "health":
			return runHealth(args[1:], env)
		case "login":
			return runLogin(args[1:], env)
		case "logout":
			return runLogout(args[1:], env)
		case "signins":
			return runSignins(args[1:], env)
		case "version":
			fmt.Fprintln(env.Stdout, env.Build.Line())
			return nil
		case "help":
			printHelp(env.Stdout)
			return nil
		case "serve":
			args = args[1:]
		}
	}
	return runServe(args, env)
}

// loadConfig loads the settings for a command; a nil configuration with a
// nil error means the command is over (it printed its help or version).
func loadConfig(name string, args []string, env Env) (*app.Config, error) {
	cfg, showVersion, err := app.Load(name, args, env.Getenv, io.Discard)
	switch {
	case errors.Is(err, flag.ErrHelp):
		if name == app.Name+" check" {
			fmt.Fprint(env.Stdout, checkUsage)
		} else {
			printHelp(env.Stdout)
		}
		return nil, nil
	case err != nil:
		var ue *app.UsageError
		if !errors.As(err, &ue) {
			err = &app.UsageError{Msg: err.Error()}
		}
		return nil, err
	case showVersion:
		// The one write to stdout outside the JSON-RPC stream: no server runs.
		fmt.Fprintln(env.Stdout, env.Build.Line())
		return nil, nil
	}
	return cfg, nil
}

// appOptions are the binary's: its logger, version and the demo's seed.
func appOptions(env Env, logger *slog.Logger) app.Options {
	return app.Options{Logger: logger, Version: strings.Fields(env.Build.Line())[1], DemoFixture: env.DemoFixture}
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
	return slog.New(tint.NewTextHandler(stderr, &tint.Options{Level: cfg.LogLevel, NoColor: noColor, TimeFormat: "15:04:05.000"}))
}
