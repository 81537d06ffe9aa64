package cli

import "io"

// run runs a command as the binary does, with its exit status.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return ExitStatus(Run(args, Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr}), stderr)
}
