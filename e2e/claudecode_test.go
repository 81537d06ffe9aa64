//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Claude Code, the client our users name first, as they run it: the native
// binary of the pinned npm package (make e2e installs it), with HOME in a
// temporary folder and every server on loopback. `claude mcp add`, `list`,
// `login --no-browser` (which wants a terminal: it runs in a pseudo-terminal
// through script(1)) and `logout` work without a model.

// claudeCode runs Claude Code's mcp commands in a home of its own.
type claudeCode struct {
	t    *testing.T
	bin  string
	home string
}

func newClaudeCode(t *testing.T) *claudeCode {
	t.Helper()
	plat := map[string]string{"linux/amd64": "linux-x64", "linux/arm64": "linux-arm64", "darwin/amd64": "darwin-x64", "darwin/arm64": "darwin-arm64"}[runtime.GOOS+"/"+runtime.GOARCH]
	bin, _ := filepath.Abs(filepath.Join("e2e", "node_modules", "@anthropic-ai", "claude-code-"+plat, "claude"))
	if _, err := os.Stat(bin); err != nil || plat == "" {
		t.Fatalf("Claude Code's binary for %s/%s is missing (%v): run make e2e, which installs the pinned npm package", runtime.GOOS, runtime.GOARCH, err)
	}
	return &claudeCode{t: t, bin: bin, home: t.TempDir()}
}

func (c *claudeCode) env() []string {
	return []string{"HOME=" + c.home, "PATH=" + os.Getenv("PATH"), "TERM=xterm", "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}
}

// run runs `claude args...` to its end.
func (c *claudeCode) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env, cmd.Dir = c.env(), c.home
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		c.t.Fatalf("claude %v did not end: %s", args, out)
	}
	return string(out)
}

// list is `claude mcp list`, each server's line by name.
func (c *claudeCode) list() map[string]string {
	c.t.Helper()
	lines := map[string]string{}
	for _, line := range strings.Split(c.run("mcp", "list"), "\n") {
		if name, rest, ok := strings.Cut(line, ": "); ok && !strings.Contains(name, " ") {
			lines[name] = rest
		}
	}
	return lines
}

// Over stdio (the demo), Streamable HTTP and SSE with the token, Claude
// Code connects; with a wrong token, and with none, it reports the failure
// in our words.
func TestClaudeCodeConnects(t *testing.T) {
	t.Parallel()
	cc := newClaudeCode(t)
	addr := freeAddr(t)
	base := "http://" + addr
	token := testkit.NewKey()
	cmd := exec.Command(binPath, "--demo", "--transport", "http", "--addr", addr)
	cmd.Env = testkit.EnvList(map[string]string{"MCP_AUTH_TOKEN": token, "HOME": t.TempDir()})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); _ = cmd.Wait() })
	waitHealthy(t, base)

	cc.run("mcp", "add", "demo", "--", binPath, "--demo")
	cc.run("mcp", "add", "--transport", "http", "http", base+"/mcp", "--header", "Authorization: Bearer "+token)
	cc.run("mcp", "add", "--transport", "sse", "sse", base+"/sse", "--header", "Authorization: Bearer "+token)
	cc.run("mcp", "add", "--transport", "http", "wrong", base+"/mcp", "--header", "Authorization: Bearer not-the-token")
	cc.run("mcp", "add", "--transport", "http", "none", base+"/mcp")
	got := cc.list()
	t.Logf("claude mcp list: %q", got)
	for name, want := range map[string]string{
		"demo": "✔ Connected", "http": "✔ Connected", "sse": "✔ Connected",
		"wrong": "HTTP 401", "none": "MCP_AUTH_TOKEN",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("claude mcp list, %s: %q, want %q", name, got[name], want)
		}
	}
	for _, name := range []string{"wrong", "none"} {
		if strings.Contains(got[name], "Connected") && !strings.Contains(got[name], "Failed") {
			t.Errorf("%s reported connected: %q", name, got[name])
		}
	}
	if strings.Contains(cc.run("mcp", "list"), token) {
		t.Error("claude mcp list prints the token")
	}
}

