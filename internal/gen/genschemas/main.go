// Command genschemas writes what is generated from the code: schemas/*.json
// from the tools' Go types, and, in README.md, the tool reference (from those
// schemas) and the configuration table (from app's settings table).
// Run it as `make schemas`; `genschemas -check` only reports what is stale.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

func main() {
	root := flag.String("root", ".", "the repository's top directory")
	check := flag.Bool("check", false, "write nothing; exit 1 when a generated file is stale")
	flag.Parse()
	stale, err := generate(*root, !*check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genschemas:", err)
		os.Exit(1)
	}
	for _, f := range stale {
		verb := "wrote"
		if *check {
			verb = "stale (run make schemas):"
		}
		fmt.Fprintln(os.Stderr, verb, f)
	}
	if *check && len(stale) > 0 {
		os.Exit(1)
	}
}

// generate renders every generated file and returns those whose content
// differs from the tree's; with write, it writes them.
func generate(root string, write bool) ([]string, error) {
	files, err := outputs(root)
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(root, name)
		have, _ := os.ReadFile(path)
		if bytes.Equal(have, files[name]) {
			continue
		}
		stale = append(stale, name)
		if write {
			if err := os.WriteFile(path, files[name], 0o644); err != nil {
				return nil, err
			}
		}
	}
	return stale, nil
}

