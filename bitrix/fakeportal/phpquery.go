package fakeportal

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// parsePHPQuery reads a=1&b[]=2&b[]=3&c[x]=4&d[x][]=5 as PHP's parse_str
// does: brackets nest, [] appends.
func parsePHPQuery(q string) map[string]any {
	out := map[string]any{}
	for _, pair := range strings.Split(q, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		name, rest, hasSub := strings.Cut(key, "[")
		if !hasSub {
			out[name] = val
			continue
		}
		out[name] = phpInsert(out[name], strings.Split(strings.TrimSuffix(rest, "]"), "]["), val)
	}
	return out
}

// phpInsert puts val into container at the path of bracket segments.
func phpInsert(container any, segs []string, val string) any {
	if len(segs) == 0 {
		return val
	}
	if segs[0] == "" {
		list, _ := container.([]any)
		return append(list, phpInsert(nil, segs[1:], val))
	}
	m, _ := container.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	m[segs[0]] = phpInsert(m[segs[0]], segs[1:], val)
	return m
}

// str reads a parameter as PHP would cast it to string.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "1"
		}
		return ""
	}
	return fmt.Sprint(v)
}

// intParam reads a parameter as PHP's (int) cast: 0 when absent or not numeric.
func intParam(v any) int {
	s := strings.TrimSpace(str(v))
	n, err := strconv.Atoi(s)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			return int(f)
		}
		return 0
	}
	return n
}

func intList(v any) []int {
	var out []int
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, intParam(e))
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
		for _, k := range keys {
			out = append(out, intParam(x[k]))
		}
	case nil:
	default:
		if n := intParam(x); n != 0 {
			out = append(out, n)
		}
	}
	return out
}

// truthy is PHP's bool cast: "", "0" and 0 are false; everything else, even "false", is true.
func truthy(v any) bool {
	s := str(v)
	return s != "" && s != "0"
}
