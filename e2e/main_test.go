// Package e2e tests what ships: the repository's files (untagged, quick) and,
// with -tags e2e (make e2e), the built binary as clients run it: stdio
// sessions, several processes sharing a token file or Redis, signals, and
// the benchmarks that time the real thing (make bench).
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binPath is the server binary, built once for the process tests.
var binPath string

func TestMain(m *testing.M) {
	// The tests read and build the repository from its top directory.
	if err := os.Chdir(".."); err != nil {
		panic(err)
	}
	if !processTests {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "b24mcp")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "bitrix24-chat-mcp")
	args := append(append([]string{"build"}, buildFlags...), "-o", binPath, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
