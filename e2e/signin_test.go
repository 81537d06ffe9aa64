//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// The built binary as a team server with --auth bitrix24 against a fake
// portal, signed in to by the TypeScript SDK's OAuth client (ts-signin.mjs).
func TestTypeScriptSDKSignsIn(t *testing.T) {
	if _, err := os.Stat("e2e/node_modules/@modelcontextprotocol/sdk"); err != nil {
		t.Fatal("e2e/node_modules is missing: run make e2e (it installs the pinned TypeScript SDK first)")
	}
	p := portaltest.Start(t, nil)
	p.ConsentAs(1271)
	addr := freeAddr(t)
	base := "http://" + addr
	dir := t.TempDir()
	env := testkit.SignInEnv(p, base, dir, testkit.NewKey())
	env["MCP_ADDR"] = addr
	env["HOME"] = dir
	env["LOG_LEVEL"] = "debug"
	var logs testkit.LockedBuffer
	cmd := exec.Command(binPath)
	cmd.Env = testkit.EnvList(env)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); _ = cmd.Wait() })
	p.SetRedirectURI(base + "/callback")
	waitHealthy(t, base)

	node := exec.Command("node", "ts-signin.mjs", base)
	node.Dir = "e2e"
	out, err := node.CombinedOutput()
	if err != nil {
		t.Fatalf("ts-signin.mjs: %v\n%s\nserver log:\n%s", err, out, logs.String())
	}
	t.Log(strings.TrimSpace(string(out)))
	portaltest.AssertNoSecret(t, p, "the server's log", logs.String())
	for _, word := range []string{"b24mcp_at.", "b24mcp_rt.", "b24mcp_code_"} {
		if strings.Contains(logs.String(), word) {
			t.Errorf("the server's log holds one of our tokens (%s)", word)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "signin.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the sign-in store: %v %v, want mode 0600", fi, err)
	}
}
