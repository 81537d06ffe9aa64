package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/schemas"
)

// specs lists every tool, in the order tools/list shows them.
func specs() []spec {
	return []spec{findChatsSpec(), findUsersSpec(), getChatSpec(), listDialogUsersSpec(), addChatUsersSpec(),
		removeChatUsersSpec(), botChatMembersSpec(), getBotChatSpec(),
		findTeamsSpec(), listTeamMembersSpec(), compareChatWithTeamSpec(), syncChatWithTeamSpec()}
}

// Info is what schema and README generation need to know of a tool.
type Info struct {
	Name        string
	Description string
	ReadOnly    bool
	Destructive bool
	Input       any // zero value of the input type
	Output      any // zero value of the output type
	// CapsUserIDs: user_ids is capped at BITRIX24_MAX_INVITE (maxItems).
	CapsUserIDs bool
	// Removes: it may remove people, where the server allows removal.
	Removes bool
}

// Catalog describes every tool, for internal/gen/genschemas.
func Catalog() []Info {
	var out []Info
	for _, sp := range specs() {
		out = append(out, Info{Name: sp.name, Description: sp.description, ReadOnly: sp.readOnly, Destructive: sp.destructive, Input: sp.input, Output: sp.output, CapsUserIDs: sp.capsUserIDs, Removes: sp.removes})
	}
	return out
}

// Register adds the tools to an MCP server. Tools that write are left out in
// read-only mode, so a model cannot even try them.
func Register(s *server.MCPServer, d *Deps) error {
	if d.Settings.MaxInvite <= 0 {
		d.Settings.MaxInvite = DefaultMaxInvite
	}
	if d.ConfirmKey == nil {
		d.ConfirmKey = randomKey()
	}
	for _, sp := range specs() {
		if d.Settings.ReadOnly && !sp.readOnly || sp.enabled != nil && !sp.enabled(d.Settings) {
			continue
		}
		tool, err := buildTool(sp, d.Settings)
		if err != nil {
			return err
		}
		s.AddTool(tool, handler(sp, newArgChecker(sp, tool.RawInputSchema), d))
	}
	registerPrompts(s, d.Settings)
	return nil
}

// buildTool takes the committed schemas (compact, as generated beside the
// indented files: compacting 70 KB at every start cost a third of a
// millisecond) and makes the mcp.Tool.
func buildTool(sp spec, st Settings) (mcp.Tool, error) {
	inText, okIn := schemas.Served[sp.name+".input"]
	outText, okOut := schemas.Served[sp.name+".output"]
	if !okIn || !okOut {
		return mcp.Tool{}, fmt.Errorf("tools: schema for %s missing; run make schemas", sp.name)
	}
	in, out := []byte(inText), []byte(outText)
	if sp.capsUserIDs && st.MaxInvite != DefaultMaxInvite {
		// The one configurable bound: served as configured, so the schema the
		// model sees is the rule the server applies.
		var err error
		if in, err = withMaxItems(in, "user_ids", st.MaxInvite); err != nil {
			return mcp.Tool{}, fmt.Errorf("tools: schema for %s: %w", sp.name, err)
		}
	}
	// NewToolWithRawSchema: NewTool would also set InputSchema, and a tool
	// with both makes tools/list fail for the whole server.
	tool := mcp.NewToolWithRawSchema(sp.name, sp.description, in)
	tool.Title = sp.title
	tool.RawOutputSchema = out
	if max := st.maxResultChars(); sp.budgeted && max > claudeCodeInlineChars {
		// Claude Code moves a result over 50,000 characters out of the
		// conversation into a file; a tool may say how large its results
		// get, and it keeps them inline up to that.
		tool.Meta = &mcp.Meta{AdditionalFields: map[string]any{"anthropic/maxResultSizeChars": max}}
	}
	tool.Annotations = mcp.ToolAnnotation{
		Title:           sp.title,
		ReadOnlyHint:    mcp.ToBoolPtr(sp.readOnly),
		DestructiveHint: mcp.ToBoolPtr(sp.destructive || sp.removes && st.EnableRemove),
		IdempotentHint:  mcp.ToBoolPtr(sp.idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(sp.openWorld),
	}
	return tool, nil
}

func withMaxItems(schema []byte, param string, n int) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(schema, &s); err != nil {
		return nil, err
	}
	props, _ := s["properties"].(map[string]any)
	p, ok := props[param].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no parameter %s", param)
	}
	p["maxItems"] = n
	return json.Marshal(s)
}

// handler validates and binds the arguments, then runs the tool.
func handler(sp spec, args *argChecker, d *Deps) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		clean, problems := args.check(rawArguments(req))
		if len(problems) == 0 {
			d.Log.Debug("tool call", "tool", sp.name)
			res, err := sp.run(withCall(ctx, d, req, clean), d, clean)
			if err == nil {
				return res, nil
			}
			problems = []string{bindProblem(err)}
		}
		d.Log.Debug("tool arguments refused", "tool", sp.name, "problems", problems)
		report(ctx, OutcomeInvalidArguments, "")
		return invalidArguments(sp.name, problems...), nil
	}
}

// rawArguments returns the call's arguments as the client sent them: JSON-RPC
// requests keep their bytes, so no number passes through a float64.
func rawArguments(req mcp.CallToolRequest) []byte {
	switch a := req.GetRawArguments().(type) {
	case nil:
		return nil
	case json.RawMessage:
		return a
	case []byte:
		return a
	default:
		raw, err := json.Marshal(a)
		if err != nil {
			return []byte(`"unencodable arguments"`)
		}
		return raw
	}
}
