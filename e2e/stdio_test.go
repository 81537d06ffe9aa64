//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

type stdioSession struct {
	client *client.Client
	stdout *testkit.LockedBuffer // every byte the server wrote to stdout
	stderr *testkit.LockedBuffer
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
	s := &stdioSession{stdout: &testkit.LockedBuffer{}, stderr: &testkit.LockedBuffer{}, cmd: cmd}
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

// portalEnv is the environment that points the binary at a fake portal.
func portalEnv(p *fakeportal.Portal, extra ...string) []string {
	return append(testkit.EnvList(testkit.PortalEnv(p, nil)), extra...)
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
			if !slices.Equal(names, []string{"add_chat_users", "bot_chat_members", "compare_chat_with_team", "find_chats", "find_teams", "find_users", "get_bot_chat", "get_chat", "list_dialog_users", "list_team_members", "sync_chat_with_team"}) {
				t.Fatalf("tools: %v", names)
			}
			if n := p.Stats().Requests; n != 0 {
				t.Fatalf("start-up, initialize and tools/list sent %d requests to the portal", n)
			}

			testkit.ExerciseTools(t, func(name string, args map[string]any) *mcp.CallToolResult { return s.call(t, name, args) }, p)

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
	testkit.AsMap(t, s2.call(t, "add_chat_users", map[string]any{"chat_id": 2725, "user_ids": []int{1291}}))
}

func TestStdioDemoMode(t *testing.T) {
	t.Parallel()
	s := startStdio(t, nil, mcp.ProtocolVersion20251125, "--demo")
	m := testkit.AsMap(t, s.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true, "fields": "ids"}))
	if m["total"].(float64) != 4952 || len(m["user_ids"].([]any)) != 4952 {
		t.Fatalf("demo: total %v", m["total"])
	}
	// Every user of a 4952-member chat does not fit one result: it says where to go on.
	m = testkit.AsMap(t, s.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat9002", "all": true}))
	if n := len(m["rows"].([]any)); n < 300 || n >= 4952 || m["truncated"] != true || m["next_offset"].(float64) != float64(n) {
		t.Fatalf("demo: %d users, truncated %v, next_offset %v", n, m["truncated"], m["next_offset"])
	}
	checkStdout(t, s)
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

func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

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

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	out, err := runBinary(t, nil, "--version")
	if err != nil || !strings.HasPrefix(out, "bitrix24-chat-mcp ") || !strings.Contains(out, "commit") || !strings.Contains(out, "built") {
		t.Fatalf("%v: %q", err, out)
	}
}

// The real binary over HTTP: SIGINT while serving, exit status 0; and a
// non-loopback address without a token, exit status 2.
func TestSignalsAndExitStatus(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	cmd := startBinary(t, []string{"BITRIX24_DEMO=true", "MCP_ADDR=" + addr}, "--transport", "http")
	waitHealthy(t, "http://"+addr)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	for _, transport := range []string{"http", "sse"} {
		out, err := runBinary(t, []string{"BITRIX24_DEMO=true"}, "--transport", transport, "--addr", "0.0.0.0:0")
		if code := exitCode(err); code != 2 || !strings.Contains(out, "MCP_AUTH_TOKEN") {
			t.Fatalf("%s: exit %d: %s", transport, code, out)
		}
	}
}

// LOG_FORMAT=json: every stderr line is one JSON object, each tool call has
// its info line (tool, outcome, duration, portal requests, request id), and
// no secret appears, at debug level.
func TestJSONLogs(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	s := startStdio(t, portalEnv(p, "MCP_LOG_FORMAT=json", "LOG_LEVEL=debug"), mcp.ProtocolVersion20251125)
	testkit.ExerciseTools(t, func(name string, args map[string]any) *mcp.CallToolResult { return s.call(t, name, args) }, p)
	s.client.Close()
	time.Sleep(200 * time.Millisecond)
	calls := map[string]int{}
	lines := strings.Split(strings.TrimSpace(s.stderr.String()), "\n")
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec["time"] == nil || rec["level"] == nil || rec["msg"] == nil {
			t.Fatalf("a line without time, level or msg: %q", line)
		}
		if rec["msg"] == "tool call" && rec["level"] == "INFO" {
			if rec["outcome"] == nil || rec["duration"] == nil || rec["portal_requests"] == nil || len(fmt.Sprint(rec["request_id"])) != 16 {
				t.Fatalf("a call line lacks a field: %q", line)
			}
			calls[fmt.Sprint(rec["tool"], " ", rec["outcome"])]++
		}
	}
	for _, want := range []string{"list_dialog_users ok", "add_chat_users ok", "get_bot_chat tool_error", "list_dialog_users invalid_arguments"} {
		if calls[want] == 0 {
			t.Fatalf("no call line for %s: %v", want, calls)
		}
	}
	portaltest.AssertNoSecret(t, p, "the JSON log", s.stderr.String())
	t.Logf("%d JSON lines, call lines by tool and outcome: %v", len(lines), calls)
}

// A fresh machine: OAuth, no BITRIX24_TOKEN_FILE, and a HOME whose config
// directory does not exist yet. The server survives an expiry (the folder
// is made, 0700, before the first lock), and so does check.
func TestFreshMachineSurvivesAnExpiry(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	home := t.TempDir()
	env := testkit.EnvList(map[string]string{
		"BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f.OAuth.ClientID,
		"BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret, "BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(),
		"HOME": home, "XDG_CONFIG_HOME": "", "LOG_LEVEL": "warn",
	})
	s := startStdio(t, env, mcp.ProtocolVersion20251125)
	for round := range 2 {
		p.ExpireToken()
		if res := s.call(t, "list_dialog_users", map[string]any{"dialog_id": "chat2935"}); res.IsError {
			t.Fatalf("round %d after an expiry: %s\n%s", round, testkit.Text(res), s.stderr.String())
		}
	}
	dir := filepath.Join(home, ".config", "bitrix24-chat-mcp")
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the config folder: %v %v", err, fi)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "tokens-*.json"))
	if len(files) != 1 {
		t.Fatalf("token files: %v", files)
	}
	if fi, _ := os.Stat(files[0]); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the token file is %v", fi.Mode())
	}
	// check, on another fresh machine, its first call meeting an expiry.
	p2 := portaltest.Start(t, nil)
	p2.ExpireToken()
	f2 := p2.Fixture()
	other := testkit.EnvList(map[string]string{
		"BITRIX24_CLIENT_ENDPOINT": p2.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f2.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f2.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f2.OAuth.ClientID,
		"BITRIX24_CLIENT_SECRET": f2.OAuth.ClientSecret, "BITRIX24_OAUTH_TOKEN_URL": p2.TokenURL(),
		"HOME": t.TempDir(), "XDG_CONFIG_HOME": "", "BITRIX24_BOT_ID": "456",
	})
	if out, err := runBinary(t, other, "check"); err != nil || !strings.Contains(out, "Ready.") || p2.Stats().Refreshes != 1 {
		t.Fatalf("check after an expiry (%d refreshes): %v\n%s", p2.Stats().Refreshes, err, out)
	}
	t.Logf("two expiries on a fresh machine: %d refreshes, 0 failed calls; check ready", p.Stats().Refreshes)
}
