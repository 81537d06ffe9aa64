package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// login: Bitrix24's sign-in page sends the browser to the redirect URI in
// the application's settings; the code is traded at once, the pair saved
// 0600 where the server reads it, the sign-in audited. A forged state is
// refused; a pasted address or bare code works too; logout deletes the file.
func TestLoginAndLogout(t *testing.T) {
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	dir := t.TempDir()
	addr := testkit.FreeAddr(t)
	p.SetRedirectURI("http://" + addr + "/callback")
	env := map[string]string{
		"BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_CLIENT_ID": f.OAuth.ClientID, "BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret,
		"BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(), "BITRIX24_TOKEN_FILE": filepath.Join(dir, "tokens.json"),
		"MCP_AUDIT_LOG": filepath.Join(dir, "audit.jsonl"), "BITRIX24_BOT_ID": "456",
	}
	getenv := func(k string) string { return env[k] }
	login := func(stdin io.Reader) (chan int, *testkit.LockedBuffer, *testkit.LockedBuffer) {
		stdout, stderr := &testkit.LockedBuffer{}, &testkit.LockedBuffer{}
		done := make(chan int, 1)
		go func() {
			done <- run([]string{"login", "--no-browser", "--listen", addr}, getenv, stdin, stdout, stderr)
		}()
		return done, stdout, stderr
	}
	authURL := func(stderr *testkit.LockedBuffer) string {
		for range 200 {
			if m := regexp.MustCompile(`(?m)^\s+(http\S+/oauth/authorize/\S+)$`).FindStringSubmatch(stderr.String()); m != nil {
				return m[1]
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no sign-in address:\n%s", stderr.String())
		return ""
	}

	// The browser's way.
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	done, stdout, stderr := login(stdinR)
	u := authURL(stderr)
	forged := strings.Replace(u, "state=", "state=x", 1)
	if resp, err := http.Get(forged); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a forged state: %v %v", err, resp)
	}
	resp, err := http.Get(u) // follows Bitrix24's redirect to the callback
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the callback: %v %v", err, resp)
	}
	if code := <-done; code != 0 || !strings.Contains(stdout.String(), "Signed in to") || !strings.Contains(stdout.String(), "as user 1269") {
		t.Fatalf("login: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	fi, err := os.Stat(env["BITRIX24_TOKEN_FILE"])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the token file: %v %v", err, fi)
	}
	raw, _ := os.ReadFile(env["BITRIX24_TOKEN_FILE"])
	access, _ := p.Tokens()
	if !strings.Contains(string(raw), access) {
		t.Fatal("the token file does not hold the pair the code was traded for")
	}
	portaltest.AssertNoSecret(t, p, "login's output", stdout.String()+stderr.String())
	var out, errOut strings.Builder
	if code := run([]string{"check"}, getenv, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Ready.") {
		t.Fatalf("check with the signed-in pair: %d\n%s%s", code, out.String(), errOut.String())
	}

	// The pasted way: the address the browser ended on.
	stdinR2, stdinW2 := io.Pipe()
	done, _, stderr = login(stdinR2)
	u = authURL(stderr)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(u)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("the sign-in page: %v %v", err, resp)
	}
	go func() { _, _ = io.WriteString(stdinW2, resp.Header.Get("Location")+"\n") }()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("pasted: exit %d\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pasted address did not sign in")
	}
	// A code works once.
	loc, _ := resp.Location()
	if _, err := exchangeAgain(p.TokenURL(), env, loc.Query().Get("code")); err == nil {
		t.Fatal("a used code worked twice")
	}

	// logout.
	out.Reset()
	if code := run([]string{"logout"}, getenv, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Signed out") {
		t.Fatalf("logout: %d %s", code, out.String())
	}
	if _, err := os.Stat(env["BITRIX24_TOKEN_FILE"]); !os.IsNotExist(err) {
		t.Fatal("logout left the token file")
	}
	out.Reset()
	if code := run([]string{"logout"}, getenv, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Not signed in") {
		t.Fatalf("a second logout: %d %s", code, out.String())
	}
	var events []string
	trail, _ := os.ReadFile(env["MCP_AUDIT_LOG"])
	for _, line := range strings.Split(strings.TrimSpace(string(trail)), "\n") {
		var e struct{ Event, UserID string }
		_ = json.Unmarshal([]byte(line), &e)
		events = append(events, e.Event)
	}
	if strings.Join(events, ",") != "sign-in,sign-in,sign-out" {
		t.Fatalf("the audit trail: %v\n%s", events, trail)
	}
	portaltest.AssertNoSecret(t, p, "the audit trail", string(trail))

	// Missing settings: exit 2, naming them.
	delete(env, "BITRIX24_CLIENT_SECRET")
	errOut.Reset()
	if code := run([]string{"login"}, getenv, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "BITRIX24_CLIENT_SECRET") {
		t.Fatalf("no secret: %d %s", code, errOut.String())
	}
}

func exchangeAgain(tokenURL string, env map[string]string, code string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", tokenURL+"?grant_type=authorization_code&client_id="+env["BITRIX24_CLIENT_ID"]+"&client_secret="+env["BITRIX24_CLIENT_SECRET"]+"&code="+code, nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil && resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, io.EOF
	}
	return resp, err
}
