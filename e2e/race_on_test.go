//go:build e2e && race

package e2e

// processTests builds the binary and runs it.
const processTests = true

// buildFlags builds the binary under test the way this test binary was
// built: with the race detector.
var buildFlags = []string{"-race"}
