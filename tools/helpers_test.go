package tools_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/bitrixtest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

type harness struct {
	portal *bitrixtest.Portal
	client *client.Client
	bx     *bitrix.Client
}

// newHarness serves the tools in-process against a fresh fake portal, with
// mcp-go's output-schema validation on so every structured result is
// checked against the committed schema.
func newHarness(t testing.TB, mod ...func(*tools.Settings, *bitrix.Config)) *harness {
	t.Helper()
	fix, err := bitrixtest.LoadFixture("../testdata/portal.json")
	if err != nil {
		t.Fatal(err)
	}
	p := bitrixtest.New(fix)
	srv := p.Start()
	t.Cleanup(srv.Close)
	st := tools.Settings{BotID: 456, Webhook: true, HasBotToken: true}
	cfg := bitrix.Config{WebhookURL: bitrix.Secret(p.WebhookURL()), BotToken: bitrix.Secret(fix.Bots[0].Token),
		BotClientID: bitrix.Secret(fix.Bots[0].ClientID), RateLimit: 1e6, RateBurst: 1e6, RetryBase: time.Millisecond}
	for _, m := range mod {
		m(&st, &cfg)
	}
	bx, err := bitrix.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewMCPServer("test", "1", server.WithToolCapabilities(false), server.WithOutputSchemaValidation(), server.WithLogging())
	if err := tools.Register(s, &tools.Deps{Client: bx, Settings: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &harness{portal: p, client: c, bx: bx}
}

func (h *harness) call(t testing.TB, name string, args any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := h.client.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// structured decodes a successful result's structured content into T.
func structured[T any](t testing.TB, res *mcp.CallToolResult) T {
	t.Helper()
	if res.IsError {
		t.Fatalf("unexpected tool error: %s", text(res))
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("structured content %s: %v", raw, err)
	}
	return v
}

func wantToolError(t testing.TB, res *mcp.CallToolResult, parts ...string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want an isError result, got %s", text(res))
	}
	for _, p := range parts {
		if !strings.Contains(text(res), p) {
			t.Fatalf("error %q lacks %q", text(res), p)
		}
	}
}
