// Command bitrix24-chat-mcp is an MCP server that lets AI assistants see and
// change who is in a Bitrix24 chat. See README.md; the commands live in
// internal/cli.
package main

import (
	_ "embed"
	"io"
	"os"

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
	return cli.ExitStatus(err, stderr)
}
