package bitrix_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/bitrixtest"
)

const fixturePath = "../testdata/portal.json"

func startPortal(t testing.TB, opts ...bitrixtest.Option) (*bitrixtest.Portal, *httptest.Server) {
	t.Helper()
	fix, err := bitrixtest.LoadFixture(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	p := bitrixtest.New(fix, opts...)
	srv := p.Start()
	t.Cleanup(srv.Close)
	return p, srv
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

func webhookClient(t testing.TB, p *bitrixtest.Portal, mod ...func(*bitrix.Config)) *bitrix.Client {
	t.Helper()
	fix := p.Fixture()
	cfg := fastRetries(bitrix.Config{
		WebhookURL:  bitrix.Secret(p.WebhookURL()),
		BotToken:    bitrix.Secret(fix.Bots[0].Token),
		BotClientID: bitrix.Secret(fix.Bots[0].ClientID),
		RateLimit:   1000, RateBurst: 1000,
	})
	for _, m := range mod {
		m(&cfg)
	}
	c, err := bitrix.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func oauthClient(t testing.TB, p *bitrixtest.Portal, mod ...func(*bitrix.Config)) *bitrix.Client {
	t.Helper()
	fix := p.Fixture()
	access, refresh := p.Tokens()
	cfg := fastRetries(bitrix.Config{
		OAuth: &bitrix.OAuthConfig{
			ClientEndpoint: p.ClientEndpoint(), AccessToken: bitrix.Secret(access), RefreshToken: bitrix.Secret(refresh),
			ClientID: fix.OAuth.ClientID, ClientSecret: bitrix.Secret(fix.OAuth.ClientSecret), TokenURL: p.TokenURL(),
		},
		RateLimit: 1000, RateBurst: 1000,
	})
	for _, m := range mod {
		m(&cfg)
	}
	c, err := bitrix.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
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

// secretsOf lists every secret string in the fixture, to search errors and logs for.
func secretsOf(p *bitrixtest.Portal) []string {
	f := p.Fixture()
	access, refresh := p.Tokens()
	out := []string{f.Webhook.Code, f.OAuth.ClientSecret, f.OAuth.AccessToken, f.OAuth.RefreshToken, access, refresh}
	for _, b := range f.Bots {
		out = append(out, b.Token, b.ClientID)
	}
	return out
}

func assertNoSecret(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("secret %q leaked into: %s", s[:3]+"…", text)
		}
	}
}
