package tools_test

import (
	"encoding/json"
	"testing"

	"github.com/tiktoken-go/tokenizer"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// What each channel costs the model a listed user. Claude Code and VS Code
// hand the model JSON.stringify(structuredContent); many agent frameworks
// the text content. Both carry every datum, and the structured channel
// costs no more than the text's lines: at most 55 characters and 15 tokens
// a user on a page of 200 compact users, at most 1.2 times the text on the
// docs' example users. o200k_base (GPT-4o) and cl100k_base (GPT-4) stand
// in for the models' tokenizers (Claude's is not public).
func TestChannelsCostPerUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		label     string
		args      map[string]any
		maxChars  float64 // structured, a user
		maxTokens float64 // structured, a user
		maxToText float64 // structured against text, whole results
	}{
		{"200 generated users, compact", map[string]any{"dialog_id": "chat9001", "limit": 200}, 55, 15, 1.2},
		{"the docs' example users, compact", map[string]any{"dialog_id": "chat2935"}, 0, 0, 1.2},
		{"200 generated users, full", map[string]any{"dialog_id": "chat9001", "limit": 200, "fields": "full"}, 0, 0, 0},
		{"the docs' example users, full", map[string]any{"dialog_id": "chat2935", "fields": "full"}, 0, 0, 0},
	} {
		res := h.call(t, "list_dialog_users", tc.args)
		out := testkit.Structured[tools.ListDialogUsersOutput](t, res)
		n := float64(len(out.IDs()))
		raw, _ := json.Marshal(res.StructuredContent)
		structured, text := string(raw), testkit.Text(res)
		sChars, tChars := float64(len(structured)), float64(len(text))
		t.Logf("%s: structured %.1f characters a user, text %.1f", tc.label, sChars/n, tChars/n)
		if tc.maxChars > 0 && sChars/n > tc.maxChars {
			t.Errorf("%s: the structured channel costs %.1f characters a user, want at most %g", tc.label, sChars/n, tc.maxChars)
		}
		if tc.maxToText > 0 && sChars > tc.maxToText*tChars {
			t.Errorf("%s: the structured channel is %.2f times the text's characters, want at most %g", tc.label, sChars/tChars, tc.maxToText)
		}
		for _, enc := range []tokenizer.Encoding{tokenizer.O200kBase, tokenizer.Cl100kBase} {
			sTokens, tTokens := float64(countTokens(t, enc, structured)), float64(countTokens(t, enc, text))
			t.Logf("%s, %s: structured %.1f tokens a user, text %.1f", tc.label, enc, sTokens/n, tTokens/n)
			if tc.maxTokens > 0 && sTokens/n > tc.maxTokens {
				t.Errorf("%s, %s: the structured channel costs %.1f tokens a user, want at most %g", tc.label, enc, sTokens/n, tc.maxTokens)
			}
			if tc.maxToText > 0 && sTokens > tc.maxToText*tTokens {
				t.Errorf("%s, %s: the structured channel is %.2f times the text's tokens, want at most %g", tc.label, enc, sTokens/tTokens, tc.maxToText)
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
