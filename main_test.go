package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// The CLI explains itself: help, each command's help, version; and check
// refuses what the server refuses, naming the setting.
func TestCLIHelpAndVersion(t *testing.T) {
	runWith := func(env map[string]string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(args, func(k string) string { return env[k] }, nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"serve", "--help"}} {
		code, out, _ := runWith(nil, args...)
		if code != 0 || !strings.Contains(out, "bitrix24-chat-mcp check") || !strings.Contains(out, "bot register") || !strings.Contains(out, "Examples:") {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
		for _, s := range app.Settings() {
			if !strings.Contains(out, s.Env) {
				t.Fatalf("%v: the help lacks %s", args, s.Env)
			}
		}
	}
	if code, out, _ := runWith(nil, "check", "--help"); code != 0 || !strings.Contains(out, "Usage: bitrix24-chat-mcp check") {
		t.Fatalf("check --help: exit %d\n%s", code, out)
	}
	if code, _, errOut := runWith(nil, "bot", "register", "--help"); code != 0 || !strings.Contains(errOut, "Usage: bitrix24-chat-mcp bot register") {
		t.Fatalf("bot register --help: exit %d\n%s", code, errOut)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if code, out, _ := runWith(nil, args...); code != 0 || !strings.HasPrefix(out, "bitrix24-chat-mcp ") || !strings.Contains(out, "commit") {
			t.Fatalf("%v: exit %d %q", args, code, out)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"BITRIX24_DEMO": "1"}, []string{"check", "--transport", "http", "--addr", "0.0.0.0:1"}, "MCP_AUTH_TOKEN"},
		{map[string]string{"BITRIX24_ACCESS_TOKEN": "a", "BITRIX24_REFRESH_TOKEN": "r"}, []string{"check"}, "BITRIX24_CLIENT_ENDPOINT is missing"},
		{map[string]string{"BITRIX24_CLIENT_ENDPOINT": "https://p.example/rest/", "BITRIX24_TOKEN_FILE": "/nonexistent/tokens.json"}, []string{"check"}, "BITRIX24_ACCESS_TOKEN"},
		{map[string]string{"BITRIX24_DEMO": "maybe"}, []string{"check"}, "BITRIX24_DEMO"},
	} {
		code, out, errOut := runWith(tc.env, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Contains(out, "Ready.") {
			t.Fatalf("%v %v: exit %d, want 2 naming %s\n%s\n%s", tc.env, tc.args, code, tc.want, out, errOut)
		}
	}
}

// A setting that does not parse stops start-up with exit status 2, naming
// it, and prints no secret.
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	// A token file whose folder cannot be written: under a file, and (for a
	// user root does not override) a folder without write permission.
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	oauth := []string{"BITRIX24_CLIENT_ENDPOINT=https://p.example/rest/", "BITRIX24_ACCESS_TOKEN=a", "BITRIX24_REFRESH_TOKEN=secretcode",
		"BITRIX24_CLIENT_ID=app", "BITRIX24_CLIENT_SECRET=secretcode"}
	unwritable := [][]string{append(slices.Clip(oauth), "BITRIX24_TOKEN_FILE="+filepath.Join(notADir, "tokens.json"))}
	if os.Geteuid() != 0 {
		readOnly := t.TempDir()
		if err := os.Chmod(readOnly, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(readOnly, 0o700) })
		unwritable = append(unwritable, append(slices.Clip(oauth), "BITRIX24_TOKEN_FILE="+filepath.Join(readOnly, "tokens.json")))
	}
	type startup struct {
		env  []string
		args []string
		want string
	}
	var cases []startup
	for _, env := range unwritable {
		cases = append(cases, startup{env, nil, "BITRIX24_TOKEN_FILE: the folder"})
	}
	for _, tc := range append(cases, []startup{
		{nil, nil, "--demo"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/rest/1/abcd/", "BITRIX24_CLIENT_ENDPOINT=https://p.example/rest/"}, nil, "not both"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/rest/1/abcd/", "BITRIX24_MAX_INVITE=0"}, nil, "BITRIX24_MAX_INVITE"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/rest/1/abcd/", "BITRIX24_ALLOWED_CHAT_IDS=12,x"}, nil, "BITRIX24_ALLOWED_CHAT_IDS"},
		{[]string{"BITRIX24_WEBHOOK_URL=https://p.example/nope/secretcode"}, nil, "/rest/USER_ID/CODE/"},
		{nil, []string{"--demo", "--log-level", "loud"}, "--log-level"},
		{[]string{"BITRIX24_DEMO=yes", "BITRIX24_READ_ONLY=maybe"}, nil, "BITRIX24_READ_ONLY"},
		{nil, []string{"--demo", "--rate-burst", "-5"}, "--rate-burst"},
		{[]string{"BITRIX24_DEMO=true"}, []string{"--transport", "http", "--addr", "0.0.0.0:0"}, "MCP_AUTH_TOKEN"},
		{[]string{"BITRIX24_DEMO=true"}, []string{"--transport", "sse", "--addr", "0.0.0.0:0"}, "MCP_AUTH_TOKEN"},
		{nil, []string{"bot", "register", "--code"}, "--code needs a value"},
		{[]string{"BITRIX24_DEMO=true", "MCP_STATE_KEY=secretcode-too-short"}, nil, "MCP_STATE_KEY"},
	}...) {
		env := map[string]string{}
		for _, kv := range tc.env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, func(k string) string { return env[k] }, nil, &stdout, &stderr); code != 2 {
			t.Fatalf("%v %v: want exit 2, got %d", tc.env, tc.args, code)
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
