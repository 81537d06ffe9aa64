package bitrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Decoding that survives the real portal. Bitrix24's answers are typed
// loosely (a date or false, an object or an array, a number as a string),
// and a field a tool does not need must never fail a whole page. decode
// fills a value member by member: a member of an unexpected JSON type is
// left at its zero value and reported once (method, field, type); only a
// member tagged b24:"required" (an id) fails the decode, naming it.

// ShapeProblem is a member that did not decode as the client expects.
type ShapeProblem struct {
	Method string // the REST method
	Field  string // its path in the result: users[].birthday
	Got    string // the JSON type that came: boolean, object...
}

func (p ShapeProblem) String() string {
	return fmt.Sprintf("%s: %s came as %s", p.Method, p.Field, p.Got)
}

// shapes remembers the problems a client has met, to log each once and to
// list them (check --deep).
type shapes struct {
	mu   sync.Mutex
	seen []ShapeProblem
}

func (s *shapes) add(p ShapeProblem) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.seen, p) {
		return false
	}
	s.seen = append(s.seen, p)
	return true
}

// ShapeProblems lists the members that did not decode as documented since
// the client was made.
func (c *Client) ShapeProblems() []ShapeProblem {
	c.shapes.mu.Lock()
	defer c.shapes.mu.Unlock()
	return slices.Clone(c.shapes.seen)
}

// decodeResult fills v (a pointer) from raw, tolerating members of unexpected
// types; want names what the result should be, for the error when it is
// not even that (or a required member is wrong).
func (c *Client) decodeResult(method string, raw []byte, v any, want string) error {
	// The answer as documented decodes at encoding/json's speed; only one
	// that does not takes the member-by-member way.
	if json.Unmarshal(raw, v) == nil {
		return nil
	}
	rv := reflect.ValueOf(v).Elem()
	rv.Set(reflect.Zero(rv.Type()))
	var problems []ShapeProblem
	if err := decodeValue(method, "", bytes.TrimSpace(raw), reflect.ValueOf(v).Elem(), &problems); err != nil {
		return badResult(method, want, err)
	}
	for _, p := range problems {
		if c.shapes.add(p) {
			c.log.Warn("a Bitrix24 answer had a member of an undocumented type; it was left out", "method", p.Method, "field", p.Field, "type", p.Got)
		}
	}
	return nil
}

var unmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

func decodeValue(method, path string, raw []byte, v reflect.Value, problems *[]ShapeProblem) error {
	if v.CanAddr() && v.Addr().Type().Implements(unmarshaler) || v.Type() == reflect.TypeOf(json.RawMessage{}) {
		return json.Unmarshal(raw, v.Addr().Interface())
	}
	switch v.Kind() {
	case reflect.Struct:
		if bytes.Equal(raw, []byte("null")) {
			return nil
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return fmt.Errorf("%s: %s, not an object", orRoot(path), jsonKind(raw))
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			m, ok := members[name]
			if !ok {
				continue
			}
			fieldPath := join(path, name)
			if err := decodeValue(method, fieldPath, bytes.TrimSpace(m), v.Field(i), problems); err != nil {
				if f.Tag.Get("b24") == "required" {
					return fmt.Errorf("%s: %v", fieldPath, err)
				}
				v.Field(i).Set(reflect.Zero(f.Type))
				*problems = append(*problems, ShapeProblem{Method: method, Field: fieldPath, Got: jsonKind(m)})
			}
		}
		return nil
	case reflect.Slice:
		if bytes.Equal(raw, []byte("null")) {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			// PHP writes an empty list as [] and a list keyed by ids as an object.
			var byKey map[string]json.RawMessage
			if json.Unmarshal(raw, &byKey) != nil {
				return fmt.Errorf("%s, not an array", jsonKind(raw))
			}
			for _, k := range sortedKeys(byKey) {
				items = append(items, byKey[k])
			}
		}
		out := reflect.MakeSlice(v.Type(), 0, len(items))
		for _, item := range items {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(method, path+"[]", bytes.TrimSpace(item), e, problems); err != nil {
				if v.Type().Elem().Kind() == reflect.Struct {
					return err // an element whose id is wrong
				}
				*problems = append(*problems, ShapeProblem{Method: method, Field: path + "[]", Got: jsonKind(item)})
				continue
			}
			out = reflect.Append(out, e)
		}
		v.Set(out)
		return nil
	case reflect.Pointer:
		if bytes.Equal(raw, []byte("null")) {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := decodeValue(method, path, raw, p.Elem(), problems); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	return json.Unmarshal(raw, v.Addr().Interface())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "the result"
	}
	return path
}

// jsonKind names a JSON value's type.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b) // numeric keys in number order
		}
		return strings.Compare(a, b)
	})
	return keys
}
