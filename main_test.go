package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// binPath is the server binary, built once for the stdio tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "b24mcp")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "bitrix24-chat-mcp")
	args := append(append([]string{"build"}, buildFlags...), "-o", binPath, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's output from another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type stdioSession struct {
	client *client.Client
	stdout *lockedBuffer // every byte the server wrote to stdout
	stderr *lockedBuffer
	cmd    *exec.Cmd
	init   *mcp.InitializeResult
}

// startStdio runs the binary as Claude Code or Cursor would: a child process
// speaking JSON-RPC over its stdin/stdout, seen through mcp-go's client.
func startStdio(t *testing.T, env []string, protocol string, args ...string) *stdioSession {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &stdioSession{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, cmd: cmd}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tr := transport.NewIO(io.TeeReader(stdoutPipe, s.stdout), stdin, io.NopCloser(strings.NewReader("")))
	var opts []client.ClientOption
	if protocol != "" {
		opts = append(opts, client.WithProtocolVersion(protocol))
	}
	s.client = client.NewClient(tr, opts...)
	if err := s.client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.init = testkit.Initialize(t, s.client, protocol)
	t.Cleanup(func() {
		s.client.Close()
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Error("server did not exit when stdin closed")
		}
	})
	return s
}

func (s *stdioSession) call(t *testing.T, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	return testkit.Call(t, s.client, name, args)
}

func asMap(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %s", testkit.Text(res))
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// portalEnv is the environment that points the binary at a fake portal.
func portalEnv(p *fakeportal.Portal, extra ...string) []string {
	return append(testkit.EnvList(testkit.PortalEnv(p, nil)), extra...)
}

// exerciseTools calls every tool through some transport and checks the
// answers against the fake portal: results, Bitrix24 errors, bad input.
func exerciseTools(t *testing.T, call func(name string, args map[string]any) *mcp.CallToolResult, p *fakeportal.Portal) {
	t.Helper()
	m := asMap(t, call("list_dialog_users", map[string]any{"dialog_id": "chat2935", "skip_external": true}))
	if m["total"].(float64) != 3 || len(m["users"].([]any)) != 3 {
		t.Fatalf("list_dialog_users: %v", m)
	}
	m = asMap(t, call("add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1019, 1271, 424242}}))
	if fmt.Sprint(m["added"]) != "[1019]" || fmt.Sprint(m["already_members"]) != "[1271]" || len(m["not_added"].([]any)) != 1 {
		t.Fatalf("add_chat_users: %v", m)
	}
	if !slices.Contains(p.Members(2725), 1019) {
		t.Fatal("the portal did not get the new member")
	}
	m = asMap(t, call("bot_chat_members", map[string]any{"chat_id": 9001}))
	if m["count"].(float64) != 452 || m["source"] != "imbot.chat.user.list" {
		t.Fatalf("bot_chat_members: %v", m)
	}
	m = asMap(t, call("get_bot_chat", map[string]any{"dialog_id": "chat5"}))
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
		if !res.IsError || !strings.Contains(testkit.Text(res), tc.code) || !strings.Contains(testkit.Text(res), "Hint:") {
			t.Fatalf("%s: want %s with a hint, got %s", tc.tool, tc.code, testkit.Text(res))
		}
	}
	// Invalid input: named parameter, nothing sent.
	before := p.Stats().Requests
	res := call("list_dialog_users", map[string]any{"dialog_id": "chat1", "limit": 0})
	if !res.IsError || !strings.Contains(testkit.Text(res), "limit:") || p.Stats().Requests != before {
		t.Fatalf("invalid limit: %s", testkit.Text(res))
	}

}

// checkStdout: stdout belongs to JSON-RPC; every line must be a message.
func checkStdout(t *testing.T, s *stdioSession) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s.stdout.String()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	lines := 0
	for sc.Scan() {
		lines++
		var msg struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %.200s", sc.Text())
		}
	}
	if lines == 0 {
		t.Fatal("no stdout at all")
	}
}

