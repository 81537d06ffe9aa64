package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Keywords that describe rather than constrain.
var annotationKeywords = map[string]bool{"description": true, "default": true, "examples": true, "title": true}

// TestEveryKeywordIsEnforced derives, from each served input schema, one
// argument set per constraining keyword that breaks just that keyword, and
// checks that the tool refuses it naming the parameter, with nothing sent.
// A keyword this test cannot break fails it: a new keyword must be covered.
func TestEveryKeywordIsEnforced(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Tools.EnableRemove = true })
	list, err := h.client.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	h.portal.ResetStats()
	cases := 0
	for _, tool := range list.Tools {
		raw, _ := json.Marshal(tool) // the input schema as the client received it
		var served struct {
			InputSchema map[string]any `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &served); err != nil {
			t.Fatal(err)
		}
		schema := served.InputSchema
		props := schema["properties"].(map[string]any)
		required := []string{}
		for _, r := range schema["required"].([]any) {
			required = append(required, r.(string))
		}
		valid := map[string]any{}
		for _, name := range required {
			valid[name] = validValue(t, props[name].(map[string]any))
		}
		try := func(keyword, param string, args map[string]any) {
			t.Helper()
			cases++
			res := h.call(t, tool.Name, args)
			testkit.WantToolError(t, res, "Invalid arguments", "nothing was sent", param+":")
			if !strings.Contains(testkit.Text(res), "- "+param+":") {
				t.Errorf("%s %s: the refusal does not start a line with %s: %s", tool.Name, keyword, param, testkit.Text(res))
			}
		}
		with := func(param string, v any) map[string]any {
			args := maps.Clone(valid)
			args[param] = v
			return args
		}
		for kw, v := range schema {
			switch kw {
			case "properties", "type":
			case "required":
				for _, name := range required {
					args := maps.Clone(valid)
					delete(args, name)
					try(kw, name, args)
				}
			case "additionalProperties":
				if v != false {
					t.Errorf("%s: additionalProperties must be false", tool.Name)
				}
				try(kw, "unknown_param", with("unknown_param", 1))
			default:
				t.Errorf("%s: top-level keyword %s is not covered by this test", tool.Name, kw)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(props)) {
			prop := props[name].(map[string]any)
			for kw := range prop {
				if annotationKeywords[kw] || kw == "items" { // items: item by item below
					continue
				}
				bad, ok := breaking(prop, kw)
				if !ok {
					t.Errorf("%s.%s: keyword %s is not covered by this test", tool.Name, name, kw)
					continue
				}
				try(kw, name, with(name, bad))
			}
			if items, ok := prop["items"].(map[string]any); ok {
				for kw := range items {
					bad, ok := breaking(items, kw)
					if !ok {
						t.Errorf("%s.%s[]: keyword %s is not covered by this test", tool.Name, name, kw)
						continue
					}
					try("items."+kw, name+"[0]", with(name, []any{bad}))
				}
			}
		}
	}
	if cases < 40 {
		t.Fatalf("only %d cases: the schemas were not read", cases)
	}
	if n := h.portal.Stats().Requests; n != 0 {
		t.Fatalf("refused arguments sent %d requests to the portal", n)
	}
	t.Logf("%d refusals checked", cases)
}

// breaking returns a value that violates schema s's keyword kw only.
func breaking(s map[string]any, kw string) (any, bool) {
	num := func(k string) int { return int(s[k].(float64)) }
	switch kw {
	case "type":
		if s["type"] == "string" {
			return 5, true
		}
		return "x", true
	case "minimum":
		return num(kw) - 1, true
	case "maximum":
		return num(kw) + 1, true
	case "maxLength":
		return strings.Repeat("1", num(kw)+1), true
	case "minLength":
		return "", true
	case "pattern":
		return "!", true
	case "enum":
		return "not-one-of-them", true
	case "minItems":
		return []any{}, true
	case "maxItems":
		items := make([]any, num(kw)+1)
		for i := range items {
			items[i] = i + 1
		}
		return items, true
	}
	return nil, false
}

func validValue(t *testing.T, s map[string]any) any {
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	switch s["type"] {
	case "array":
		return []any{validValue(t, s["items"].(map[string]any))}
	case "integer":
		if m, ok := s["minimum"].(float64); ok {
			return int(m)
		}
		return 1
	}
	t.Fatalf("no valid value known for %v", s)
	return nil
}

// Numbers no JSON reader keeps exactly, and a dialog id one character too
// long: each refused naming its parameter, with nothing sent.
func TestUnsafeNumbersAndLongStrings(t *testing.T) {
	h := newHarness(t)
	h.portal.ResetStats()
	for _, tc := range []struct {
		tool, args, param string
	}{
		{"add_chat_users", `{"chat_id": 9223372036854775808, "user_ids": [1]}`, "chat_id"},
		{"add_chat_users", `{"chat_id": 2935, "user_ids": [1e300]}`, "user_ids[0]"},
		{"add_chat_users", `{"chat_id": 2935, "user_ids": [99, 9007199254740993]}`, "user_ids[1]"},
		{"bot_chat_members", `{"chat_id": -9007199254740993}`, "chat_id"},
		{"list_dialog_users", `{"dialog_id": "chat2935", "offset": 1e20}`, "offset"},
		{"list_dialog_users", fmt.Sprintf(`{"dialog_id": "chat%s"}`, strings.Repeat("1", 61)), "dialog_id"},
		{"get_bot_chat", fmt.Sprintf(`{"dialog_id": "chat%s"}`, strings.Repeat("1", 61)), "dialog_id"},
	} {
		res := h.call(t, tc.tool, json.RawMessage(tc.args))
		testkit.WantToolError(t, res, "- "+tc.param+":", "nothing was sent")
	}
	if n := h.portal.Stats().Requests; n != 0 {
		t.Fatalf("%d requests reached the portal", n)
	}
	// The largest safe integer and whole numbers written as 2.0 or 1e3 are fine.
	for _, args := range []string{
		`{"chat_id": 2725, "user_ids": [1019.0]}`,
		`{"chat_id": 2725, "user_ids": [9007199254740991], "dry_run": true}`,
	} {
		testkit.Structured[map[string]any](t, h.call(t, "add_chat_users", json.RawMessage(args)))
	}
	out := testkit.Structured[map[string]any](t, h.call(t, "list_dialog_users", json.RawMessage(`{"dialog_id": "chat2935", "limit": 2e0, "offset": null}`)))
	if len(out["rows"].([]any)) != 2 {
		t.Fatalf("limit 2e0: %v", out)
	}
}
