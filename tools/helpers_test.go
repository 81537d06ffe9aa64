package tools_test

import (
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/bitrixtest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

type harness struct {
	portal *bitrixtest.Portal
	client *client.Client
}

// newHarness serves the tools in-process against a fresh fake portal with
// an unlimited bucket, assembled as the binary assembles them.
func newHarness(t testing.TB, mod ...func(*app.Config)) *harness {
	t.Helper()
	p := bitrixtest.Start(t, nil)
	cfg := testkit.Config(t, testkit.PortalEnv(p, map[string]string{"BITRIX24_RATE_LIMIT": "10000", "BITRIX24_RATE_BURST": "100000"}))
	cfg.Bitrix.RetryBase = 1e6 // 1 ms: fast retries, same policy
	for _, m := range mod {
		m(cfg)
	}
	a := testkit.Assemble(t, cfg, app.Options{})
	return &harness{portal: p, client: testkit.InProcess(t, a, mcp.ProtocolVersion20251125)}
}

func (h *harness) call(t testing.TB, name string, args any) *mcp.CallToolResult {
	t.Helper()
	return testkit.Call(t, h.client, name, args)
}
