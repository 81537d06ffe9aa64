package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// argChecker validates a tool's arguments against the input schema it serves,
// with santhosh-tekuri/jsonschema (every keyword is enforced), and words each
// problem for a model: the parameter, what is wrong, what it got, and the fix.
// mcp-go's own validation is not used: its messages print Go structs.
type argChecker struct {
	hints    map[string]string
	compiled func() (*compiledSchema, error) // on first use: start-up stays quick
}

type compiledSchema struct {
	schema *jsonschema.Schema
	doc    map[string]any // the schema as data, to describe a parameter's fix
}

// maxSafeInteger is the largest integer every JSON reader keeps exactly.
const maxSafeInteger = 1<<53 - 1

// maxProblems bounds a refusal's length: enough to act on.
const maxProblems = 8

var printer = message.NewPrinter(language.English)

func newArgChecker(sp spec, served json.RawMessage) *argChecker {
	return &argChecker{hints: sp.paramHints, compiled: sync.OnceValues(func() (*compiledSchema, error) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(served))
		if err != nil {
			return nil, err
		}
		url := "mem:///schemas/" + sp.name + ".input.json"
		c := jsonschema.NewCompiler()
		if err := c.AddResource(url, doc); err != nil {
			return nil, err
		}
		s, err := c.Compile(url)
		if err != nil {
			return nil, err
		}
		m, _ := doc.(map[string]any)
		return &compiledSchema{schema: s, doc: m}, nil
	})}
}

// check returns the arguments as clean JSON for binding, or the problems.
// Numbers stay json.Number throughout, so 9007199254740993 is never rounded.
func (c *argChecker) check(raw []byte) ([]byte, []string) {
	cs, err := c.compiled()
	if err != nil { // the embedded schemas are tested; this would be a build fault
		return nil, []string{"arguments: the server's schema for this tool does not compile (" + err.Error() + "); report this to the server's maintainers"}
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		raw = []byte("{}")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	args, isObject := inst.(map[string]any)
	if err != nil || !isObject {
		return nil, []string{"arguments: must be a JSON object of named parameters"}
	}
	required := stringList(cs.doc["required"])
	for name, v := range args {
		if v == nil && !slices.Contains(required, name) {
			delete(args, name) // an explicit null for an optional parameter: the default applies
		}
	}
	problems, unsafe := c.normalizeNumbers(cs, args)
	if err := cs.schema.Validate(any(args)); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, []string{"arguments: " + err.Error()}
		}
		for _, leaf := range leaves(ve, nil) {
			if !unsafe[paramPath(leaf.InstanceLocation)] {
				problems = append(problems, c.explain(cs, leaf, args)...)
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		problems = slices.Compact(problems)
		if len(problems) > maxProblems {
			problems = append(problems[:maxProblems], fmt.Sprintf("(and %d more)", len(problems)-maxProblems))
		}
		return nil, problems
	}
	clean, err := json.Marshal(args)
	if err != nil {
		return nil, []string{"arguments: " + err.Error()}
	}
	return clean, nil
}

// normalizeNumbers refuses whole numbers beyond 2^53-1 (JavaScript clients
// and many JSON libraries round them, so the id sent would not be the id
// meant) and writes whole numbers such as 1.0 or 1e2 as integers, which is
// how JSON Schema counts them and how Go binds them.
func (c *argChecker) normalizeNumbers(cs *compiledSchema, args map[string]any) ([]string, map[string]bool) {
	var problems []string
	paths := map[string]bool{}
	limit := new(big.Rat).SetInt64(maxSafeInteger)
	var walk func(loc []string, v any) any
	walk = func(loc []string, v any) any {
		switch x := v.(type) {
		case json.Number:
			r, ok := new(big.Rat).SetString(x.String())
			if !ok || !r.IsInt() {
				return x
			}
			if new(big.Rat).Abs(r).Cmp(limit) > 0 {
				path := paramPath(loc)
				paths[path] = true
				problems = append(problems, fmt.Sprintf("%s: is beyond %d, the largest whole number JSON keeps exactly (got %s); %s",
					path, maxSafeInteger, show(x), c.describe(cs, loc)))
				return x
			}
			return json.Number(r.Num().String())
		case []any:
			for i, e := range x {
				x[i] = walk(append(slices.Clip(loc), strconv.Itoa(i)), e)
			}
		case map[string]any:
			for k, e := range x {
				x[k] = walk(append(slices.Clip(loc), k), e)
			}
		}
		return v
	}
	walk(nil, args)
	return problems, paths
}

func leaves(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, cause := range e.Causes {
		out = leaves(cause, out)
	}
	return out
}

// explain words one schema violation. Keywords without a wording of their
// own still get the library's description, so nothing is silently allowed.
func (c *argChecker) explain(cs *compiledSchema, e *jsonschema.ValidationError, args map[string]any) []string {
	loc := e.InstanceLocation
	var what string
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		var out []string
		for _, name := range k.Missing {
			out = append(out, fmt.Sprintf("%s: required; %s", paramPath(append(slices.Clip(loc), name)), c.describe(cs, append(slices.Clip(loc), name))))
		}
		return out
	case *kind.AdditionalProperties:
		props, _ := cs.doc["properties"].(map[string]any)
		var out []string
		for _, name := range k.Properties {
			out = append(out, fmt.Sprintf("%s: unknown parameter; the parameters are %s", name, strings.Join(sortedKeys(props), ", ")))
		}
		return out
	case *kind.Type:
		what = typeProblem(k.Want, k.Got)
	case *kind.Minimum:
		what = "must be at least " + k.Want.RatString()
	case *kind.Maximum:
		what = "must be at most " + k.Want.RatString()
	case *kind.MinLength:
		what = fmt.Sprintf("must be at least %d characters", k.Want)
	case *kind.MaxLength:
		what = fmt.Sprintf("must be at most %d characters", k.Want)
	case *kind.Pattern:
		what = "has the wrong format"
	case *kind.Enum:
		what = "is not one of the allowed values"
	case *kind.MinItems:
		what = fmt.Sprintf("must have at least %d item(s)", k.Want)
	case *kind.MaxItems:
		what = fmt.Sprintf("must have at most %d items (it has %d)", k.Want, k.Got)
	default:
		what = "is not allowed: " + e.ErrorKind.LocalizedString(printer)
	}
	return []string{fmt.Sprintf("%s: %s (got %s); %s", paramPath(loc), what, show(valueAt(args, loc)), c.describe(cs, loc))}
}

