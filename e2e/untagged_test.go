//go:build !e2e

package e2e

// processTests: without -tags e2e only the repository's files are tested.
const processTests = false

var buildFlags []string
