package tools

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// validate checks arguments against a tool's input schema and returns one
// readable line per problem, each naming the parameter and how to fix it.
// It understands the keywords our generated schemas use; mcp-go's own
// validation is off because its messages print Go structs.
func validate(schema map[string]any, args map[string]any, hints map[string]string) []string {
	var problems []string
	props, _ := schema["properties"].(map[string]any)
	for _, name := range sortedKeys(args) {
		if _, known := props[name]; !known {
			problems = append(problems, fmt.Sprintf("%s: unknown parameter; the parameters are %s", name, strings.Join(sortedKeys(props), ", ")))
		}
	}
	for _, r := range stringList(schema["required"]) {
		if v, ok := args[r]; !ok || v == nil {
			problems = append(problems, fmt.Sprintf("%s: required; %s", r, describe(props[r], hints[r])))
		}
	}
	for _, name := range sortedKeys(args) {
		prop, ok := props[name].(map[string]any)
		if !ok || args[name] == nil && !contains(stringList(schema["required"]), name) {
			continue // unknown (reported) or an explicit null for an optional parameter: the default applies
		}
		problems = append(problems, checkValue(name, prop, args[name], hints[name])...)
	}
	return problems
}

func checkValue(path string, s map[string]any, v any, hint string) []string {
	bad := func(what string) []string {
		return []string{fmt.Sprintf("%s: %s (got %s); %s", path, what, show(v), describe(s, hint))}
	}
	switch s["type"] {
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad("must be a string")
		}
		if n, ok := num(s["minLength"]); ok && float64(len([]rune(str))) < n {
			return bad(fmt.Sprintf("must be at least %v characters", n))
		}
		if n, ok := num(s["maxLength"]); ok && float64(len([]rune(str))) > n {
			return bad(fmt.Sprintf("must be at most %v characters", n))
		}
		if p, ok := s["pattern"].(string); ok && !compiled(p).MatchString(str) {
			return bad("has the wrong format")
		}
		if enum, ok := s["enum"].([]any); ok && !inEnum(enum, str) {
			return bad("is not one of the allowed values")
		}
	case "integer", "number":
		f, ok := v.(float64)
		if n, isNum := v.(json.Number); isNum {
			f, _ = n.Float64()
			ok = true
		}
		if !ok {
			return bad("must be a number")
		}
		if s["type"] == "integer" && (f != math.Trunc(f) || math.IsInf(f, 0)) {
			return bad("must be a whole number")
		}
		if n, ok := num(s["minimum"]); ok && f < n {
			return bad(fmt.Sprintf("must be at least %v", n))
		}
		if n, ok := num(s["maximum"]); ok && f > n {
			return bad(fmt.Sprintf("must be at most %v", n))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("must be true or false")
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return bad("must be an array")
		}
		if n, ok := num(s["minItems"]); ok && float64(len(list)) < n {
			return bad(fmt.Sprintf("must have at least %v item(s)", n))
		}
		if n, ok := num(s["maxItems"]); ok && float64(len(list)) > n {
			return bad(fmt.Sprintf("must have at most %v items (it has %d)", n, len(list)))
		}
		if items, ok := s["items"].(map[string]any); ok {
			var out []string
			for i, item := range list {
				out = append(out, checkValue(fmt.Sprintf("%s[%d]", path, i), items, item, hint)...)
				if len(out) >= 3 {
					break // enough to act on
				}
			}
			return out
		}
	}
	return nil
}

// describe says what a parameter takes, for the "fix" half of a message.
func describe(s any, hint string) string {
	if hint != "" {
		return hint
	}
	m, _ := s.(map[string]any)
	switch m["type"] {
	case "integer", "number":
		lo, hasLo := num(m["minimum"])
		hi, hasHi := num(m["maximum"])
		switch {
		case hasLo && hasHi:
			return fmt.Sprintf("use a whole number from %v to %v", lo, hi)
		case hasLo:
			return fmt.Sprintf("use a whole number >= %v", lo)
		}
		return "use a number"
	case "boolean":
		return "use true or false"
	case "array":
		if items, ok := m["items"].(map[string]any); ok {
			if enum, ok := items["enum"].([]any); ok {
				return "use an array of: " + joinAny(enum)
			}
			return "use an array of " + fmt.Sprint(items["type"]) + "s"
		}
		return "use an array"
	case "string":
		if enum, ok := m["enum"].([]any); ok {
			return "use one of: " + joinAny(enum)
		}
		return "use a string"
	}
	return "see the tool's input schema"
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

var (
	patternsMu sync.Mutex
	patterns   = map[string]*regexp.Regexp{}
)

func compiled(p string) *regexp.Regexp {
	patternsMu.Lock()
	defer patternsMu.Unlock()
	re, ok := patterns[p]
	if !ok {
		re = regexp.MustCompile(p)
		patterns[p] = re
	}
	return re
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int:
		return float64(n), true
	}
	return 0, false
}

func inEnum(enum []any, s string) bool {
	for _, e := range enum {
		if e == s {
			return true
		}
	}
	return false
}

func joinAny(list []any) string {
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
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

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
