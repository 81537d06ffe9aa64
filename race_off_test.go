//go:build !race

package main

// buildFlags builds the binary under test the way this test binary was
// built: without the race detector (no C compiler for cgo, say).
var buildFlags = []string{}
