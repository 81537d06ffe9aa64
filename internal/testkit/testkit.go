// Package testkit is what the packages' tests share to drive the server: a
// configuration aimed at a fake portal, loaded as the binary loads it; the
// one assembly; and mcp-go's client, in-process or over any transport.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// PortalEnv is the environment that points the server at a fake portal with
// the fixture's webhook and bot, plus extra (which wins).
func PortalEnv(p *fakeportal.Portal, extra map[string]string) map[string]string {
	f := p.Fixture()
	env := map[string]string{
		"BITRIX24_WEBHOOK_URL":   p.WebhookURL(),
		"BITRIX24_BOT_ID":        "456",
		"BITRIX24_BOT_TOKEN":     f.Bots[0].Token,
		"BITRIX24_BOT_CLIENT_ID": f.Bots[0].ClientID,
		"LOG_LEVEL":              "debug",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// EnvList renders an environment for exec.Cmd.
func EnvList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// Config loads a configuration exactly as the binary does, from env and args.
func Config(t testing.TB, env map[string]string, args ...string) *app.Config {
	t.Helper()
	cfg, _, err := app.Load(app.Name, args, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("loading the configuration: %v", err)
	}
	return cfg
}

// Assemble builds the server from cfg, with mcp-go's output-schema
// validation on so that every structured result is checked against the
// committed schema.
func Assemble(t testing.TB, cfg *app.Config, o app.Options) *app.App {
	t.Helper()
	o.ServerOptions = append(o.ServerOptions, server.WithOutputSchemaValidation())
	if o.Version == "" {
		o.Version = "test"
	}
	a, err := app.New(cfg, o)
	if err != nil {
		t.Fatalf("assembling the server: %v", err)
	}
	return a
}

// InProcess connects mcp-go's in-process client to an assembled server and
// initializes it at protocol ("" = the client's default), with opts (an
// elicitation handler, say).
func InProcess(t testing.TB, a *app.App, protocol string, opts ...client.ClientOption) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClientWithOptions(a.MCP, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	Initialize(t, c, protocol)
	return c
}

// Initialize sends initialize at protocol ("" = the client's latest).
func Initialize(t testing.TB, c *client.Client, protocol string) *mcp.InitializeResult {
	t.Helper()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = protocol
	if protocol == "" {
		req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	}
	req.Params.ClientInfo = mcp.Implementation{Name: "testkit", Version: "1"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Initialize(ctx, req)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return res
}

// Call calls a tool; a protocol error fails the test.
func Call(t testing.TB, c *client.Client, name string, args any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	return res
}

// ToolNames lists the tools the server offers.
func ToolNames(t testing.TB, c *client.Client) []string {
	t.Helper()
	list, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// Text joins a result's text content.
func Text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// Structured decodes a successful result's structured content into T.
func Structured[T any](t testing.TB, res *mcp.CallToolResult) T {
	t.Helper()
	if res.IsError {
		t.Fatalf("unexpected tool error: %s", Text(res))
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("structured content %s: %v", raw, err)
	}
	return v
}

// WantToolError asserts an isError result whose text holds every part.
func WantToolError(t testing.TB, res *mcp.CallToolResult, parts ...string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want an isError result, got %s", Text(res))
	}
	for _, p := range parts {
		if !strings.Contains(Text(res), p) {
			t.Fatalf("error %q lacks %q", Text(res), p)
		}
	}
}

// RedisServer is a real redis-server (the Debian package) on a free
// loopback port, for one test.
type RedisServer struct {
	URL  string
	port string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartRedis starts redis-server, or skips the test when it is missing
// (fails under CI, whose .ci/run installs it).
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	r := &RedisServer{URL: "redis://127.0.0.1:" + port + "/0", port: port, t: t}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server, empty, and waits until it answers.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for range 200 {
		if c, err := net.Dial("tcp", "127.0.0.1:"+r.port); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatal("redis-server did not start")
}

// Stop ends the server.
func (r *RedisServer) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// LockedBuffer collects a process's output from another goroutine.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// AsMap is a successful result's structured content as a map.
func AsMap(t testing.TB, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %s", Text(res))
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ExerciseTools calls every tool through some transport and checks the
// answers against the fake portal: results, Bitrix24 errors, bad input.
func ExerciseTools(t testing.TB, call func(name string, args map[string]any) *mcp.CallToolResult, p *fakeportal.Portal) {
	t.Helper()
	m := AsMap(t, call("list_dialog_users", map[string]any{"dialog_id": "chat2935", "skip_external": true}))
	if m["total"].(float64) != 3 || len(m["rows"].([]any)) != 3 {
		t.Fatalf("list_dialog_users: %v", m)
	}
	m = AsMap(t, call("add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019, 1271, 424242}}))
	if fmt.Sprint(m["added"]) != "[1019]" || fmt.Sprint(m["already_members"]) != "[1271]" || len(m["not_added"].([]any)) != 1 {
		t.Fatalf("add_chat_users: %v", m)
	}
	if !slices.Contains(p.Members(2725), 1019) {
		t.Fatal("the portal did not get the new member")
	}
	// A chat kept in step with a team: the Website relaunch workgroup's
	// missing people join the Sales team chat; a second call writes nothing.
	m = AsMap(t, call("sync_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}}))
	if fmt.Sprint(m["added"]) != "[1291 1401]" || m["still_missing"].(float64) != 0 {
		t.Fatalf("sync_chat_with_team: %v", m)
	}
	adds := p.Stats().AddUserCalls
	if m = AsMap(t, call("sync_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}})); fmt.Sprint(m["added"]) != "[]" || p.Stats().AddUserCalls != adds {
		t.Fatalf("sync_chat_with_team again: %v", m)
	}
	m = AsMap(t, call("bot_chat_members", map[string]any{"chat_id": 9001}))
	if m["count"].(float64) != 452 || m["source"] != "imbot.chat.user.list" {
		t.Fatalf("bot_chat_members: %v", m)
	}
	m = AsMap(t, call("get_bot_chat", map[string]any{"dialog_id": "chat5"}))
	if m["chat"].(map[string]any)["name"] != "Support Chat" {
		t.Fatalf("get_bot_chat: %v", m)
	}

	// Bitrix24's own errors: isError with the code and a hint.
	for _, tc := range []struct {
		tool string
		args map[string]any
		code string
	}{
		{"get_bot_chat", map[string]any{"dialog_id": "chat3000"}, "ACCESS_DENIED"},
		{"list_dialog_users", map[string]any{"dialog_id": "chat3000"}, "ACCESS_ERROR"},
		{"add_chat_users", map[string]any{"chat_id": 74, "user_ids": []int{1019}}, "ACCESS_DENIED_EXTEND"},
		{"bot_chat_members", map[string]any{"chat_id": 2725, "bot_id": 457}, "BOT_OWNERSHIP_ERROR"},
	} {
		res := call(tc.tool, tc.args)
		if !res.IsError || !strings.Contains(Text(res), tc.code) || !strings.Contains(Text(res), "Hint:") {
			t.Fatalf("%s: want %s with a hint, got %s", tc.tool, tc.code, Text(res))
		}
	}
	// Invalid input: named parameter, nothing sent.
	before := p.Stats().Requests
	res := call("list_dialog_users", map[string]any{"dialog_id": "chat1", "limit": 0})
	if !res.IsError || !strings.Contains(Text(res), "limit:") || p.Stats().Requests != before {
		t.Fatalf("invalid limit: %s", Text(res))
	}

}

// CheckEveryTool checks the negotiated revision, tools/list, and one call
// of every read tool (and a dry-run invite) with the data in both channels.
func CheckEveryTool(t testing.TB, c *client.Client, version string) {
	t.Helper()
	if got := c.ProtocolVersion(); got != version {
		t.Fatalf("negotiated %s, asked for %s", got, version)
	}
	if names := ToolNames(t, c); len(names) != 11 {
		t.Fatalf("tools/list: %v", names)
	}
	for _, tc := range []struct {
		tool       string
		args       map[string]any
		text, data string // in the text; in the JSON of structuredContent
	}{
		{"find_chats", map[string]any{"query": "Sales"}, "\n2935 | chat2935 | Sales team | chat |", `"dialog_id":"chat2935"`},
		{"find_users", map[string]any{"query": "Peterson"}, "\n99 | Catherine Peterson | user |", `[99,"Catherine Peterson","user",`},
		{"get_chat", map[string]any{"dialog_id": "chat2935"}, "\nname: Sales team\n", `"name":"Sales team"`},
		{"list_dialog_users", map[string]any{"dialog_id": "chat2935"}, "\n1269 | Alexander Smith | user |", `[1269,"Alexander Smith","user",`},
		{"add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019, 1271}, "dry_run": true}, "\nadded: 1019\nalready_members: 1271", `"already_members":[1271]`},
		{"bot_chat_members", map[string]any{"chat_id": 2725}, "\nmember_ids: ", `"member_ids":[`},
		{"get_bot_chat", map[string]any{"dialog_id": "chat5"}, "\nname: Support Chat\n", `"name":"Support Chat"`},
		{"find_teams", map[string]any{"query": "Sales"}, "\ndepartment 2 | Sales | Example Corp / Sales | head 1401 |", `"path":"Example Corp / Sales"`},
		{"list_team_members", map[string]any{"workgroups": []int{11}}, "\n1269 | Alexander Smith | user |", `"owner_id":1269`},
		{"compare_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}}, "\n1291 | Maria Jones | user |", `"missing_count":2`},
		{"sync_chat_with_team", map[string]any{"chat_id": 2935, "workgroups": []int{11}, "dry_run": true}, "\nadded: 1291,1401\n", `"added":[1291,1401]`},
	} {
		res := Call(t, c, tc.tool, tc.args)
		text := Text(res)
		if res.IsError || !strings.Contains(text, tc.text) {
			t.Fatalf("%s: the text lacks %q:\n%s", tc.tool, tc.text, text)
		}
		if raw := mustJSON(t, res.StructuredContent); !strings.Contains(raw, tc.data) {
			t.Fatalf("%s: structuredContent lacks %s: %s", tc.tool, tc.data, raw)
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// FreeAddr is a loopback address with a port nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
