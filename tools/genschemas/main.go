// Command genschemas writes schemas/*.json from the tools' Go types and the
// tool reference between the markers in README.md. Run it as `make schemas`.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

func main() {
	files, err := tools.GenerateSchemas()
	if err != nil {
		fail(err)
	}
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join("schemas", name), raw, 0o644); err != nil {
			fail(err)
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %d schemas\n", len(files))
}

// UpdateReadme is separate: the reference is rendered from the embedded
// schemas, so it must run after the schemas are rebuilt into the binary.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "readme" {
		ref, err := tools.ReferenceMarkdown()
		if err != nil {
			fail(err)
		}
		readme, err := os.ReadFile("README.md")
		if err != nil {
			fail(err)
		}
		out, err := tools.SpliceReference(readme, ref)
		if err != nil {
			fail(err)
		}
		if !bytes.Equal(out, readme) {
			if err := os.WriteFile("README.md", out, 0o644); err != nil {
				fail(err)
			}
		}
		os.Exit(0)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "genschemas:", err)
	os.Exit(1)
}
