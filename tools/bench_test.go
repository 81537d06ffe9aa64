package tools_test

import (
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// BenchmarkListDialogUsersCall is one list_dialog_users call through an
// in-process MCP client: validation, the Bitrix24 call against the fake
// portal, shaping the compact result, and output-schema validation.
func BenchmarkListDialogUsersCall(b *testing.B) {
	h := newHarness(b)
	args := map[string]any{"dialog_id": "chat9001", "limit": 200}
	b.ReportAllocs()
	for b.Loop() {
		if res := h.call(b, "list_dialog_users", args); res.IsError {
			b.Fatal(testkit.Text(res))
		}
	}
}

// BenchmarkInvalidArguments is the refusal path: nothing reaches the portal.
func BenchmarkInvalidArguments(b *testing.B) {
	h := newHarness(b)
	args := map[string]any{"dialog_id": "general", "limit": 500}
	b.ReportAllocs()
	for b.Loop() {
		if res := h.call(b, "list_dialog_users", args); !res.IsError {
			b.Fatal("accepted")
		}
	}
}
