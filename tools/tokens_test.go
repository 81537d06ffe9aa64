package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// The text channel's line format was chosen over compact JSON by counting
// tokens, and this test keeps it so: for the same users, the lines must cost
// fewer tokens than JSON lines. o200k_base (GPT-4o) and cl100k_base (GPT-4)
// stand in for the models' tokenizers (Claude's is not public).
func TestLineFormatCostsFewerTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		label string
		args  map[string]any
	}{
		{"200 generated users, compact", map[string]any{"dialog_id": "chat9001", "limit": 200}},
		{"200 generated users, full", map[string]any{"dialog_id": "chat9001", "limit": 200, "fields": "full"}},
		{"the docs' example users, compact", map[string]any{"dialog_id": "chat2935"}},
		{"the docs' example users, full", map[string]any{"dialog_id": "chat2935", "fields": "full"}},
	} {
		res := h.call(t, "list_dialog_users", tc.args)
		out := testkit.Structured[tools.ListDialogUsersOutput](t, res)
		text := testkit.Text(res)
		lines := text[strings.Index(text, "\n")+1:] // the data, without the summary
		var js []string
		for _, u := range out.Users {
			raw, _ := json.Marshal(u)
			js = append(js, string(raw))
		}
		jsonLines := strings.Join(js, "\n")
		for _, enc := range []tokenizer.Encoding{tokenizer.O200kBase, tokenizer.Cl100kBase} {
			linesTokens, jsonTokens := countTokens(t, enc, lines), countTokens(t, enc, jsonLines)
			t.Logf("%s, %s: lines %d tokens, JSON %d (%.1f vs %.1f a user)", tc.label, enc, linesTokens, jsonTokens,
				float64(linesTokens)/float64(len(out.Users)), float64(jsonTokens)/float64(len(out.Users)))
			if linesTokens >= jsonTokens {
				t.Errorf("%s, %s: the line format costs %d tokens, JSON %d: JSON should be the text rendering", tc.label, enc, linesTokens, jsonTokens)
			}
		}
	}
}

func countTokens(t testing.TB, enc tokenizer.Encoding, s string) int {
	t.Helper()
	codec, err := tokenizer.Get(enc)
	if err != nil {
		t.Fatal(err)
	}
	n, err := codec.Count(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
