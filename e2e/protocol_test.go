//go:build e2e

package e2e

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Every protocol revision a client may speak, over stdio (Streamable HTTP:
// internal/transport): 2026-07-28 is the stateless revision (server/discover, no
// initialize). Each lists the tools and calls every one, and the model gets
// the data in both channels.
func TestProtocolMatrix(t *testing.T) {
	versions := []string{mcp.ProtocolVersion20241105, mcp.ProtocolVersion20250326, mcp.ProtocolVersion20250618,
		mcp.ProtocolVersion20251125, mcp.ProtocolVersion20260728}
	p := portaltest.Start(t, nil)
	for _, v := range versions {
		t.Run("stdio/"+v, func(t *testing.T) {
			t.Parallel()
			s := startStdio(t, portalEnv(p), v)
			testkit.CheckEveryTool(t, s.client, v)
		})
	}
}
