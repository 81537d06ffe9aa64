package fakeportal

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (p *Portal) batch(who caller, params map[string]any) (map[string]any, *apiError) {
	type cmd struct{ key, text string }
	var cmds []cmd
	switch c := params["cmd"].(type) {
	case map[string]any:
		for k, v := range c {
			cmds = append(cmds, cmd{k, str(v)})
		}
		sort.Slice(cmds, func(i, j int) bool { return keyLess(cmds[i].key, cmds[j].key) })
	case []any:
		for i, v := range c {
			cmds = append(cmds, cmd{strconv.Itoa(i), str(v)})
		}
	default:
		return nil, errf(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded") // real portal: no commands
	}
	halt := truthy(params["halt"])
	result, errs, totals, nexts, times := newOrdered(), newOrdered(), newOrdered(), newOrdered(), newOrdered()
	now := time.Now()
	for i, c := range cmds {
		if i >= 50 {
			errs.set(c.key, map[string]any{"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"})
			continue
		}
		method, query, _ := strings.Cut(c.text, "?")
		if strings.EqualFold(method, "batch") {
			errs.set(c.key, map[string]any{"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"})
			continue
		}
		p.stats.ByMethod[strings.ToLower(method)]++
		p.stats.InBatch[strings.ToLower(method)]++
		var ans answer
		var aerr *apiError
		if reset, ok := p.apiPause[strings.ToLower(method)]; ok && now.Before(reset) {
			aerr = errf(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
		} else {
			ans, aerr = p.dispatch(who, method, parsePHPQuery(query))
		}
		if aerr != nil {
			cmdParams := parsePHPQuery(query)
			cmdParams["auth"] = params["auth"]
			aerr = p.echoed(aerr, cmdParams)
			errs.set(c.key, map[string]any{"error": aerr.code, "error_description": aerr.desc})
			if halt {
				break
			}
			continue
		}
		result.set(c.key, ans.result)
		if ans.total != nil {
			totals.set(c.key, *ans.total)
		}
		if ans.next != nil {
			nexts.set(c.key, *ans.next)
		}
		times.set(c.key, timing(now, nil))
	}
	return map[string]any{"result": result, "result_error": errs, "result_total": totals,
		"result_next": nexts, "result_time": times}, nil
}

// ordered renders like a PHP array: [] when empty, a JSON array when its keys
// are 0..n-1 in order, an object otherwise.
type ordered struct {
	keys []string
	vals map[string]any
}

func newOrdered() *ordered { return &ordered{vals: map[string]any{}} }

func (o *ordered) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *ordered) MarshalJSON() ([]byte, error) {
	sequential := true
	for i, k := range o.keys {
		if k != strconv.Itoa(i) {
			sequential = false
			break
		}
	}
	if sequential {
		list := make([]any, len(o.keys))
		for i, k := range o.keys {
			list[i] = o.vals[k]
		}
		return json.Marshal(list)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func keyLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a < b
}
