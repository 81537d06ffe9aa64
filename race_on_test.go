//go:build race

package main

// buildFlags builds the binary under test the way this test binary was
// built: with the race detector.
var buildFlags = []string{"-race"}