// outputs is every generated file by its path under root.
func outputs(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, t := range tools.Catalog() {
		for kind, v := range map[string]any{"input": t.Input, "output": t.Output} {
			raw, err := reflectSchema(v, kind == "input" && t.CapsUserIDs)
			if err != nil {
				return nil, err
			}
			out[filepath.Join("schemas", t.Name+"."+kind+".json")] = raw
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	ref, err := reference(out)
	if err != nil {
		return nil, err
	}
	if readme, err = splice(readme, "tools reference", ref); err != nil {
		return nil, err
	}
	if readme, err = splice(readme, "configuration table", app.MarkdownTable()); err != nil {
		return nil, err
	}
	demo, err := demoChats(root)
	if err != nil {
		return nil, err
	}
	if readme, err = splice(readme, "demo chats", demo); err != nil {
		return nil, err
	}
	out["README.md"] = readme
	return out, nil
}

// demoChats renders the demo portal's chats with the member counts the
// tools report, from testdata/portal.json (typed by hand, they went wrong).
func demoChats(root string) (string, error) {
	fix, err := fakeportal.LoadFixture(filepath.Join(root, "testdata", "portal.json"))
	if err != nil {
		return "", err
	}
	p := fakeportal.New(fix)
	names := map[int]string{}
	for _, c := range fix.Chats {
		names[c.ID] = c.Name
	}
	for _, g := range fix.Large {
		names[g.ChatID] = g.Name + " (generated)"
	}
	var b strings.Builder
	b.WriteString("| chat | name | members |\n| --- | --- | --- |\n")
	for _, id := range p.ChatIDs() {
		fmt.Fprintf(&b, "| `chat%d` | %s | %d |\n", id, names[id], p.ActiveMemberCount(id))
	}
	return b.String(), nil
}

// reflectSchema renders a Go type as a flat JSON Schema: no $ref/$defs
// (Gemini CLI, Copilot and Cursor reject them), no $schema or $id.
// reflectSchema reflects a tool's type; capUserIDs gives user_ids the
// default BITRIX24_MAX_INVITE as maxItems (the server serves the configured one).
func reflectSchema(v any, capUserIDs bool) ([]byte, error) {
	r := &jsonschema.Reflector{
		DoNotReference:             true,
		ExpandedStruct:             true,
		Anonymous:                  true,
		RequiredFromJSONSchemaTags: true,
		AllowAdditionalProperties:  false,
	}
	r.Mapper = func(t reflect.Type) *jsonschema.Schema {
		if t == reflect.TypeOf(tools.UserRow{}) {
			return userRowSchema()
		}
		return nil
	}
	s := r.ReflectFromType(reflect.TypeOf(v))
	s.Version, s.ID = "", ""
	if capUserIDs {
		p, ok := s.Properties.Get("user_ids")
		if !ok {
			return nil, fmt.Errorf("%T has no user_ids to cap", v)
		}
		n := uint64(tools.DefaultMaxInvite)
		p.MaxItems = &n
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep ">=" readable in descriptions
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	// invopop marshals nested schemas itself, HTML-escaped; undo that.
	return []byte(strings.NewReplacer(`\u003e`, ">", `\u003c`, "<", `\u0026`, "&").Replace(buf.String())), nil
}

// userRowSchema describes a compact user's row (tools.UserRow): five cells,
// typed in order (prefixItems); a validator that predates prefixItems
// still checks the count and that each cell is a number or a string.
func userRowSchema() *jsonschema.Schema {
	n := uint64(len(tools.UserRowCells))
	var cells []*jsonschema.Schema
	var names []string
	for _, c := range tools.UserRowCells {
		cells = append(cells, &jsonschema.Schema{Type: c[1], Description: c[0]})
		names = append(names, c[0])
	}
	return &jsonschema.Schema{
		Type:        "array",
		Description: "[" + strings.Join(names, ", ") + "]",
		MinItems:    &n,
		MaxItems:    &n,
		PrefixItems: cells,
		Items:       &jsonschema.Schema{AnyOf: []*jsonschema.Schema{{Type: "integer"}, {Type: "string"}}},
	}
}

// reference renders the README's tool reference from the generated schemas.
func reference(files map[string][]byte) (string, error) {
	var b strings.Builder
	for _, t := range tools.Catalog() {
		var in, out struct {
			Properties map[string]map[string]any `json:"properties"`
			Required   []string                  `json:"required"`
		}
		if err := json.Unmarshal(files[filepath.Join("schemas", t.Name+".input.json")], &in); err != nil {
			return "", err
		}
		if err := json.Unmarshal(files[filepath.Join("schemas", t.Name+".output.json")], &out); err != nil {
			return "", err
		}
		access := "read-only"
		switch {
		case t.Destructive:
			access = "removes; registered only with --enable-remove, never with --read-only"
		case t.Removes:
			access = "writes; not registered with --read-only; removes only with --enable-remove"
		case !t.ReadOnly:
			access = "writes; not registered with --read-only"
		}
		summary, _, _ := strings.Cut(t.Description, "\n\n")
		fmt.Fprintf(&b, "### `%s` (%s)\n\n%s\n\n", t.Name, access, strings.TrimSpace(summary))
		b.WriteString("| argument | type | required | default | description |\n| --- | --- | --- | --- | --- |\n")
		names := slices.Sorted(maps.Keys(in.Properties))
		slices.SortStableFunc(names, func(x, y string) int {
			return boolOrder(slices.Contains(in.Required, y)) - boolOrder(slices.Contains(in.Required, x))
		})
		for _, name := range names {
			p := in.Properties[name]
			typ := fmt.Sprint(p["type"])
			if items, ok := p["items"].(map[string]any); ok {
				typ = fmt.Sprintf("array of %v", items["type"])
			}
			def, req := "", ""
			if d, ok := p["default"]; ok {
				dj, _ := json.Marshal(d)
				def = "`" + string(dj) + "`"
			}
			if slices.Contains(in.Required, name) {
				req = "yes"
			}
			desc := strings.ReplaceAll(fmt.Sprint(p["description"]), "|", "\\|")
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", name, typ, req, def, desc)
		}
		var fields []string
		for _, name := range slices.Sorted(maps.Keys(out.Properties)) {
			fields = append(fields, "`"+name+"`")
		}
		fmt.Fprintf(&b, "\nReturns `structuredContent` with %s, and the same data as text: a summary line, then the data (see Results for every client, above).\n\n", strings.Join(fields, ", "))
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// splice puts text between the README's markers for a generated section:
// <!-- NAME: generated by `make schemas`; do not edit --> ... <!-- end of NAME -->
func splice(readme []byte, name, text string) ([]byte, error) {
	begin := "<!-- " + name + ": generated by `make schemas`; do not edit -->"
	end := "<!-- end of " + name + " -->"
	s := string(readme)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("README.md lacks the markers %s ... %s", begin, end)
	}
	return []byte(s[:i+len(begin)] + "\n\n" + text + "\n" + s[j:]), nil
}
