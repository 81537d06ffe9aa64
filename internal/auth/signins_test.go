package auth_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/cli"
)

// The operator's signins command lists who is signed in and signs a person
// out everywhere, on the record.
func TestSigninsCommand(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	signInByHand(t, s, "chat:read")
	p.ConsentAs(1269)
	signInByHand(t, s, "")
	idle := register(t, s, "https://idle.example/cb")
	s.srv.Close()
	_ = s.App.Close() // the bbolt file is one process's

	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		err := cli.Run(args, cli.Env{Getenv: func(k string) string { return s.Env[k] }, Stdout: &out, Stderr: &errOut})
		return cli.ExitStatus(err, &errOut), out.String() + errOut.String()
	}
	code, out := run("signins")
	if code != 0 || !strings.Contains(out, "1271") || !strings.Contains(out, "1269") || !strings.Contains(out, "hand-driven client") {
		t.Fatalf("signins: exit %d\n%s", code, out)
	}
	if code, out := run("signins", "revoke", "1271"); code != 0 || !strings.Contains(out, "Signed out user 1271") {
		t.Fatalf("signins revoke: exit %d\n%s", code, out)
	}
	if code, out := run("signins"); code != 0 || strings.Contains(out, "1271") || !strings.Contains(out, "1269") {
		t.Fatalf("after the revocation: exit %d\n%s", code, out)
	}
	if code, out := run("signins", "revoke", "x"); code != 2 || !strings.Contains(out, "not a Bitrix24 user id") {
		t.Fatalf("a bad id: exit %d\n%s", code, out)
	}
	// The registrations: which one a person consented to, and deleting one.
	code, out = run("signins", "clients")
	if code != 0 || !strings.Contains(out, idle) || !strings.Contains(out, "https://idle.example/cb") || strings.Count(out, " yes ") != 1 || strings.Count(out, " no ") != 1 {
		t.Fatalf("signins clients: exit %d\n%s", code, out)
	}
	if code, out := run("signins", "clients", "delete", idle); code != 0 || !strings.Contains(out, "Deleted") {
		t.Fatalf("signins clients delete: exit %d\n%s", code, out)
	}
	if code, out := run("signins", "clients"); code != 0 || strings.Contains(out, idle) {
		t.Fatalf("after the deletion: exit %d\n%s", code, out)
	}
	found := false
	for _, l := range auditLines(t, s.Audit) {
		found = found || (l["event"] == "sign-out" && l["bitrix24_user_id"] == "1271" && strings.Contains(l["reason"].(string), "operator"))
	}
	if !found {
		t.Error("the operator's revocation is not in the audit trail")
	}
}
