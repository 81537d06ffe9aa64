package main

import "testing"

// The committed schemas and the README's generated sections are what the
// code generates: run `make schemas` after changing a type or a setting.
func TestGeneratedFilesAreFresh(t *testing.T) {
	stale, err := generate("../../..", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		t.Errorf("%s is stale: run make schemas", f)
	}
}
