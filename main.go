// Command bitrix24-chat-mcp is an MCP server that lets AI assistants see and
// change who is in a Bitrix24 chat. See README.md; the commands live in
// internal/cli.
package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/cli"
)

// Stamped by the build (see Makefile); otherwise read from the Go build info.
var (
	version = ""
	commit  = ""
	date    = ""
)

// demoFixture seeds --demo's in-process portal.
//
//go:embed testdata/portal.json
var demoFixture []byte

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program with its surroundings passed in; it returns the
// exit status.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := cli.Run(args, cli.Env{
		Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Build:       cli.Build{Version: version, Commit: commit, Date: date},
		DemoFixture: demoFixture,
	})
	return exitStatus(err, stderr)
}

// exitStatus maps a command's error to the exit status: 0; 2 for a
// configuration mistake; 1 for a failure, said on stderr unless the command
// said it already.
func exitStatus(err error, stderr io.Writer) int {
	var usage *app.UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, err)
		return 2
	case errors.Is(err, cli.ErrReported):
		return 1
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}
