package bitrix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

// The field is the judge: testdata/bitrix24/METHOD.json holds, for every
// method the client calls, the answer Bitrix24's documentation gives for it
// (bitrix24/b24restdocs, the page path beside it): the success example, the
// error examples with their HTTP statuses, the error codes the page lists,
// and each field's types from the page's table (unions such as string or
// false included). The client must decode every example and every documented
// variant of it, and the fake portal must answer with the same keys and
// types.

type documented struct {
	Method     string              `json:"method"`
	Page       string              `json:"page"`
	Status     int                 `json:"status"`
	Response   json.RawMessage     `json:"response"`
	Errors     []documentedError   `json:"errors"`
	Codes      []string            `json:"documented_codes"`
	FieldTypes map[string][]string `json:"field_types"`
	// Opaque paths are compared by type only (the client reads nothing
	// there: prompts, message previews); keyed paths hold objects keyed by
	// the caller's names (batch commands), compared by their values.
	Opaque []string `json:"opaque"`
	Keyed  []string `json:"keyed"`
	// VariantsSkip are field names that name two members (variants_skip_why).
	VariantsSkip []string `json:"variants_skip"`
	examplePath  string
}

type documentedError struct {
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
}

func loadDocumented(t *testing.T) map[string]*documented {
	t.Helper()
	files, err := filepath.Glob("../testdata/bitrix24/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no documented examples: %v", err)
	}
	out := map[string]*documented{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d documented
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.Method+".json" != filepath.Base(f) || d.Page == "" || d.Status != 200 {
			t.Fatalf("%s: method %q, page %q, status %d", f, d.Method, d.Page, d.Status)
		}
		d.examplePath = f
		out[d.Method] = &d
	}
	return out
}