func TestStdioAllToolsBothProtocols(t *testing.T) {
	t.Parallel()
	for _, protocol := range []string{mcp.ProtocolVersion20251125, ""} {
		name := protocol
		if name == "" {
			name = "client-default"
		}
		t.Run(name, func(t *testing.T) {
			p := portaltest.Start(t, nil)
			s := startStdio(t, portalEnv(p), protocol)
			if protocol != "" && s.init.ProtocolVersion != protocol {
				t.Fatalf("negotiated %s", s.init.ProtocolVersion)
			}
			names := testkit.ToolNames(t, s.client)
			slices.Sort(names)
			if !slices.Equal(names, []string{"add_chat_users", "bot_chat_members", "find_chats", "find_users", "get_bot_chat", "get_chat", "list_dialog_users"}) {
				t.Fatalf("tools: %v", names)
			}
			if n := p.Stats().Requests; n != 0 {
				t.Fatalf("start-up, initialize and tools/list sent %d requests to the portal", n)
			}

			exerciseTools(t, func(name string, args map[string]any) *mcp.CallToolResult { return s.call(t, name, args) }, p)

			checkStdout(t, s)
			stderr := s.stderr.String()
			if !strings.Contains(stderr, "bitrix24 call") || !strings.Contains(stderr, "attempt=") {
				t.Fatalf("debug log lacks the per-call line:\n%s", stderr)
			}
			portaltest.AssertNoSecret(t, p, "output", stderr)
			portaltest.AssertNoSecret(t, p, "output", s.stdout.String())
		})
	}
}

func TestStdioReadOnlyAndAllowList(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	s := startStdio(t, portalEnv(p, "BITRIX24_ALLOWED_CHAT_IDS=2725"), mcp.ProtocolVersion20251125, "--read-only")
	list, err := s.client.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range list.Tools {
		if tool.Name == "add_chat_users" {
			t.Fatal("--read-only still lists add_chat_users")
		}
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1}}
	if res, err := s.client.CallTool(context.Background(), req); err == nil && !res.IsError {
		t.Fatal("--read-only still runs add_chat_users")
	}

	s2 := startStdio(t, portalEnv(p, "BITRIX24_ALLOWED_CHAT_IDS=2725"), "")
	p.ResetStats()
	res := s2.call(t, "add_chat_users", map[string]any{"chat_id": 2935, "user_ids": []int{1291}})
	if !res.IsError || !strings.Contains(testkit.Text(res), "BITRIX24_ALLOWED_CHAT_IDS") {
		t.Fatalf("allow-list: %s", testkit.Text(res))
	}
	if p.Stats().Requests != 0 {
		t.Fatal("a refused chat reached the portal")
	}
	asMap(t, s2.call(t, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1291}}))
}

func TestStdioDemoMode(t *testing.T) {
	t.Parallel()
	s := startStdio(t, nil, mcp.ProtocolVersion20251125, "--demo")
	m := asMap(t, s.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true, "fields": "ids"}))
	if m["total"].(float64) != 4952 || len(m["user_ids"].([]any)) != 4952 {
		t.Fatalf("demo: total %v", m["total"])
	}
	// Every user of a 4952-member chat does not fit one result: it says where to go on.
	m = asMap(t, s.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true}))
	if n := len(m["users"].([]any)); n < 300 || n >= 4952 || m["truncated"] != true || m["next_offset"].(float64) != float64(n) {
		t.Fatalf("demo: %d users, truncated %v, next_offset %v", n, m["truncated"], m["next_offset"])
	}
	checkStdout(t, s)
}

func TestStartupErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "--demo"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/rest/1/abcd/", "BITRIX24_CLIENT_ENDPOINT=https://p.example/rest/"}, nil, "not both"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/rest/1/abcd/", "BITRIX24_MAX_INVITE=0"}, nil, "BITRIX24_MAX_INVITE"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/rest/1/abcd/", "BITRIX24_ALLOWED_CHAT_IDS=12,x"}, nil, "BITRIX24_ALLOWED_CHAT_IDS"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/nope/secretcode"}, nil, "/rest/USER_ID/CODE/"},
		{nil, []string{"--demo", "--log-level", "loud"}, "--log-level"},
		{[]string{"BITRIX24_DEMO=yes", "BITRIX24_READ_ONLY=maybe"}, nil, "BITRIX24_READ_ONLY"},
		{nil, []string{"--demo", "--rate-burst", "-5"}, "--rate-burst"},
	} {
		cmd := exec.Command(binPath, tc.args...)
		cmd.Env = tc.env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Fatalf("%v %v: want exit 2, got %v", tc.env, tc.args, err)
		}
		if !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Fatalf("stderr %q lacks %q (stdout %q)", stderr.String(), tc.want, stdout.String())
		}
		if strings.Contains(stderr.String(), "secretcode") {
			t.Fatal("webhook code printed")
		}
	}
	if !strings.Contains(app.StartHelp, "BITRIX24_WEBHOOK_URL") {
		t.Fatal("start help must name the webhook variable")
	}
}