func typeProblem(want []string, got string) string {
	switch {
	case slices.Contains(want, "integer") && got == "number":
		return "must be a whole number"
	case slices.Contains(want, "integer") || slices.Contains(want, "number"):
		return "must be a number"
	case slices.Contains(want, "boolean"):
		return "must be true or false"
	case slices.Contains(want, "array"):
		return "must be an array"
	case slices.Contains(want, "string"):
		return "must be a string"
	}
	return "must be of type " + strings.Join(want, " or ")
}

// paramPath renders an instance location as a model writes it: user_ids[0].
func paramPath(loc []string) string {
	if len(loc) == 0 {
		return "arguments"
	}
	var b strings.Builder
	b.WriteString(loc[0])
	for _, seg := range loc[1:] {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
		} else {
			b.WriteString("." + seg)
		}
	}
	return b.String()
}

func valueAt(v any, loc []string) any {
	for _, seg := range loc {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, _ := strconv.Atoi(seg)
			if i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// describe says what a parameter takes, for the "fix" half of a message: the
// tool's own hint when it has one, else what the schema says.
func (c *argChecker) describe(cs *compiledSchema, loc []string) string {
	if len(loc) == 0 {
		return "see the tool's input schema"
	}
	if h := c.hints[loc[0]]; h != "" {
		return h
	}
	props, _ := cs.doc["properties"].(map[string]any)
	s, _ := props[loc[0]].(map[string]any)
	for range loc[1:] {
		s, _ = s["items"].(map[string]any)
	}
	switch s["type"] {
	case "integer", "number":
		lo, hasLo := s["minimum"].(json.Number)
		hi, hasHi := s["maximum"].(json.Number)
		switch {
		case hasLo && hasHi:
			return fmt.Sprintf("use a whole number from %s to %s", lo, hi)
		case hasLo:
			return fmt.Sprintf("use a whole number >= %s", lo)
		}
		return "use a number"
	case "boolean":
		return "use true or false"
	case "array":
		if items, ok := s["items"].(map[string]any); ok {
			if enum, ok := items["enum"].([]any); ok {
				return "use an array of: " + join(enum)
			}
			return fmt.Sprintf("use an array of %vs", items["type"])
		}
		return "use an array"
	case "string":
		if enum, ok := s["enum"].([]any); ok {
			return "use one of: " + join(enum)
		}
		return "use a string"
	}
	return "see the tool's input schema"
}

// bindProblem words an argument that passed the schema but does not fit the
// tool's Go type.
func bindProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: cannot be read as %s (got %s); see the tool's input schema", te.Field, te.Type, te.Value)
	}
	return "arguments: " + err.Error()
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
