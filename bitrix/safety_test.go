package bitrix_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// A portal that echoes the request in its errors must not leak the access
// token or the bot token through per-command batch errors.
func TestBatchErrorsAreRedacted(t *testing.T) {
	p := startPortal(t)
	p.EchoParams(true)
	for name, c := range map[string]*bitrix.Client{"webhook": webhookClient(t, p), "oauth": oauthClient(t, p)} {
		bot := bitrix.Params{"botId": 457, "dialogId": "chat5"}
		if name == "webhook" { // a webhook sends the bot token it holds
			bot["botToken"] = p.Fixture().Bots[0].Token
		}
		res, err := c.Batch(context.Background(), []bitrix.BatchCommand{
			{Key: "denied", Method: bitrix.MethodDialogUsersList, Params: bitrix.Params{"DIALOG_ID": "chat3000"}},
			{Key: "bot", Method: bitrix.MethodBotV2ChatGet, Params: bot},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Errors) != 2 {
			t.Fatalf("%s: want two failed commands, got %v", name, res.Errors)
		}
		for key, e := range res.Errors {
			if !strings.Contains(e.Description, "(request: ") {
				t.Fatalf("%s %s: the portal did not echo: %s", name, key, e.Description)
			}
			assertNoSecret(t, e.Error(), p.Secrets())
		}
		// The bot methods through the client, batched or not.
		_, err = c.BotChat(context.Background(), 457, "chat5")
		assertNoSecret(t, fmt.Sprint(err), p.Secrets())
	}
}

// An OPERATION_TIME_LIMIT reset far in the future is not believed past the
// portal's 10-minute window; then the method is probed again.
func TestOperatingPauseIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t)
		c := webhookClient(t, p)
		ctx := context.Background()
		p.PauseMethod(bitrix.MethodDialogUsersList, time.Now().Add(240*time.Hour))
		_, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"})
		if e := wantCode(t, err, bitrix.CodeOperationTimeLimit); !strings.Contains(e.Description, "resets in 10m0s") {
			t.Fatalf("the pause is not capped: %s", e.Description)
		}
		before := p.Stats().Requests
		if _, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"}); err == nil || p.Stats().Requests != before {
			t.Fatal("within the window the known pause must fail without a request")
		}
		time.Sleep(10*time.Minute + time.Second)
		c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"})
		if p.Stats().Requests != before+1 {
			t.Fatal("after the window the method must be probed again")
		}
	})
}

// A portal (or a proxy) that answers more rows than asked for does not get
// them through: pages are cut to their limit.
func TestOversizedPagesAreTrimmed(t *testing.T) {
	t.Parallel()
	rows := make([]map[string]any, 60001)
	for i := range rows {
		rows[i] = map[string]any{"id": i + 1, "name": fmt.Sprint("user ", i+1), "active": true, "type": "user"}
	}
	body, _ := json.Marshal(map[string]any{"result": rows, "total": len(rows), "next": len(rows)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	defer srv.Close()
	c, err := bitrix.New(fastRetries(bitrix.Config{WebhookURL: bitrix.Secret(srv.URL + "/rest/1/abcdefgh/")}))
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat1", Limit: 50, Offset: 100})
	if err != nil || len(page.Users) != 50 || page.Next == nil || *page.Next != 150 {
		t.Fatalf("page: %v %+v", err, page)
	}
	users, err := c.BotChatUsers(context.Background(), 456, "chat1", 200)
	if err != nil || len(users) != 200 {
		t.Fatalf("bot users: %v %d", err, len(users))
	}
}

// The webhook code and OAuth tokens are passwords: plain http only to this machine.
func TestPlainHTTPEndpointsRefused(t *testing.T) {
	for _, cfg := range []bitrix.Config{
		{WebhookURL: "http://portal.example.com/rest/1/abcdefgh/"},
		{OAuth: &bitrix.OAuthConfig{ClientEndpoint: "http://portal.example.com/rest/", AccessToken: "a"}},
		{OAuth: &bitrix.OAuthConfig{ClientEndpoint: "https://portal.example.com/rest/", AccessToken: "a", TokenURL: "http://oauth.example.com/oauth/token/"}},
	} {
		_, err := bitrix.New(cfg)
		if err == nil || !strings.Contains(err.Error(), "use https://") || strings.Contains(err.Error(), "abcdefgh") {
			t.Errorf("%+v: want a refusal naming https, got %v", cfg, err)
		}
	}
	for _, hook := range []string{"http://127.0.0.1:1/rest/1/abcdefgh/", "http://localhost:8/rest/1/abcdefgh/", "http://[::1]:8/rest/1/abcdefgh/", "https://portal.example.com/rest/1/abcdefgh/"} {
		if _, err := bitrix.New(bitrix.Config{WebhookURL: bitrix.Secret(hook)}); err != nil {
			t.Errorf("%s: %v", hook, err)
		}
	}
}

// A caller that gives up while the token endpoint is slow does not abort the
// refresh: the rotated pair is kept, and the next call works.
func TestRefreshSurvivesCancellation(t *testing.T) {
	p := startPortal(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	c := oauthClient(t, p, func(c *bitrix.Config) { c.OAuth.TokenFile = file })
	p.ExpireToken()
	p.SetTokenLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	if _, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
		t.Fatalf("the call after a cancelled refresh: %v", err)
	}
	if n := p.Stats().Refreshes; n != 1 {
		t.Fatalf("%d refreshes", n)
	}
}

// Two clients (two desktop apps) sharing one token file: every expiry costs
// exactly one refresh, and neither burns the other's pair.
func TestClientsSharingATokenFile(t *testing.T) {
	p := startPortal(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	a := oauthClient(t, p, func(c *bitrix.Config) { c.OAuth.TokenFile = file })
	b := oauthClient(t, p, func(c *bitrix.Config) { c.OAuth.TokenFile = file })
	for round := 0; round < 5; round++ {
		p.ExpireToken()
		var wg sync.WaitGroup
		for i, c := range []*bitrix.Client{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
					t.Errorf("round %d, call %d: %v", round, i, err)
				}
			}()
		}
		wg.Wait()
	}
	if n := p.Stats().Refreshes; n != 5 {
		t.Fatalf("%d refreshes for 5 expiries", n)
	}
}

func TestTokenFileReadableByOthersIsRefused(t *testing.T) {
	p := startPortal(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(file, []byte(`{"access_token":"a1234","refresh_token":"r1234"}`), 0o644)
	_, err := bitrix.New(bitrix.Config{OAuth: &bitrix.OAuthConfig{ClientEndpoint: p.ClientEndpoint(), TokenFile: file}})
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+file) {
		t.Fatalf("want a refusal naming chmod 600, got %v", err)
	}
}

// A transport failure says how many requests were really tried.
func TestTransportErrorCountsAttempts(t *testing.T) {
	c, _ := bitrix.New(fastRetries(bitrix.Config{WebhookURL: "http://127.0.0.1:1/rest/1/abcdefgh/", MaxAttempts: 3}))
	_, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat1"})
	var te *bitrix.TransportError
	if !errors.As(err, &te) || te.Attempts != 3 {
		t.Fatalf("want 3 attempts, got %v", err)
	}
	c, _ = bitrix.New(fastRetries(bitrix.Config{WebhookURL: "http://127.0.0.1:1/rest/1/abcdefgh/", MaxAttempts: 1}))
	_, err = c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat1"})
	if !errors.As(err, &te) || te.Attempts != 1 {
		t.Fatalf("want 1 attempt, got %v", err)
	}
}
