//go:build e2e

package e2e

import (
	"os/exec"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// The official Go SDK's client runs the binary over stdio, at every
// revision, as Claude Code or Cursor would start it. (HTTP and SSE:
// internal/interop/gosdk_test.go.)
func TestGoSDKStdio(t *testing.T) {
	var cells, checks atomic.Int64
	for _, v := range testkit.Versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			p := portaltest.Start(t, nil)
			cmd := exec.Command(binPath)
			cmd.Env = append(portalEnv(p, "BITRIX24_ENABLE_REMOVE=true", "LOG_LEVEL=warn", "BITRIX24_RATE_LIMIT=1000", "BITRIX24_RATE_BURST=1000"), "HOME="+t.TempDir())
			asker := &testkit.Asker{}
			cs := testkit.ConnectGoSDK(t, &sdk.CommandTransport{Command: cmd}, v, asker.ClientOptions())
			checks.Add(int64(testkit.GoSDKCell(t, cs, asker, p, v, true)))
			cells.Add(1)
		})
	}
	t.Cleanup(func() { t.Logf("Go SDK v1.8.0 over stdio: %d cells, %d checks", cells.Load(), checks.Load()) })
}
