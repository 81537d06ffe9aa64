package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// The official Go SDK (modelcontextprotocol/go-sdk) as a second client, one
// we did not write: GoSDKCell runs the same checks over any transport and
// revision.

// Asker is the Go SDK client's elicitation handler: it answers with Action
// ("accept", "decline" or "cancel") and records what it was asked.
type Asker struct {
	mu     sync.Mutex
	Action string
	Asked  []string
}

func (a *Asker) handle(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Asked = append(a.Asked, req.Params.Message)
	res := &sdk.ElicitResult{Action: a.Action}
	if a.Action == "accept" {
		res.Content = map[string]any{"confirm": true}
	}
	return res, nil
}

func (a *Asker) set(action string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Action = action
	return len(a.Asked)
}

func (a *Asker) asked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.Asked)
}

// ClientOptions are the Go SDK client's options with the asker answering.
func (a *Asker) ClientOptions() *sdk.ClientOptions {
	return &sdk.ClientOptions{ElicitationHandler: a.handle}
}

// Bearer adds a token to every request of an SDK's HTTP client.
func Bearer(token string) *http.Client {
	return &http.Client{Transport: bearer{token, http.DefaultTransport}}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// ConnectGoSDK connects the Go SDK's client over tr at version.
func ConnectGoSDK(t testing.TB, tr sdk.Transport, version string, opts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "go-sdk-matrix", Version: "1"}, opts)
	// The SSE stream lives as long as Connect's context: not a timeout's.
	cs, err := c.Connect(context.Background(), tr, &sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("go-sdk connect at %s: %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// GoSDKCell checks one transport and revision with the Go SDK's client: the
// tools and their output schemas, one call of every tool with the data in
// both channels and each result valid against its schema, tool errors as
// isError, a cancelled call then another on the same client, 50 concurrent
// calls, and removal declined, cancelled and accepted. The server must run
// with removal enabled against p; cs's client answers through asker. canAsk
// is false where the server cannot ask (--stateless before 2026-07-28: no
// session carries elicitation/create), and removal then goes ahead unasked.
// It returns the number of checks made.
func GoSDKCell(t testing.TB, cs *sdk.ClientSession, asker *Asker, p *fakeportal.Portal, version string, canAsk bool) int {
	t.Helper()
	ctx := context.Background()
	checks := 0
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		checks++
		if !ok {
			t.Fatalf(format, args...)
		}
	}
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, asked for %s", got, version)
	}

	list, err := cs.ListTools(ctx, nil)
	check(err == nil, "tools/list: %v", err)
	schemas := map[string]*jsonschema.Schema{}
	for _, tool := range list.Tools {
		raw, _ := json.Marshal(tool.OutputSchema)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		check(err == nil && tool.OutputSchema != nil, "%s: no output schema: %v", tool.Name, err)
		c := jsonschema.NewCompiler()
		url := "mem://" + tool.Name + ".output.json"
		check(c.AddResource(url, doc) == nil, "%s: output schema", tool.Name)
		schemas[tool.Name], err = c.Compile(url)
		check(err == nil, "%s: output schema does not compile: %v", tool.Name, err)
	}
	names := make([]string, 0, len(schemas))
	for n := range schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	check(slices.Equal(names, []string{"add_chat_users", "bot_chat_members", "compare_chat_with_team", "find_chats", "find_teams", "find_users", "get_bot_chat", "get_chat", "list_dialog_users", "list_team_members", "remove_chat_users", "sync_chat_with_team"}),
		"tools/list: %v", names)

	call := func(ctx context.Context, name string, args map[string]any) (*sdk.CallToolResult, error) {
		return cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	}
	// valid checks a result against its tool's output schema.
	valid := func(name string, res *sdk.CallToolResult) {
		t.Helper()
		raw, _ := json.Marshal(res.StructuredContent)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		err := schemas[name].Validate(inst)
		check(err == nil, "%s: structuredContent does not match the output schema: %v\n%s", name, err, raw)
	}
	text := func(res *sdk.CallToolResult) string {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*sdk.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}

	for _, tc := range []struct {
		tool       string
		args       map[string]any
		text, data string
	}{
		{"find_chats", map[string]any{"query": "Sales"}, "\n2935 | chat2935 | Sales team | chat |", `"dialog_id":"chat2935"`},
		{"find_users", map[string]any{"query": "Peterson"}, "\n99 | Catherine Peterson | user |", `[99,"Catherine Peterson","user",`},
		{"get_chat", map[string]any{"dialog_id": "chat2935"}, "\nname: Sales team\n", `"name":"Sales team"`},
		{"list_dialog_users", map[string]any{"dialog_id": "chat2935"}, "\n1269 | Alexander Smith | user |", `[1269,"Alexander Smith","user",`},
		{"add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019, 1271}}, "\nadded: 1019\nalready_members: 1271", `"already_members":[1271]`},
		{"bot_chat_members", map[string]any{"chat_id": 2725}, "\nmember_ids: ", `"member_ids":[`},
		{"get_bot_chat", map[string]any{"dialog_id": "chat5"}, "\nname: Support Chat\n", `"name":"Support Chat"`},
		{"remove_chat_users", map[string]any{"chat_id": 4000, "user_ids": []int{1403}, "dry_run": true}, "\nremoved: 1403\n", `"removed":[1403]`},
		{"find_teams", map[string]any{"query": "Sales"}, "\ndepartment 2 | Sales | Example Corp / Sales | head 1401 |", `"path":"Example Corp / Sales"`},
		{"list_team_members", map[string]any{"workgroups": []int{11}}, "\n1269 | Alexander Smith | user |", `"owner_id":1269`},
		{"compare_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}}, "\n1291 | Maria Jones | user |", `"missing_count":2`},
		{"sync_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}, "dry_run": true}, "\nadded: 1291,1401\n", `"added":[1291,1401]`},
	} {
		res, err := call(ctx, tc.tool, tc.args)
		check(err == nil && !res.IsError, "%s: %v %v", tc.tool, err, res)
		check(strings.Contains(text(res), tc.text), "%s: the text lacks %q:\n%s", tc.tool, tc.text, text(res))
		raw, _ := json.Marshal(res.StructuredContent)
		check(strings.Contains(string(raw), tc.data), "%s: structuredContent lacks %s: %s", tc.tool, tc.data, raw)
		valid(tc.tool, res)
	}

	// Errors the model can act on are results, not protocol errors.
	res, err := call(ctx, "get_bot_chat", map[string]any{"dialog_id": "chat3000"})
	check(err == nil && res.IsError && strings.Contains(text(res), "ACCESS_DENIED") && strings.Contains(text(res), "Hint:"), "a Bitrix24 error: %v %v", err, res)
	before := p.Stats().Requests
	res, err = call(ctx, "list_dialog_users", map[string]any{"dialog_id": "chat1", "limit": 0})
	check(err == nil && res.IsError && strings.Contains(text(res), "limit:") && p.Stats().Requests == before, "bad input: %v %v", err, res)

	// A cancelled call, then another on the same client.
	p.SetLatency(400 * time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = call(cctx, "list_dialog_users", map[string]any{"dialog_id": "chat2935"})
	cancel()
	check(err != nil, "the cancelled call returned")
	p.SetLatency(0)
	res, err = call(ctx, "list_dialog_users", map[string]any{"dialog_id": "chat2935"})
	check(err == nil && !res.IsError, "the call after a cancel: %v", err)

	// 50 at once.
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialogs := []string{"chat2935", "chat2725", "chat5", "chat13"}
			res, err := call(ctx, "list_dialog_users", map[string]any{"dialog_id": dialogs[i%len(dialogs)]})
			if err == nil && res.IsError {
				err = errors.New(text(res))
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	check(failed.Load() == 0, "50 concurrent calls: %d failed, first: %v", failed.Load(), firstErr.Load())

	// Removal asks first: a decline and a cancel send nothing; accept removes.
	remove := map[string]any{"chat_id": 4000, "user_ids": []int{1403}}
	if !canAsk {
		res, err = call(ctx, "remove_chat_users", remove)
		check(err == nil && !res.IsError && asker.asked() == 0 && !slices.Contains(p.Members(4000), 1403), "removal unasked: %v %v", err, res)
		return checks
	}
	// A cancel is not a decline: the model is told the person did not decline.
	for action, word := range map[string]string{"decline": "declined by the user", "cancel": "they did not decline"} {
		n := asker.set(action)
		res, err = call(ctx, "remove_chat_users", remove)
		check(err == nil && res.IsError && strings.Contains(text(res), word) && asker.asked() == n+1, "%s: %v %v (asked %d)", action, err, res, asker.asked()-n)
		check(p.Stats().DeleteUserCalls == 0 && slices.Contains(p.Members(4000), 1403), "%s: the portal was written", action)
	}
	n := asker.set("accept")
	res, err = call(ctx, "remove_chat_users", remove)
	check(err == nil && !res.IsError && asker.asked() == n+1, "accept: %v %v", err, res)
	valid("remove_chat_users", res)
	check(!slices.Contains(p.Members(4000), 1403), "accept: 1403 is still a member")
	return checks
}

// WantUnauthorized checks that a request without the token, or with a wrong
// one, is answered 401 with a WWW-Authenticate challenge.
func WantUnauthorized(t testing.TB, method, url string) {
	t.Helper()
	for _, token := range []string{"", "wrong-token"} {
		req, _ := http.NewRequest(method, url, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := Bearer(token).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("%s %s with token %q: %d %q", method, url, token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// Versions are every revision the servers and clients here speak.
var Versions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}
