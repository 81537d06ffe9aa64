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
				ns := startNetwork(t, p, map[string]string{"BITRIX24_ENABLE_REMOVE": "true", "LOG_LEVEL": "warn"}, mode.args...)
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
		ns := startNetwork(t, portaltest.Start(t, nil), nil)
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