func runBinary(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func startBinary(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server never became healthy")
}

// A JSON-RPC line over the limit is refused with an error for its id, never
// held whole, and the server goes on.
func TestStdioOversizedMessage(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binPath, "--demo")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() string {
		if !lines.Scan() {
			t.Fatal("no answer")
		}
		return lines.Text()
	}
	fmt.Fprintln(stdin, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	next()
	fmt.Fprintln(stdin, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	go func() {
		fmt.Fprintf(stdin, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"%s","id":99}}}`+"\n", strings.Repeat("x", 6<<20))
		fmt.Fprintln(stdin, `{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
	}()
	// Calls run concurrently: the two answers may come in either order.
	answers := map[string]string{}
	for range 2 {
		got := next()
		switch {
		case strings.Contains(got, `"id":7`):
			answers["7"] = got
		case strings.Contains(got, `"id":8`):
			answers["8"] = got
		}
	}
	if got := answers["7"]; !strings.Contains(got, `"error"`) || !strings.Contains(got, "over 4 MiB refused") {
		t.Fatalf("oversized line: %.300s", got)
	}
	if got := answers["8"]; !strings.Contains(got, "list_dialog_users") {
		t.Fatalf("after it: %.200s", got)
	}
}

// Two processes (two desktop clients) with the same OAuth settings and token
// file: each expiry costs one refresh, and neither burns the other's pair.
func TestTwoProcessesShareTheTokenFile(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	env := testkit.EnvList(map[string]string{
		"BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f.OAuth.ClientID,
		"BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret, "BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(),
		"BITRIX24_TOKEN_FILE": filepath.Join(t.TempDir(), "tokens.json"), "LOG_LEVEL": "debug",
	})
	a := startStdio(t, env, mcp.ProtocolVersion20251125)
	b := startStdio(t, env, mcp.ProtocolVersion20251125)
	failures := 0
	for round := 0; round < 5; round++ {
		p.ExpireToken()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, s := range []*stdioSession{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if res := s.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935"}); res.IsError {
					mu.Lock()
					failures++
					mu.Unlock()
					t.Log(testkit.Text(res))
				}
			}()
		}
		wg.Wait()
	}
	logs := a.stderr.String() + b.stderr.String()
	if n := p.Stats().Refreshes; n != 5 || failures != 0 || strings.Contains(logs, "invalid_grant") {
		t.Fatalf("5 expiries: %d refreshes, %d failed calls", n, failures)
	}
	portaltest.AssertNoSecret(t, p, "the logs", logs)
	t.Logf("two processes, 5 expiries: %d refreshes, %d failed calls, %d invalid_grant", p.Stats().Refreshes, failures, strings.Count(logs, "invalid_grant"))
}

// Numbers JSON cannot carry exactly, end to end over stdio: refused, naming
// the parameter, with nothing sent to Bitrix24.
func TestStdioUnsafeNumbersReachNothing(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	s := startStdio(t, portalEnv(p, "BITRIX24_READ_ONLY=no"), mcp.ProtocolVersion20251125)
	for _, tc := range []struct{ tool, args, param string }{
		{"add_chat_users", `{"chat_id": 9223372036854775808, "user_ids": [1]}`, "chat_id"},
		{"add_chat_users", `{"chat_id": 2935, "user_ids": [1e300]}`, "user_ids[0]"},
		{"add_chat_users", `{"chat_id": 2935, "user_ids": [9007199254740993]}`, "user_ids[0]"},
		{"add_chat_users", `{"chat_id": 2935, "user_ids": [1], "dry_run": "yes"}`, "dry_run"},
		{"list_dialog_users", `{"dialog_id": "chat1", "all": 1}`, "all"},
	} {
		res := testkit.Call(t, s.client, tc.tool, json.RawMessage(tc.args))
		testkit.WantToolError(t, res, "- "+tc.param+":", "nothing was sent")
	}
	if n := p.Stats().Requests; n != 0 {
		t.Fatalf("%d requests reached the portal", n)
	}
}
