package transport

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Past its share a legacy SSE session's calls are refused on the stream, as
// JSON-RPC errors for their ids: the Go SDK treats a failed POST as a dead
// transport, so a 429 cost the client its whole session.
func TestGoSDKSurvivesSSERefusals(t *testing.T) {
	t.Parallel()
	p := portaltest.Start(t, nil)
	p.SetLatency(500 * time.Millisecond)
	ns := startNetwork(t, p, map[string]string{"BITRIX24_RATE_LIMIT": "2", "BITRIX24_RATE_BURST": "5", "LOG_LEVEL": "warn"})
	cs := testkit.ConnectGoSDK(t, &sdk.SSEClientTransport{Endpoint: ns.url + "/sse", HTTPClient: testkit.Bearer(testToken)}, "2025-11-25", nil)
	const calls = maxCallsPerSSESession + maxQueuedPerSSESession + 20
	var wg sync.WaitGroup
	var refused atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_dialog_users", Arguments: map[string]any{"dialog_id": fmt.Sprint(300000 + i)}})
			if err != nil && strings.Contains(err.Error(), "tool calls running") {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 20 {
		t.Fatalf("%d of %d calls refused, want 20", refused.Load(), calls)
	}
	p.SetLatency(0)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "get_chat", Arguments: map[string]any{"dialog_id": "chat2935"}})
		if err == nil && !res.IsError {
			break
		}
		if err != nil && !strings.Contains(err.Error(), "tool calls running") || time.Now().After(deadline) {
			t.Fatalf("the session after the refusals: %v", err)
		}
	}
}
