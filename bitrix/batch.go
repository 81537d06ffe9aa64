package bitrix

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// BatchCommand is one method call inside a batch.
type BatchCommand struct {
	Key    string // names the command's result; unique within the batch
	Method string
	Params Params
}

// BatchResult holds each command's answer or error, by key. A command the
// portal skipped (after a halt) is in neither map.
type BatchResult struct {
	Results map[string]*Response
	Errors  map[string]*Error
}

// ErrTooManyCommands is returned, before anything is sent, for a batch longer
// than the portal accepts.
var ErrTooManyCommands = fmt.Errorf("bitrix batch: at most %d commands per batch", MaxBatchCommands)

// Batch sends up to 50 commands as one request (which counts once against the
// rate limit). With halt, the portal stops at the first failing command.
// The error is for the batch as a whole; per-command errors are in the result.
func (c *Client) Batch(ctx context.Context, cmds []BatchCommand, halt bool) (*BatchResult, error) {
	if len(cmds) > MaxBatchCommands {
		return nil, ErrTooManyCommands
	}
	params, err := batchParams(cmds, halt)
	if err != nil {
		return nil, err
	}
	r, err := c.Call(ctx, MethodBatch, params)
	if err != nil {
		return nil, err
	}
	return c.decodeBatch(r.Result)
}

// answer is one command's answer from a batch: its result; or its own
// error, named by its method; or a fault when the portal left it out.
func (r *BatchResult) answer(cmd BatchCommand) (*Response, error) {
	if e := r.Errors[cmd.Key]; e != nil {
		e.Method = cmd.Method
		return nil, e
	}
	if resp := r.Results[cmd.Key]; resp != nil {
		return resp, nil
	}
	return nil, &Error{Method: MethodBatch, Code: CodeBadResponse, Description: "batch answer lacks " + cmd.Key}
}

func batchParams(cmds []BatchCommand, halt bool) (Params, error) {
	cmd := make(map[string]string, len(cmds))
	for _, bc := range cmds {
		if bc.Key == "" {
			return nil, fmt.Errorf("bitrix batch: command %s has no key", bc.Method)
		}
		if _, dup := cmd[bc.Key]; dup {
			return nil, fmt.Errorf("bitrix batch: key %q used twice", bc.Key)
		}
		cmd[bc.Key] = bc.Method + "?" + PHPQuery(bc.Params)
	}
	h := 0
	if halt {
		h = 1
	}
	return Params{"cmd": cmd, "halt": h}, nil
}

// PHPQuery encodes parameters the way PHP's parse_str reads them back:
// arrays as KEY[]=a&KEY[]=b, maps as KEY[sub]=v. A bare repeated key would
// keep only its last value on the portal.
func PHPQuery(p Params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		appendPHP(&b, url.QueryEscape(k), p[k])
	}
	return b.String()
}

func appendPHP(b *strings.Builder, key string, v any) {
	add := func(val string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(val))
	}
	switch x := v.(type) {
	case nil:
		add("")
	case string:
		add(x)
	case bool:
		add(yn(x))
	case int:
		add(strconv.Itoa(x))
	case int64:
		add(strconv.FormatInt(x, 10))
	case float64:
		add(strconv.FormatFloat(x, 'f', -1, 64))
	case json.Number:
		add(x.String())
	case map[string]any:
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			appendPHP(b, key+"["+url.QueryEscape(k)+"]", x[k])
		}
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		appendPHP(b, key, m)
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			for i := 0; i < rv.Len(); i++ {
				appendPHP(b, key+"[]", rv.Index(i).Interface())
			}
			return
		}
		add(fmt.Sprint(v))
	}
}

type batchEnvelope struct {
	Result      json.RawMessage `json:"result"`
	ResultError json.RawMessage `json:"result_error"`
	ResultTotal json.RawMessage `json:"result_total"`
	ResultNext  json.RawMessage `json:"result_next"`
	ResultTime  json.RawMessage `json:"result_time"`
}

// decodeBatch reads a batch answer; per-command error descriptions pass the
// redactor like every other text from the portal (a portal may echo the
// request, tokens included).
func (c *Client) decodeBatch(raw json.RawMessage) (*BatchResult, error) {
	var env batchEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, badResult(MethodBatch, "a batch answer", err)
	}
	results, err1 := section(env.Result)
	errs, err2 := section(env.ResultError)
	totals, err3 := section(env.ResultTotal)
	nexts, err4 := section(env.ResultNext)
	times, err5 := section(env.ResultTime)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return nil, badResult(MethodBatch, "a batch answer", err)
		}
	}
	out := &BatchResult{Results: map[string]*Response{}, Errors: map[string]*Error{}}
	for key, e := range errs {
		var be struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if err := json.Unmarshal(e, &be); err != nil {
			return nil, badResult(MethodBatch, "a batch answer", err)
		}
		out.Errors[key] = &Error{Method: MethodBatch + "[" + key + "]", Code: be.Error, Description: c.secrets.scrub(be.ErrorDescription)}
	}
	for key, r := range results {
		if _, failed := out.Errors[key]; failed {
			continue
		}
		resp := &Response{Result: r}
		if t, ok := totals[key]; ok {
			var n FlexInt
			if json.Unmarshal(t, &n) == nil {
				v := int(n)
				resp.Total = &v
			}
		}
		if t, ok := nexts[key]; ok {
			var n FlexInt
			if json.Unmarshal(t, &n) == nil {
				v := int(n)
				resp.Next = &v
			}
		}
		if t, ok := times[key]; ok {
			_ = json.Unmarshal(t, &resp.Time)
		}
		out.Results[key] = resp
	}
	return out, nil
}

// section reads one of the batch answer's maps. PHP writes an empty map as []
// and a map with keys 0..n-1 as an array, so both shapes are accepted.
func section(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]json.RawMessage{}, nil
	}
	if raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		m := make(map[string]json.RawMessage, len(list))
		for i, v := range list {
			m[strconv.Itoa(i)] = v
		}
		return m, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}
