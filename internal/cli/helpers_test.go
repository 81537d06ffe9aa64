package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// run runs a command as the binary does, with main's exit statuses.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := Run(args, Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	var usage *app.UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, err)
		return 2
	case errors.Is(err, ErrReported):
		return 1
	}
	fmt.Fprintln(stderr, err)
	return 1
}
