package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

func runCheckWith(t *testing.T, p *fakeportal.Portal, env map[string]string) (int, string) {
	t.Helper()
	base := testkit.PortalEnv(p, nil)
	for k, v := range env {
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"check"}, func(k string) string { return base[k] }, nil, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	portaltest.AssertNoSecret(t, p, "check's output", out)
	return code, out
}

func TestCheckCommand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		scopes []string
		code   int
		want   []string
	}{
		{"all good", nil, nil, 0, []string{"OK      the credentials work: acting as Alexander Smith (user 1269)", "scope im:", "scope imbot:", "bot 456 (Support Bot)", "answers imbot.v2", "Ready."}},
		{"no imbot scope, bot configured", nil, []string{"im"}, 1, []string{"scope imbot is MISSING", "Not ready"}},
		{"no im scope", nil, []string{"imbot"}, 1, []string{"scope im is MISSING"}},
		{"team scopes", nil, []string{"im", "imbot", "department", "user", "sonet_group"}, 0, []string{"OK      scope department: departments", "OK      scope user: the people of a department", "OK      scope sonet_group: workgroups and projects", "Ready."}},
		{"no team scopes", nil, []string{"im", "imbot"}, 0, []string{"NOTE    scope department is missing, so these will not work: departments (find_teams",
			"NOTE    scope user_brief is missing, so these will not work: the people of a department", "NOTE    scope sonet_group is missing, so these will not work: workgroups and projects", "Ready."}},
		{"no bot, no imbot", map[string]string{"BITRIX24_BOT_ID": ""}, []string{"im"}, 0, []string{"NOTE", "get_bot_chat will not work", "Ready."}},
		{"wrong webhook code", map[string]string{"BITRIX24_WEBHOOK_URL": "WRONG"}, nil, 1, []string{"NO_AUTH_FOUND", "check the webhook URL"}},
		{"wrong bot token", map[string]string{"BITRIX24_BOT_TOKEN": "not-the-token"}, nil, 1, []string{"BITRIX24_BOT_TOKEN", "BOT_OWNERSHIP_ERROR"}},
		{"bot of another app", map[string]string{"BITRIX24_BOT_ID": "457"}, nil, 1, []string{"bot 457 (", "BOT_OWNERSHIP_ERROR"}},
		{"no such bot", map[string]string{"BITRIX24_BOT_ID": "999"}, nil, 1, []string{"bot 999 is not registered on this portal"}},
		{"no bot client id", map[string]string{"BITRIX24_BOT_CLIENT_ID": ""}, nil, 0, []string{"no BITRIX24_BOT_CLIENT_ID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := portaltest.Start(t, nil)
			if tc.scopes != nil {
				p.SetScopes(tc.scopes...)
			}
			env := tc.env
			if env["BITRIX24_WEBHOOK_URL"] == "WRONG" {
				env = map[string]string{"BITRIX24_WEBHOOK_URL": strings.Replace(p.WebhookURL(), p.Fixture().Webhook.Code, "wrongcode", 1)}
			}
			code, out := runCheckWith(t, p, env)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCheckOAuthAndUnreachable(t *testing.T) {
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	code, out := runCheckWith(t, p, map[string]string{
		"BITRIX24_WEBHOOK_URL": "", "BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f.OAuth.ClientID, "BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret,
		"BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(), "BITRIX24_BOT_TOKEN": "", "BITRIX24_BOT_CLIENT_ID": "",
		"BITRIX24_TOKEN_FILE": filepath.Join(t.TempDir(), "tokens.json"),
	})
	if code != 0 || !strings.Contains(out, "bot 456 (Support Bot) is registered") {
		t.Fatalf("oauth: exit %d\n%s", code, out)
	}
	code, out = runCheckWith(t, p, map[string]string{"BITRIX24_WEBHOOK_URL": "http://127.0.0.1:1/rest/1/abcdefgh/"})
	if code != 1 || !strings.Contains(out, "could not reach the portal") || strings.Contains(out, "abcdefgh") {
		t.Fatalf("unreachable: exit %d\n%s", code, out)
	}
}

func TestHealthCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var out, errOut bytes.Buffer
	if code := run([]string{"health", "--addr", addr}, func(string) string { return "" }, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "/healthz: ok") {
		t.Fatalf("healthz: %d %s %s", code, out.String(), errOut.String())
	}
	if code := run([]string{"health", "--ready"}, func(k string) string { return map[string]string{"MCP_ADDR": addr}[k] }, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "answered 503") {
		t.Fatalf("readyz: %d %s", code, errOut.String())
	}
	if code := run([]string{"health", "--bogus"}, func(string) string { return "" }, nil, &out, &errOut); code != 2 {
		t.Fatalf("a bad flag: %d", code)
	}
}

// check --deep reads once with every method the tools use: against the demo
// portal every answer has its documented shape; a portal whose answer
// changed shape is named, member and type, and check exits 1.
func TestCheckDeep(t *testing.T) {
	fixture, err := os.ReadFile("../../testdata/portal.json")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = Run([]string{"check", "--deep"}, Env{Getenv: func(k string) string { return map[string]string{"BITRIX24_DEMO": "true"}[k] },
		Stdout: &out, Stderr: &errOut, DemoFixture: fixture})
	for _, want := range []string{"im.search.user.list answers and decodes", "im.dialog.users.list answers and decodes",
		"im.recent.list answers and decodes", "every answer read has the documented shape", "Ready."} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("check --deep on the demo lacks %q (%v):\n%s\n%s", want, err, out.String(), errOut.String())
		}
	}
	if err != nil {
		t.Fatal(err)
	}

	// A portal whose search answers a birthday as an object.
	p := portaltest.Start(t, nil)
	changed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, r)
		body := rec.Body.String()
		if strings.HasSuffix(r.URL.Path, "im.search.user.list") {
			body = strings.ReplaceAll(body, `"birthday":false`, `"birthday":{"day":8,"month":3}`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_, _ = w.Write([]byte(body))
	}))
	defer changed.Close()
	env := testkit.PortalEnv(p, nil)
	env["BITRIX24_WEBHOOK_URL"] = strings.Replace(env["BITRIX24_WEBHOOK_URL"], strings.TrimSuffix(p.ClientEndpoint(), "/rest/"), changed.URL, 1)
	out.Reset()
	code := run([]string{"check", "--deep"}, func(k string) string { return env[k] }, nil, &out, &errOut)
	t.Log(out.String())
	if code != 1 || !strings.Contains(out.String(), "FAILED  im.search.user.list: birthday came as object") {
		t.Fatalf("a changed shape: exit %d\n%s", code, out.String())
	}
	if p.Stats().AddUserCalls != 0 || p.Stats().DeleteUserCalls != 0 {
		t.Fatal("check --deep wrote")
	}
	if code := run([]string{"check", "--help"}, func(string) string { return "" }, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "--deep") {
		t.Fatalf("check --help does not document --deep:\n%s", out.String())
	}
}

