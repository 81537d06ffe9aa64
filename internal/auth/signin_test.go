package auth_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// goSDKSession signs in with the Go SDK's OAuth client (discovery from the
// 401, registration, consent, PKCE, token) as the person at b's browser.
func goSDKSession(t *testing.T, s *SignInServer, b *testkit.Browser, reg auth.AuthorizationCodeHandlerConfig) *sdk.ClientSession {
	t.Helper()
	h, err := auth.NewAuthorizationCodeHandler(&reg)
	if err != nil {
		t.Fatal(err)
	}
	tr := &sdk.StreamableClientTransport{Endpoint: s.URL + "/mcp", OAuthHandler: h}
	return testkit.ConnectGoSDK(t, tr, "", nil)
}

func dcr(b *testkit.Browser, redirect string) auth.AuthorizationCodeHandlerConfig {
	return auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{redirect}, ClientName: "Go SDK sign-in test", GrantTypes: []string{"authorization_code", "refresh_token"}}},
		RedirectURL: redirect, AuthorizationCodeFetcher: b.Fetcher(redirect), RequestRefreshToken: true,
	}
}

func callTool(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	return res, text.String()
}

func auditLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestGoSDKSignsInWithDynamicRegistration(t *testing.T) {
	p := portaltest.Start(t, nil)
	s := StartSignIn(t, p, nil)
	p.ConsentAs(1271)
	b := testkit.NewBrowser()
	cs := goSDKSession(t, s, b, dcr(b, "http://127.0.0.1:43123/callback"))

	res, text := callTool(t, cs, "list_dialog_users", map[string]any{"dialog_id": "chat2725"})
	if res.IsError {
		t.Fatalf("list_dialog_users as 1271: %s", text)
	}
	if !strings.Contains(text, "Dmitry") {
		t.Fatalf("chat2725's members should include the caller: %s", text)
	}
	if len(b.Pages) != 1 || !strings.Contains(b.Pages[0], "Go SDK sign-in test") || !strings.Contains(b.Pages[0], "chat:write") {
		t.Fatalf("the consent page should name the client and what it may do: %q", b.Pages)
	}
}