// Claude Code signs in to a team server (--auth bitrix24) against the fake
// portal: with client metadata documents off it registers itself, the
// person allows it on our consent page and signs in on the portal's page,
// and it connects; logout signs it out. With documents on and no way to the
// internet (here), the sign-in ends at once with our words, not a hang.
func TestClaudeCodeSignsIn(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script(1) (util-linux) is needed to give claude mcp login its terminal")
	}
	p := portaltest.Start(t, nil)
	p.ConsentAs(1271)
	start := func(documents string) string {
		addr := freeAddr(t)
		base := "http://" + addr
		dir := t.TempDir()
		env := testkit.SignInEnv(p, base, dir, testkit.NewKey())
		env["MCP_ADDR"], env["HOME"], env["MCP_CLIENT_METADATA_DOCUMENTS"] = addr, dir, documents
		cmd := exec.Command(binPath)
		cmd.Env = testkit.EnvList(env)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); _ = cmd.Wait() })
		waitHealthy(t, base)
		return base
	}

	// Documents off: Claude Code registers, and signs in through our pages.
	base := start("false")
	p.SetRedirectURI(base + "/callback")
	cc := newClaudeCode(t)
	cc.run("mcp", "add", "--transport", "http", "team", base+"/mcp")
	if got := cc.list()["team"]; !strings.Contains(got, "Needs authentication") {
		t.Fatalf("before signing in: %q", got)
	}
	out, ok := cc.login(t, "team", func(authorize string) {
		redirect, err := url.Parse(mustQuery(t, authorize).Get("redirect_uri"))
		if err != nil || !strings.HasPrefix(mustQuery(t, authorize).Get("client_id"), "b24mcp-") {
			t.Errorf("Claude Code did not register: %s", authorize)
			return
		}
		b := testkit.NewBrowser()
		q, err := b.Authorize(authorize, redirect.String())
		if err != nil || q.Get("code") == "" {
			t.Errorf("the browser's sign-in: %v %v", q, err)
			return
		}
		if len(b.Pages) != 1 || !strings.Contains(b.Pages[0], "Claude Code") {
			t.Errorf("the consent page does not name Claude Code: %q", b.Pages)
		}
		redirect.RawQuery = q.Encode()
		if resp, err := http.Get(redirect.String()); err == nil {
			resp.Body.Close()
		}
	})
	if !ok || !strings.Contains(out, "Authenticated") {
		t.Fatalf("claude mcp login: %s", out)
	}
	t.Logf("claude mcp login: %s", out[strings.LastIndex(out, "Authenticated"):])
	if got := cc.list()["team"]; !strings.Contains(got, "✔ Connected") {
		t.Errorf("after signing in: %q", got)
	}
	cc.run("mcp", "logout", "team")
	if got := cc.list()["team"]; !strings.Contains(got, "Needs authentication") {
		t.Errorf("after logout: %q", got)
	}

	// Documents on, no way to claude.ai: the sign-in ends with our words.
	base = start("true")
	cc2 := newClaudeCode(t)
	cc2.run("mcp", "add", "--transport", "http", "team", base+"/mcp")
	began := time.Now()
	out, ok = cc2.login(t, "team", func(authorize string) {
		if resp, err := http.Get(authorize); err == nil { // follows our redirect to Claude Code
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	if ok || !strings.Contains(out, "MCP_CLIENT_METADATA_DOCUMENTS=false") || time.Since(began) > 60*time.Second {
		t.Errorf("a document the server cannot fetch: after %s: %s", time.Since(began), out)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

var authorizeLink = regexp.MustCompile(`http://127\.0\.0\.1:\d+/authorize\?[^\s\x07\x1b]+`)

// login runs `claude mcp login name --no-browser` in a pseudo-terminal,
// hands the authorization link it prints to browse, and waits for it to
// end; ok is its exit status being 0.
func (c *claudeCode) login(t *testing.T, name string, browse func(link string)) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qfec", shellQuote(c.bin)+" mcp login "+name+" --no-browser", "/dev/null")
	cmd.Env, cmd.Dir = c.env(), c.home
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r := bufio.NewReader(stdout)
	browsed := false
	for {
		chunk, err := r.ReadString('\n')
		out.WriteString(chunk)
		if link := authorizeLink.FindString(out.String()); link != "" && !browsed {
			browsed = true
			go browse(link)
		}
		if err != nil {
			break
		}
	}
	err = cmd.Wait()
	return out.String(), err == nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