// With --auth bitrix24, check asks Bitrix24's OAuth server about the
// application (invalid_grant for a bogus code: it knows it) and the store.
func TestCheckSignIn(t *testing.T) {
	p := portaltest.Start(t, nil)
	dir := t.TempDir()
	env := testkit.SignInEnv(p, "http://127.0.0.1:8080", dir, testkit.NewKey())
	check := func(env map[string]string) (int, string) {
		var out, errOut bytes.Buffer
		code := run([]string{"check"}, func(k string) string { return env[k] }, nil, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	code, out := check(env)
	if code != 0 || !strings.Contains(out, "accepts BITRIX24_CLIENT_ID") || !strings.Contains(out, "http://127.0.0.1:8080/callback") {
		t.Fatalf("sign-in check: exit %d\n%s", code, out)
	}
	env["BITRIX24_CLIENT_SECRET"] = "wrong-secret"
	if code, out := check(env); code != 1 || !strings.Contains(out, "invalid_client") || strings.Contains(out, "wrong-secret") {
		t.Fatalf("a wrong secret: exit %d\n%s", code, out)
	}
	delete(env, "MCP_STATE_KEY")
	if code, out := check(env); code != 2 || !strings.Contains(out, "MCP_STATE_KEY") {
		t.Fatalf("no key: exit %d\n%s", code, out)
	}
}
