package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/schemas"
)

// Flat schemas only: Gemini CLI, Copilot and Cursor reject $ref/$defs, and
// an array without items.
func TestSchemasAreFlat(t *testing.T) {
	entries, _ := schemas.FS.ReadDir(".")
	for _, e := range entries {
		raw, _ := schemas.FS.ReadFile(e.Name())
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if s["type"] != "object" {
			t.Errorf("%s: top level must be an object", e.Name())
		}
		walk(t, e.Name(), "", s)
	}
}

func walk(t *testing.T, file, path string, node any) {
	switch n := node.(type) {
	case map[string]any:
		for _, banned := range []string{"$ref", "$defs", "definitions", "$schema"} {
			if _, ok := n[banned]; ok {
				t.Errorf("%s%s: has %s", file, path, banned)
			}
		}
		if n["type"] == "array" {
			if _, ok := n["items"].(map[string]any); !ok {
				t.Errorf("%s%s: array without items", file, path)
			}
		}
		for k, v := range n {
			walk(t, file, path+"/"+k, v)
		}
	case []any:
		for i, v := range n {
			walk(t, file, fmt.Sprintf("%s/%d", path, i), v)
		}
	}
}

// Every tool states all four hints, on purpose: mcp-go's defaults call a
// tool destructive and not read-only.
func TestToolsListAnnotationsAndSchemas(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
	list, err := h.client.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Tools) != 12 {
		t.Fatalf("%d tools", len(list.Tools))
	}
	for _, tool := range list.Tools {
		a := tool.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil || a.Title == "" {
			t.Errorf("%s: annotation hints not all set: %+v", tool.Name, a)
		}
		// With removal enabled, the tools that may remove people.
		if *a.DestructiveHint != (tool.Name == "remove_chat_users" || tool.Name == "sync_chat_with_team") {
			t.Errorf("%s: destructiveHint %v: only removal deletes", tool.Name, *a.DestructiveHint)
		}
		if *a.ReadOnlyHint != !slices.Contains([]string{"add_chat_users", "remove_chat_users", "sync_chat_with_team"}, tool.Name) {
			t.Errorf("%s: readOnlyHint %v", tool.Name, *a.ReadOnlyHint)
		}
		if tool.OutputSchema.Type != "object" || len(tool.OutputSchema.Properties) == 0 {
			t.Errorf("%s: no output schema served", tool.Name)
		}
		if !strings.Contains(tool.Description, "Example:") {
			t.Errorf("%s: description lacks an example", tool.Name)
		}
	}
}
