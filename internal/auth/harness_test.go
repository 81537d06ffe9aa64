package auth_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/transport"
)

// SignInServer is a team server with --auth bitrix24 against a fake
// portal, listening on loopback.
type SignInServer struct {
	URL   string // the public URL
	Base  string // where it listens (the public URL, unless a test set another)
	App   *app.App
	Audit string // the audit trail's file
	Key   string // MCP_STATE_KEY
	Env   map[string]string
	srv   *http.Server

	handClient string // the client signInByHand registered
}

// StartSignIn serves a sign-in server for p until the test ends; extra
// settings win over the defaults. p's application sends browsers to the
// server's /callback.
func StartSignIn(t testing.TB, p *fakeportal.Portal, extra map[string]string) *SignInServer {
	return startSignIn(t, p, extra, app.Options{})
}

// roomy are limits every test here stays under: they all come from one
// address. The limits' own tests set theirs.
var roomy = func() auth.Limits {
	r := auth.Rate{PerSource: 6000, SourceBurst: 1000, Overall: 6000, OverallBurst: 1000}
	return auth.Limits{Registrations: r, SignIns: r, Documents: r, Tokens: r}
}()

func startSignIn(t testing.TB, p *fakeportal.Portal, extra map[string]string, o app.Options) *SignInServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	dir := t.TempDir()
	env := testkit.SignInEnv(p, public, dir, testkit.NewKey())
	for k, v := range extra {
		env[k] = v
	}
	cfg := testkit.Config(t, env)
	if o.SignInLimits == (auth.Limits{}) {
		o.SignInLimits = roomy
	}
	a := testkit.Assemble(t, cfg, o)
	p.SetRedirectURI(cfg.PublicURL + "/callback")
	s := &SignInServer{URL: cfg.PublicURL, Base: public, App: a, Audit: env["MCP_AUDIT_LOG"], Key: env["MCP_STATE_KEY"], Env: env,
		srv: &http.Server{Handler: transport.NewHTTP(a, a.Log), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		_ = a.Close()
	})
	return s
}
