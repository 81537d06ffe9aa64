// Package schemas holds the tools' input and output JSON schemas, generated
// from the Go types in tools/ by `make schemas` and served as they are.
package schemas

import "embed"

// FS holds <tool>.input.json and <tool>.output.json for every tool.
//
//go:embed *.json
var FS embed.FS
