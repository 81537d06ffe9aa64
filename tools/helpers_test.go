package tools_test

import (
	"context"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

type harness struct {
	portal *fakeportal.Portal
	client *client.Client
	app    *app.App
}

// newHarness serves the tools in-process against a fresh fake portal with
// an unlimited bucket, assembled as the binary assembles them.
func newHarness(t testing.TB, mod ...func(*app.Config)) *harness {
	t.Helper()
	return newHarnessOn(t, nil, mod...)
}

// newHarnessOn is newHarness on a portal of the fixture given (nil: the demo's).
func newHarnessOn(t testing.TB, fix *fakeportal.Fixture, mod ...func(*app.Config)) *harness {
	t.Helper()
	p := portaltest.Start(t, fix)
	cfg := testkit.Config(t, testkit.PortalEnv(p, map[string]string{"BITRIX24_RATE_LIMIT": "10000", "BITRIX24_RATE_BURST": "100000"}))
	cfg.Bitrix.RetryBase = 1e6 // 1 ms: fast retries, same policy
	for _, m := range mod {
		m(cfg)
	}
	a := testkit.Assemble(t, cfg, app.Options{})
	return &harness{portal: p, client: testkit.InProcess(t, a, mcp.ProtocolVersion20251125), app: a}
}

// connect opens another client to the same server: at another protocol
// revision, or with an elicitation handler.
func (h *harness) connect(t testing.TB, protocol string, opts ...client.ClientOption) *client.Client {
	t.Helper()
	return testkit.InProcess(t, h.app, protocol, opts...)
}

// answering is a client's elicitation handler that answers every question
// with confirm = yes, or declines, and records what it was asked.
type answering struct {
	yes   bool
	asked []string
}

func (a *answering) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	a.asked = append(a.asked, req.Params.Message)
	if !a.yes {
		return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept,
		Content: map[string]any{"confirm": true}}}, nil
}

func (h *harness) call(t testing.TB, name string, args any) *mcp.CallToolResult {
	t.Helper()
	return testkit.Call(t, h.client, name, args)
}
