package bitrix_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

// startPortal builds a fake portal reached in-process (see webhookClient),
// so that tests can run inside a testing/synctest bubble.
func startPortal(t testing.TB, opts ...fakeportal.Option) *fakeportal.Portal {
	t.Helper()
	return portaltest.InProcess(t, nil, opts...)
}

// fast retries keep tests quick; the policy is the same.
func fastRetries(c bitrix.Config) bitrix.Config {
	c.RetryBase = 2 * time.Millisecond
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	c.MaxRetryTime = 10 * time.Second
	return c
}

func webhookClient(t testing.TB, p *fakeportal.Portal, mod ...func(*bitrix.Config)) *bitrix.Client {
	t.Helper()
	fix := p.Fixture()
	cfg := fastRetries(bitrix.Config{
		WebhookURL:  bitrix.Secret(p.WebhookURL()),
		BotToken:    bitrix.Secret(fix.Bots[0].Token),
		BotClientID: bitrix.Secret(fix.Bots[0].ClientID),
		RateLimit:   1000, RateBurst: 1000,
		HTTPClient: p.HTTPClient(),
	})
	return newClient(t, cfg, mod)
}

func oauthClient(t testing.TB, p *fakeportal.Portal, mod ...func(*bitrix.Config)) *bitrix.Client {
	t.Helper()
	fix := p.Fixture()
	access, refresh := p.Tokens()
	cfg := fastRetries(bitrix.Config{
		OAuth: &bitrix.OAuthConfig{
			ClientEndpoint: p.ClientEndpoint(), AccessToken: bitrix.Secret(access), RefreshToken: bitrix.Secret(refresh),
			ClientID: fix.OAuth.ClientID, ClientSecret: bitrix.Secret(fix.OAuth.ClientSecret), TokenURL: p.TokenURL(),
		},
		RateLimit: 1000, RateBurst: 1000, HTTPClient: p.HTTPClient(),
	})
	return newClient(t, cfg, mod)
}

func newClient(t testing.TB, cfg bitrix.Config, mod []func(*bitrix.Config)) *bitrix.Client {
	t.Helper()
	for _, m := range mod {
		m(&cfg)
	}
	c, err := bitrix.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// concurrently runs n list calls at once and counts the failures.
func concurrently(t *testing.T, c *bitrix.Client, n int) int64 {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		}()
	}
	wg.Wait()
	return failed.Load()
}

func wantCode(t *testing.T, err error, code string) *bitrix.Error {
	t.Helper()
	e, ok := bitrix.AsError(err)
	if !ok {
		t.Fatalf("want bitrix error %s, got %v", code, err)
	}
	if e.Code != code {
		t.Fatalf("want code %s, got %s (%v)", code, e.Code, err)
	}
	return e
}

func assertNoSecret(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("secret %q leaked into: %s", s[:3]+"…", text)
		}
	}
}
