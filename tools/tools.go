// Package tools holds the MCP tools, one file each, and what they share:
// schema reflection, argument validation and Bitrix24 error results.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/schemas"
)

// Settings are the server-side limits and defaults the tools obey. Secrets
// live in the bitrix client's configuration, never here or in arguments.
type Settings struct {
	BotID          int          // default bot_id; 0 = none configured
	MaxInvite      int          // cap on add_chat_users' user_ids
	AllowedChatIDs map[int]bool // nil = every chat; else add_chat_users refuses others
	ReadOnly       bool         // add_chat_users is not registered
	HasBotToken    bool         // imbot.v2 can be used on a webhook
	Webhook        bool         // credentials are a webhook (bot auth rules differ)
}

// DefaultMaxInvite is add_chat_users' default cap (BITRIX24_MAX_INVITE).
const DefaultMaxInvite = 100

// Deps is what a tool handler needs.
type Deps struct {
	Client   *bitrix.Client
	Settings Settings
	Log      *slog.Logger
}

// spec describes one tool; handle gets arguments already validated.
type spec struct {
	name        string
	title       string
	description string
	readOnly    bool
	destructive bool
	idempotent  bool
	openWorld   bool
	input       any // zero value of the input type, for reflection
	output      any // zero value of the output type
	hints       map[string]string
	handle      func(ctx context.Context, d *Deps, args json.RawMessage) *mcp.CallToolResult
}

// specs lists every tool, in the order tools/list shows them.
func specs() []spec {
	return []spec{listDialogUsersSpec(), addChatUsersSpec(), botChatMembersSpec(), getBotChatSpec()}
}

// Names lists the tool names.
func Names() []string {
	var out []string
	for _, s := range specs() {
		out = append(out, s.name)
	}
	return out
}

// Register adds the tools to an MCP server. add_chat_users is left out in
// read-only mode, so a model cannot even try it.
func Register(s *server.MCPServer, d *Deps) error {
	if d.Settings.MaxInvite <= 0 {
		d.Settings.MaxInvite = DefaultMaxInvite
	}
	for _, sp := range specs() {
		if d.Settings.ReadOnly && !sp.readOnly {
			continue
		}
		tool, err := buildTool(sp, d.Settings)
		if err != nil {
			return err
		}
		s.AddTool(tool, handler(sp, tool.RawInputSchema, d))
	}
	return nil
}

// buildTool reads the committed schemas and makes the mcp.Tool.
func buildTool(sp spec, st Settings) (mcp.Tool, error) {
	in, err := schemas.FS.ReadFile(sp.name + ".input.json")
	if err != nil {
		return mcp.Tool{}, fmt.Errorf("tools: schema for %s missing; run make schemas: %w", sp.name, err)
	}
	out, err := schemas.FS.ReadFile(sp.name + ".output.json")
	if err != nil {
		return mcp.Tool{}, fmt.Errorf("tools: schema for %s missing; run make schemas: %w", sp.name, err)
	}
	if sp.name == "add_chat_users" && st.MaxInvite != DefaultMaxInvite {
		// The one configurable bound: served as configured, so the schema the
		// model sees is the rule the server applies.
		var inSchema map[string]any
		if err := json.Unmarshal(in, &inSchema); err != nil {
			return mcp.Tool{}, fmt.Errorf("tools: schema for %s: %w", sp.name, err)
		}
		props := inSchema["properties"].(map[string]any)
		props["user_ids"].(map[string]any)["maxItems"] = float64(st.MaxInvite)
		in, _ = json.Marshal(inSchema)
	}
	// NewToolWithRawSchema: NewTool would also set InputSchema, and a tool
	// with both makes tools/list fail for the whole server.
	tool := mcp.NewToolWithRawSchema(sp.name, sp.description, in)
	tool.Title = sp.title
	tool.RawOutputSchema = out
	tool.Annotations = mcp.ToolAnnotation{
		Title:           sp.title,
		ReadOnlyHint:    mcp.ToBoolPtr(sp.readOnly),
		DestructiveHint: mcp.ToBoolPtr(sp.destructive),
		IdempotentHint:  mcp.ToBoolPtr(sp.idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(sp.openWorld),
	}
	return tool, nil
}

func handler(sp spec, rawSchema json.RawMessage, d *Deps) server.ToolHandlerFunc {
	// Parsed on first use: start-up stays as quick as a bare server's.
	inSchema := sync.OnceValue(func() map[string]any {
		var m map[string]any
		_ = json.Unmarshal(rawSchema, &m) // embedded and tested
		return m
	})
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, problem := argumentsOf(req)
		if problem == "" {
			if problems := validate(inSchema(), args, sp.hints); len(problems) > 0 {
				problem = strings.Join(problems, "\n- ")
			}
		}
		if problem != "" {
			d.Log.Debug("tool arguments refused", "tool", sp.name, "problem", problem)
			return errorResult(fmt.Sprintf("Invalid arguments for %s (nothing was sent to Bitrix24):\n- %s", sp.name, problem)), nil
		}
		raw, _ := json.Marshal(args)
		d.Log.Debug("tool call", "tool", sp.name)
		ctx = withProgress(ctx, req)
		return sp.handle(ctx, d, raw), nil
	}
}

