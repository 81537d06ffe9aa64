// Package interop drives the server with clients we did not write, in
// process over real HTTP: the official Go SDK on every HTTP transport and
// revision. (stdio: e2e/gosdk_test.go; the TypeScript SDK and the
// inspector: make e2e.)
package interop

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/transport"
)

const testToken = "interop-bearer-token-0123456789"

type server struct{ url string }

// serve runs the HTTP transports as the binary configures them from env,
// against the portal, on a loopback listener.
func serve(t *testing.T, p *fakeportal.Portal, env map[string]string, args ...string) *server {
	t.Helper()
	base := testkit.PortalEnv(p, map[string]string{"MCP_AUTH_TOKEN": testToken, "BITRIX24_RATE_LIMIT": "1000", "BITRIX24_RATE_BURST": "1000", "LOG_LEVEL": "warn"})
	for k, v := range env {
		base[k] = v
	}
	cfg := testkit.Config(t, base, append([]string{"--transport", "http"}, args...)...)
	logger := slog.New(slog.DiscardHandler)
	a := testkit.Assemble(t, cfg, app.Options{Logger: logger, Metrics: telemetry.ForServer("test")})
	srv := httptest.NewServer(transport.NewHTTP(a, logger))
	t.Cleanup(srv.Close)
	return &server{url: srv.URL}
}

// The official Go SDK's client on every HTTP transport and revision:
// Streamable HTTP with sessions and --stateless (2026-07-28 is stateless
// either way), and legacy SSE. (stdio: e2e/gosdk_test.go.)
func TestGoSDKMatrix(t *testing.T) {
	t.Parallel()
	var cells, checks atomic.Int64
	for _, mode := range []struct {
		name, kind string
		args       []string
	}{{"http", "http", nil}, {"http-stateless", "http", []string{"--stateless"}}, {"sse", "sse", nil}} {
		for _, v := range testkit.Versions {
			t.Run(mode.name+"/"+v, func(t *testing.T) {
				t.Parallel()
				p := portaltest.Start(t, nil)
				ns := serve(t, p, map[string]string{"BITRIX24_ENABLE_REMOVE": "true"}, mode.args...)
				var tr sdk.Transport = &sdk.StreamableClientTransport{Endpoint: ns.url + "/mcp", HTTPClient: testkit.Bearer(testToken), MaxRetries: -1}
				if mode.kind == "sse" {
					tr = &sdk.SSEClientTransport{Endpoint: ns.url + "/sse", HTTPClient: testkit.Bearer(testToken)}
				}
				asker := &testkit.Asker{}
				cs := testkit.ConnectGoSDK(t, tr, v, asker.ClientOptions())
				canAsk := mode.name != "http-stateless" || v == "2026-07-28"
				checks.Add(int64(testkit.GoSDKCell(t, cs, asker, p, v, canAsk)))
				cells.Add(1)
			})
		}
	}
	t.Run("unauthorized", func(t *testing.T) {
		t.Parallel()
		ns := serve(t, portaltest.Start(t, nil), nil)
		testkit.WantUnauthorized(t, "POST", ns.url+"/mcp")
		testkit.WantUnauthorized(t, "GET", ns.url+"/sse")
		for _, tc := range []struct {
			name string
			tr   sdk.Transport
		}{
			{"http without a token", &sdk.StreamableClientTransport{Endpoint: ns.url + "/mcp", HTTPClient: testkit.Bearer(""), MaxRetries: -1}},
			{"http with a wrong token", &sdk.StreamableClientTransport{Endpoint: ns.url + "/mcp", HTTPClient: testkit.Bearer("wrong"), MaxRetries: -1}},
			{"sse without a token", &sdk.SSEClientTransport{Endpoint: ns.url + "/sse", HTTPClient: testkit.Bearer("")}},
			{"sse with a wrong token", &sdk.SSEClientTransport{Endpoint: ns.url + "/sse", HTTPClient: testkit.Bearer("wrong")}},
		} {
			_, err := sdk.NewClient(&sdk.Implementation{Name: "x", Version: "1"}, nil).Connect(context.Background(), tc.tr, nil)
			if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
	})
	t.Cleanup(func() { t.Logf("Go SDK v1.8.0: %d cells, %d checks", cells.Load(), checks.Load()) })
}
