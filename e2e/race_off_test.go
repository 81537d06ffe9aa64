//go:build e2e && !race

package e2e

// processTests builds the binary and runs it.
const processTests = true

// buildFlags builds the binary under test the way this test binary was
// built: without the race detector (no C compiler for cgo, say).
var buildFlags = []string{}
