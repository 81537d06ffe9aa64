package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// Three replicas behind one public URL share sign-ins through a real
// redis-server: a registration, a code and a refresh token from one work
// at the others, and twenty calls of one person spread over the three
// across a Bitrix24 expiry refresh that person's pair once.
func TestReplicasShareSignIns(t *testing.T) {
	r := testkit.StartRedis(t)
	p := portaltest.Start(t, nil)
	shared := map[string]string{"BITRIX24_STATE_URL": r.URL, "MCP_STATE_KEY": testkit.NewKey()}
	s1 := StartSignIn(t, p, shared)
	shared["MCP_PUBLIC_URL"] = s1.URL
	replicas := []*SignInServer{s1, StartSignIn(t, p, shared), StartSignIn(t, p, shared)}
	p.ConsentAs(1271)
	tk := signInByHand(t, s1, "")

	// The refresh token rotates at another replica.
	status, out := postForm(t, replicas[2].Base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.refresh}, "client_id": {tk.client}})
	if status != http.StatusOK {
		t.Fatalf("refreshing at replica 3: HTTP %d %v", status, out)
	}
	access := out["access_token"].(string)

	var sessions []*sdk.ClientSession
	for _, s := range replicas {
		cs := testkit.ConnectGoSDK(t, &sdk.StreamableClientTransport{Endpoint: s.Base + "/mcp", HTTPClient: testkit.Bearer(access)}, "", nil)
		if res, text := callTool(t, cs, "get_chat", map[string]any{"dialog_id": "chat2725"}); res.IsError {
			t.Fatalf("%s: %s", s.Base, text)
		}
		sessions = append(sessions, cs)
	}
	before := p.UserRefreshes(1271)
	p.ExpireUserToken(1271)
	concurrently(t, 21, func(i int) {
		if res, text := callTool(t, sessions[i%3], "get_chat", map[string]any{"dialog_id": "chat2725"}); res.IsError {
			t.Errorf("a call at replica %d across the expiry: %s", i%3+1, text)
		}
	})
	if n := p.UserRefreshes(1271) - before; n != 1 {
		t.Errorf("%d refreshes of the person's pair across three replicas, want 1", n)
	}

	// Any replica lists the sign-in (the store's keys, by SCAN).
	if list, err := replicas[1].App.Auth.Signins(context.Background()); err != nil || len(list) != 1 || list[0].UserID != 1271 {
		t.Errorf("the sign-ins a replica lists: %v %v", list, err)
	}

	// Signing out at one replica ends the token at the others.
	if resp := send(t, replicas[1], http.MethodPost, "/signout", access, ""); resp.StatusCode != 200 {
		t.Fatalf("signout: HTTP %d", resp.StatusCode)
	}
	if resp := rpc(t, replicas[1], access, initialize); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after signing out, the token at the replica that did it: HTTP %d", resp.StatusCode)
	}
}
