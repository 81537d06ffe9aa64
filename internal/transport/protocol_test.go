package transport

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Every protocol revision a client may speak over Streamable HTTP:
// 2026-07-28 is the stateless revision (server/discover, no initialize).
// Each lists the tools and calls every one, and the model gets the data in
// both channels. (stdio: e2e/stdio_test.go.)
func TestProtocolMatrix(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	ns := startNetwork(t, p, nil)
	for _, v := range []string{mcp.ProtocolVersion20241105, mcp.ProtocolVersion20250326, mcp.ProtocolVersion20250618,
		mcp.ProtocolVersion20251125, mcp.ProtocolVersion20260728} {
		t.Run("http/"+v, func(t *testing.T) {
			t.Parallel()
			testkit.CheckEveryTool(t, connect(t, ns, "http", v, testToken), v)
		})
	}
}