// argumentsOf returns the call's arguments as a JSON object.
func argumentsOf(req mcp.CallToolRequest) (map[string]any, string) {
	switch a := req.GetRawArguments().(type) {
	case nil:
		return map[string]any{}, ""
	case map[string]any:
		return a, ""
	case json.RawMessage:
		var m map[string]any
		if err := json.Unmarshal(a, &m); err != nil {
			return nil, "arguments: must be a JSON object of named parameters"
		}
		if m == nil {
			m = map[string]any{}
		}
		return m, ""
	default:
		raw, err := json.Marshal(a)
		var m map[string]any
		if err != nil || json.Unmarshal(raw, &m) != nil {
			return nil, "arguments: must be a JSON object of named parameters"
		}
		if m == nil {
			m = map[string]any{}
		}
		return m, ""
	}
}

// decode reads validated arguments into the tool's input type.
func decode[T any](raw json.RawMessage) T {
	var v T
	_ = json.Unmarshal(raw, &v) // validated against the schema generated from T
	return v
}

// result is a successful tool result: structured content plus a short summary
// (not a second copy of the data: models pay for every byte).
func result(structured any, summary string) *mcp.CallToolResult {
	return mcp.NewToolResultStructured(structured, summary)
}

func errorResult(text string) *mcp.CallToolResult {
	return mcp.NewToolResultError(text)
}

// --- schemas ---

func reflector() *jsonschema.Reflector {
	return &jsonschema.Reflector{
		DoNotReference:             true, // no $ref/$defs: Gemini CLI, Copilot and Cursor reject them
		ExpandedStruct:             true,
		Anonymous:                  true,
		RequiredFromJSONSchemaTags: true,
		AllowAdditionalProperties:  false,
	}
}

// GenerateSchemas reflects every tool's input and output type into the JSON
// committed under schemas/, keyed by file name.
func GenerateSchemas() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, sp := range specs() {
		for kind, v := range map[string]any{"input": sp.input, "output": sp.output} {
			s := reflector().ReflectFromType(reflect.TypeOf(v))
			s.Version = "" // no $schema: some clients trip on it
			s.ID = ""
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // keep ">=" readable in descriptions
			enc.SetIndent("", "  ")
			if err := enc.Encode(s); err != nil {
				return nil, err
			}
			// invopop marshals nested schemas itself, HTML-escaped; undo that.
			raw := strings.NewReplacer(`\u003e`, ">", `\u003c`, "<", `\u0026`, "&").Replace(buf.String())
			out[sp.name+"."+kind+".json"] = []byte(raw)
		}
	}
	return out, nil
}

// ReferenceMarkdown renders the README's tool reference from the schemas.
func ReferenceMarkdown() (string, error) {
	var b strings.Builder
	for _, sp := range specs() {
		raw, err := schemas.FS.ReadFile(sp.name + ".input.json")
		if err != nil {
			return "", err
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		access := "read-only"
		if !sp.readOnly {
			access = "writes; not registered with --read-only"
		}
		fmt.Fprintf(&b, "### `%s` (%s)\n\n%s\n\n", sp.name, access, firstParagraph(sp.description))
		b.WriteString("| argument | type | required | default | description |\n| --- | --- | --- | --- | --- |\n")
		props, _ := s["properties"].(map[string]any)
		required := stringList(s["required"])
		names := sortedKeys(props)
		sort.SliceStable(names, func(i, j int) bool { return contains(required, names[i]) && !contains(required, names[j]) })
		for _, name := range names {
			p := props[name].(map[string]any)
			typ := fmt.Sprint(p["type"])
			if items, ok := p["items"].(map[string]any); ok {
				typ = fmt.Sprintf("array of %v", items["type"])
			}
			def := ""
			if d, ok := p["default"]; ok {
				dj, _ := json.Marshal(d)
				def = "`" + string(dj) + "`"
			}
			req := ""
			if contains(required, name) {
				req = "yes"
			}
			desc := strings.ReplaceAll(fmt.Sprint(p["description"]), "|", "\\|")
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", name, typ, req, def, desc)
		}
		outRaw, err := schemas.FS.ReadFile(sp.name + ".output.json")
		if err != nil {
			return "", err
		}
		var outSchema map[string]any
		if err := json.Unmarshal(outRaw, &outSchema); err != nil {
			return "", err
		}
		var fields []string
		for _, name := range sortedKeys(outSchema["properties"].(map[string]any)) {
			fields = append(fields, "`"+name+"`")
		}
		fmt.Fprintf(&b, "\nReturns `structuredContent` with %s, and a one-line text summary.\n\n", strings.Join(fields, ", "))
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

func firstParagraph(s string) string {
	p, _, _ := strings.Cut(s, "\n\n")
	return strings.TrimSpace(p)
}

// README markers around the generated tool reference.
const (
	RefBegin = "<!-- tools reference: generated by `make schemas`; do not edit -->"
	RefEnd   = "<!-- end of tools reference -->"
)

// SpliceReference puts ref between the README's markers.
func SpliceReference(readme []byte, ref string) ([]byte, error) {
	s := string(readme)
	i := strings.Index(s, RefBegin)
	j := strings.Index(s, RefEnd)
	if i < 0 || j < i {
		return nil, fmt.Errorf("README.md lacks the tools reference markers")
	}
	return []byte(s[:i+len(RefBegin)] + "\n\n" + ref + "\n" + s[j:]), nil
}