// A method cannot reach the client without its documented example.
func TestEveryMethodHasItsDocumentedExample(t *testing.T) {
	docs := loadDocumented(t)
	for _, m := range bitrix.Methods {
		if docs[m] == nil {
			t.Errorf("%s is called but testdata/bitrix24/%s.json (its documented example) is missing", m, m)
		}
	}
	// Every method named in the client's source is in bitrix.Methods.
	files, _ := filepath.Glob("*.go")
	named := regexp.MustCompile(`(?:Method\w*\s*=\s*|c\.Call\(ctx, |callFor\[[^\]]*\]\(ctx, c, )"((?:im|imbot|user|scope|batch|department|sonet_group)[A-Za-z0-9._]*)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		for _, m := range named.FindAllStringSubmatch(string(src), -1) {
			if !slices.Contains(bitrix.Methods, m[1]) {
				t.Errorf("%s calls %s, which is not in bitrix.Methods (and so has no documented example)", f, m[1])
			}
		}
	}
}

// calls are how the client calls each method, as the tools do.
var calls = map[string]func(ctx context.Context, c *bitrix.Client) error{
	"im.dialog.users.list": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935", Limit: 50})
		return err
	},
	"im.chat.user.add": func(ctx context.Context, c *bitrix.Client) error { return c.ChatUserAdd(ctx, 2935, []int{1291}, true) },
	"imbot.chat.user.list": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.BotChatUserIDs(ctx, 2725, 456)
		return err
	},
	"imbot.v2.Chat.User.list": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.BotChatUsers(ctx, 456, "chat2725", 200)
		return err
	},
	"imbot.v2.Chat.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.BotChat(ctx, 456, "chat5")
		return err
	},
	"imbot.v2.Bot.register": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.BotRegister(ctx, "documented", "Documented", "0123456789abcdef0123456789abcdef")
		return err
	},
	"im.search.user.list": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.SearchUsers(ctx, "Smith", 0, 10)
		return err
	},
	"user.search": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.SearchPortalUsers(ctx, bitrix.UserFilter{Position: "Manager"}, 0)
		return err
	},
	"im.user.list.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.UsersByID(ctx, []int{1, 99, 103, 1269})
		return err
	},
	"im.search.chat.list": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.SearchChats(ctx, "Sales", 0, 10)
		return err
	},
	"im.recent.list": func(ctx context.Context, c *bitrix.Client) error {
		_, _, err := c.RecentChats(ctx, 0, 50)
		return err
	},
	"im.dialog.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.DialogGet(ctx, "chat2935")
		return err
	},
	"im.chat.user.delete": func(ctx context.Context, c *bitrix.Client) error { return c.ChatUserDelete(ctx, 4000, 1403) },
	"scope": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.Scopes(ctx)
		return err
	},
	"user.current": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.Me(ctx)
		return err
	},
	"imbot.bot.list": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.Bots(ctx)
		return err
	},
	"department.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.AllDepartments(ctx, 1000)
		return err
	},
	"im.department.managers.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.DepartmentHeads(ctx, []int{3, 7})
		return err
	},
	"user.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.UsersOfDepartments(ctx, []int{1}, false, 1000)
		return err
	},
	"sonet_group.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.FindWorkgroups(ctx, "Project", 0)
		return err
	},
	"sonet_group.user.get": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.WorkgroupMembers(ctx, 69)
		return err
	},
	"batch": func(ctx context.Context, c *bitrix.Client) error {
		_, err := c.Batch(ctx, []bitrix.BatchCommand{{Key: "a", Method: "scope"}, {Key: "b", Method: "user.current"}}, false)
		return err
	},
}

// answering is a portal that answers every request with one fixed body.
type answering struct {
	status int
	body   []byte
	asked  []string
	sent   [][]byte // the request bodies
}

func (a *answering) RoundTrip(r *http.Request) (*http.Response, error) {
	a.asked = append(a.asked, r.URL.Path)
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		a.sent = append(a.sent, b)
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

func clientAnswering(t *testing.T, status int, body []byte) *bitrix.Client {
	t.Helper()
	c, err := bitrix.New(bitrix.Config{WebhookURL: "https://portal.example.com/rest/1/abcdefgh/", BotToken: "t", BotClientID: "cid",
		HTTPClient: &http.Client{Transport: &answering{status: status, body: body}}, MaxAttempts: 1, NoAutoBatch: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// variants are the documented example with one field, wherever it occurs,
// set to a value of each type the page's table allows for it.
func variants(d *documented) map[string][]byte {
	out := map[string][]byte{}
	// "7" reads as a string field and as an id written as a string.
	sample := map[string]any{"string": "7", "number": 0, "boolean": false, "null": nil, "object": map[string]any{}, "array": []any{}}
	names := make([]string, 0, len(d.FieldTypes))
	for n := range d.FieldTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, field := range names {
		types := d.FieldTypes[field]
		if len(types) < 2 || field == "result" || slices.Contains(d.VariantsSkip, field) {
			continue // one documented type: the example shows it
		}
		for _, typ := range types {
			v, ok := sample[typ]
			if !ok {
				continue
			}
			var doc any
			_ = json.Unmarshal(d.Response, &doc)
			if replace(doc, field, v) == 0 {
				continue
			}
			raw, _ := json.Marshal(doc)
			out[field+"="+typ] = raw
		}
	}
	return out
}

// replace sets every member named field to v; it returns how many.
func replace(doc any, field string, v any) int {
	n := 0
	switch d := doc.(type) {
	case map[string]any:
		for k, child := range d {
			if k == field {
				d[k] = v
				n++
				continue
			}
			n += replace(child, field, v)
		}
	case []any:
		for _, child := range d {
			n += replace(child, field, v)
		}
	}
	return n
}

func TestClientDecodesTheDocumentedExamples(t *testing.T) {
	docs := loadDocumented(t)
	examples, variantCount, errorCount := 0, 0, 0
	for _, m := range bitrix.Methods {
		d, call := docs[m], calls[m]
		if d == nil || call == nil {
			t.Errorf("%s: no documented example or no call", m)
			continue
		}
		if err := call(context.Background(), clientAnswering(t, d.Status, d.Response)); err != nil {
			t.Errorf("%s: the documented example (%s) does not decode: %v", m, d.Page, err)
		}
		examples++
		for name, body := range variants(d) {
			if err := call(context.Background(), clientAnswering(t, d.Status, body)); err != nil {
				t.Errorf("%s: the documented variant %s does not decode: %v", m, name, err)
			}
			variantCount++
		}
		for _, e := range d.Errors {
			err := call(context.Background(), clientAnswering(t, e.Status, e.Response))
			var want struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(e.Response, &want)
			if be, ok := bitrix.AsError(err); !ok || be.Code != want.Error {
				t.Errorf("%s: the documented error %s (HTTP %d) came back as %v", m, want.Error, e.Status, err)
			}
			errorCount++
		}
	}
	t.Logf("%d methods: %d documented examples, %d variants and %d error examples decode", len(bitrix.Methods), examples, variantCount, errorCount)
}

// shape compares a fake answer with the documented one: the same keys, and
// each value of a documented type. Objects keyed by ids (or, at keyed paths,
// by the caller's names) are compared by their values; an array's elements
// each against the documented element most like it (items of several kinds).
func (d *documented) shape(path, field string, want, got any, problems *[]string) {
	norm := regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(strings.TrimPrefix(path, "."), "[]")
	wt, gt := jsonType(want), jsonType(got)
	if wt != gt {
		if !slices.Contains(d.FieldTypes[field], gt) && !(slices.Contains(d.Keyed, norm) && gt == "array") {
			*problems = append(*problems, fmt.Sprintf("%s: %s where the page shows %s (allowed %v)", path, gt, wt, d.FieldTypes[field]))
		}
		return
	}
	if slices.Contains(d.Opaque, norm) {
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		if keyedByID(w) || keyedByID(g) || slices.Contains(d.Keyed, norm) {
			for k, v := range g {
				d.shape(path+"["+k+"]", field, closest(w, v), v, problems)
			}
			return
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				if !conditional[k] {
					*problems = append(*problems, fmt.Sprintf("%s.%s: missing", path, k))
				}
				continue
			}
			d.shape(path+"."+k, k, v, gv, problems)
		}
		for k := range g {
			if _, ok := w[k]; !ok && !conditional[k] {
				*problems = append(*problems, fmt.Sprintf("%s.%s: not on the page", path, k))
			}
		}
	case []any:
		g := got.([]any)
		if len(w) == 0 {
			return
		}
		examples := map[string]any{}
		for i, v := range w {
			examples[fmt.Sprint(i)] = v
		}
		for i, v := range g {
			d.shape(fmt.Sprintf("%s[%d]", path, i), field, closest(examples, v), v, problems)
		}
	}
}

// conditional members come and go by the documented rules: operating and
// operating_reset_at while a method's time limit runs, next while a list
// has more (API-NOTES.md); PARENT on every department but the root
// (department-add.md requires it of the others; the page's example shows
// none of the root).
var conditional = map[string]bool{"operating": true, "operating_reset_at": true, "next": true, "PARENT": true}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// closest is the documented value most like got: of its type, sharing the
// most keys (and the same "type" member, when items say their kind).
func closest(examples map[string]any, got any) any {
	var best any
	score := -1
	keys := make([]string, 0, len(examples))
	for k := range examples {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := examples[k]
		s := 0
		if jsonType(e) == jsonType(got) {
			s = 1
		}
		if em, ok := e.(map[string]any); ok {
			if gm, ok := got.(map[string]any); ok {
				for key := range gm {
					if _, ok := em[key]; ok {
						s += 2
					}
				}
				if em["type"] != nil && em["type"] == gm["type"] {
					s += 1000
				}
			}
		}
		if s > score {
			best, score = e, s
		}
	}
	return best
}

func keyedByID(m map[string]any) bool {
	if len(m) == 0 {
		return false
	}
	for k := range m {
		if strings.Trim(k, "0123456789") != "" {
			return false
		}
	}
	return true
}

// fakeRequests are what the test asks the fake portal, one per method, with
// parameters as the client sends them.
var fakeRequests = map[string]map[string]any{
	"im.dialog.users.list":       {"DIALOG_ID": "chat2935", "LIMIT": 50},
	"im.chat.user.add":           {"CHAT_ID": 2935, "USERS": []int{1291}},
	"imbot.chat.user.list":       {"CHAT_ID": 2725, "BOT_ID": 456, "CLIENT_ID": "CLIENT"},
	"imbot.v2.Chat.User.list":    {"botId": 456, "dialogId": "chat2725", "limit": 50, "botToken": "TOKEN"},
	"imbot.v2.Chat.get":          {"botId": 456, "dialogId": "chat5", "botToken": "TOKEN"},
	"imbot.v2.Bot.register":      {"fields": map[string]any{"code": "doc", "properties": map[string]any{"name": "Doc"}, "botToken": "0123456789abcdef0123456789abcdef"}},
	"im.search.user.list":        {"FIND": "Smith", "OFFSET": 0, "LIMIT": 10},
	"user.search":                {"FILTER": map[string]any{"WORK_POSITION": "Manager", "ACTIVE": true}},
	"im.user.list.get":           {"ID": []int{99, 1269}},
	"im.search.chat.list":        {"FIND": "Sales", "OFFSET": 0, "LIMIT": 10},
	"im.recent.list":             {"OFFSET": 0, "LIMIT": 50},
	"im.dialog.get":              {"DIALOG_ID": "chat2935"},
	"im.chat.user.delete":        {"CHAT_ID": 4000, "USER_ID": 1403},
	"scope":                      {},
	"user.current":               {},
	"imbot.bot.list":             {},
	"batch":                      {"halt": 0, "cmd": map[string]any{"get_user": "user.current"}},
	"department.get":             {"sort": "ID", "order": "ASC"},
	"im.department.managers.get": {"ID": []int{1, 2}},
	"user.get":                   {"FILTER": map[string]any{"UF_DEPARTMENT": []int{1}, "ACTIVE": true}},
	"sonet_group.get":            {"FILTER": map[string]any{"%NAME": "Website"}},
	"sonet_group.user.get":       {"ID": 11},
}

func TestFakePortalAnswersAsDocumented(t *testing.T) {
	docs := loadDocumented(t)
	p := portaltest.Start(t, nil)
	fix := p.Fixture()
	for _, m := range bitrix.Methods {
		d := docs[m]
		params := fakeRequests[m]
		if d == nil || params == nil {
			t.Errorf("%s: no documented example or no request", m)
			continue
		}
		body := withCredentials(params, fix)
		raw, _ := json.Marshal(body)
		resp, err := http.Post(p.WebhookURL()+m, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != d.Status {
			t.Errorf("%s: the fake answered HTTP %d: %s", m, resp.StatusCode, got)
			continue
		}
		var want, have any
		_ = json.Unmarshal(d.Response, &want)
		if err := json.Unmarshal(got, &have); err != nil {
			t.Errorf("%s: the fake's answer is not JSON: %s", m, got)
			continue
		}
		var problems []string
		d.shape("", "", want, have, &problems)
		sort.Strings(problems)
		if len(problems) > 0 {
			t.Errorf("%s: the fake's answer differs from %s:\n  %s", m, d.Page, strings.Join(problems, "\n  "))
		}
	}
}

// errorRequests make the fake portal meet each documented error example.
var errorRequests = map[string]map[string]any{
	"im.dialog.users.list":       {},
	"im.chat.user.add":           {},
	"imbot.chat.user.list":       {"BOT_ID": 456, "CLIENT_ID": "CLIENT"},
	"imbot.v2.Chat.User.list":    {"botId": 456, "dialogId": "chat3000", "botToken": "TOKEN"},
	"imbot.v2.Chat.get":          {"botId": 456, "dialogId": "chat3000", "botToken": "TOKEN"},
	"imbot.v2.Bot.register":      {"fields": map[string]any{"properties": map[string]any{"name": "Doc"}, "botToken": "TOKEN"}},
	"im.search.user.list":        {"FIND": "a"},
	"im.user.list.get":           {},
	"im.search.chat.list":        {"FIND": "a"},
	"im.dialog.get":              {},
	"im.chat.user.delete":        {"CHAT_ID": 4000},
	"im.department.managers.get": {},
	"sonet_group.user.get":       {"ID": 12}, // Retro club: hidden from the webhook's user
}

// The fake's errors are the documented ones: the same code, the same HTTP
// status, as each page's error example gives them; and every code the fake
// answers for a method is one its page lists (or a system error).
func TestFakePortalErrorsAsDocumented(t *testing.T) {
	docs := loadDocumented(t)
	p := portaltest.Start(t, nil)
	fix := p.Fixture()
	checked := 0
	for m, params := range errorRequests {
		d := docs[m]
		if d == nil || len(d.Errors) == 0 {
			t.Errorf("%s: no documented error example", m)
			continue
		}
		body := withCredentials(params, fix)
		if f, ok := body["fields"].(map[string]any); ok && f["botToken"] == "TOKEN" {
			f["botToken"] = "0123456789abcdef0123456789abcdef"
		}
		raw, _ := json.Marshal(body)
		resp, err := http.Post(p.WebhookURL()+m, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		var want struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(d.Errors[0].Response, &want)
		if got.Error != want.Error || resp.StatusCode != d.Errors[0].Status {
			t.Errorf("%s: the fake answered %s with HTTP %d; %s documents %s with HTTP %d", m, got.Error, resp.StatusCode, d.Page, want.Error, d.Errors[0].Status)
		}
		if len(d.Codes) > 0 && !slices.Contains(d.Codes, got.Error) {
			t.Errorf("%s: the fake answered %s, which %s does not list (%v)", m, got.Error, d.Page, d.Codes)
		}
		checked++
	}
	t.Logf("%d methods answer their documented error with its status", checked)
}

// The client sends what each page lists, typed as it lists it: no
// parameters to imbot.bot.list, ACTIVE as a boolean to user.search.
func TestDocumentedParameters(t *testing.T) {
	docs := loadDocumented(t)
	for _, tc := range []struct {
		method  string
		want    map[string]any // members the body must have, as JSON values
		notSent []string
	}{
		{"imbot.bot.list", nil, []string{"CLIENT_ID", "BOT_ID"}},
		{"user.search", map[string]any{"FILTER": map[string]any{"ACTIVE": true, "WORK_POSITION": "Manager"}}, []string{"ADMIN_MODE"}},
		{"user.get", map[string]any{"FILTER": map[string]any{"ACTIVE": true, "UF_DEPARTMENT": []int{1}}, "sort": "ID"}, []string{"ADMIN_MODE"}},
		{"im.department.managers.get", map[string]any{"ID": []int{3, 7}}, []string{"USER_DATA"}},
		{"sonet_group.get", map[string]any{"FILTER": map[string]any{"%NAME": "Project", "ACTIVE": "Y"}}, []string{"IS_ADMIN"}},
		{"department.get", map[string]any{"sort": "ID", "order": "ASC"}, []string{"START", "start"}},
	} {
		rt := &answering{status: 200, body: docs[tc.method].Response}
		c, err := bitrix.New(bitrix.Config{WebhookURL: "https://portal.example.com/rest/1/abcdefgh/", BotClientID: "cid",
			HTTPClient: &http.Client{Transport: rt}, MaxAttempts: 1, NoAutoBatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := calls[tc.method](context.Background(), c); err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.Unmarshal(rt.sent[0], &body)
		for k, v := range tc.want {
			got, _ := json.Marshal(body[k])
			want, _ := json.Marshal(v)
			if k == "FILTER" {
				for fk, fv := range v.(map[string]any) {
					gf, _ := json.Marshal(body[k].(map[string]any)[fk])
					wf, _ := json.Marshal(fv)
					if string(gf) != string(wf) {
						t.Errorf("%s: FILTER.%s sent as %s, want %s", tc.method, fk, gf, wf)
					}
				}
				continue
			}
			if string(got) != string(want) {
				t.Errorf("%s: %s sent as %s, want %s", tc.method, k, got, want)
			}
		}
		for _, k := range tc.notSent {
			if _, ok := body[k]; ok {
				t.Errorf("%s: %s was sent, which %s does not list", tc.method, k, docs[tc.method].Page)
			}
		}
	}
}

// withCredentials fills the fixture's bot token and CLIENT_ID into a
// request's parameters where they say TOKEN and CLIENT.
func withCredentials(params map[string]any, fix fakeportal.Fixture) map[string]any {
	body := map[string]any{}
	for k, v := range params {
		switch v {
		case "TOKEN":
			v = fix.Bots[0].Token
		case "CLIENT":
			v = fix.Bots[0].ClientID
		}
		body[k] = v
	}
	return body
}
