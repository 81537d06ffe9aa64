package bitrix_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// The client's bucket matches the portal's, so a burst far larger than the
// bucket is smoothed out and the portal never refuses.
func TestBurstNeverMeetsRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, burst, calls = 60, 20, 200
		p := startPortal(t, fakeportal.WithRateLimit(rate, burst))
		// One request per call here: this is about the limiter (batching is tested in autobatch_test.go).
		c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst, c.NoAutoBatch = rate, burst, true })
		start := time.Now()
		failed := concurrently(t, c, calls)
		st := p.Stats()
		if failed != 0 || st.Rejected503 != 0 || st.Requests != calls {
			t.Fatalf("errors=%d 503s=%d requests=%d", failed, st.Rejected503, st.Requests)
		}
		// (calls-burst)/rate seconds is the floor the portal's bucket imposes.
		if min := time.Duration(float64(calls-burst) / rate * float64(time.Second)); time.Since(start) < min*9/10 {
			t.Fatalf("finished in %s, faster than the bucket allows (%s): the limiter is not limiting", time.Since(start), min)
		}
	})
}

// A client unaware of other traffic meets 503s; it retries them and slows down.
func TestQueryLimitExceededIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t, fakeportal.WithRateLimit(100, 5))
		c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst, c.MaxAttempts = 1000, 1000, 20 })
		failed := concurrently(t, c, 40)
		if st := p.Stats(); failed != 0 || st.Rejected503 == 0 {
			t.Fatalf("errors=%d 503s=%d: wanted retried 503s and no errors", failed, st.Rejected503)
		}
	})
}

func TestInjected500sAreRetried(t *testing.T) {
	p := startPortal(t, fakeportal.WithSeed(7))
	p.SetFailRate(0.2)
	c := webhookClient(t, p, func(c *bitrix.Config) { c.MaxAttempts = 12 })
	failed := concurrently(t, c, 100)
	st := p.Stats()
	if failed != 0 || st.Injected500 == 0 {
		t.Fatalf("errors=%d injected=%d", failed, st.Injected500)
	}
	if st.Requests != 100+st.Injected500 {
		t.Fatalf("requests %d != 100 + %d retries", st.Requests, st.Injected500)
	}
}

func TestNotRetried(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
	}{{"OVERLOAD_LIMIT", 503}, {"NO_AUTH_FOUND", 401}, {"insufficient_scope", 403}, {"ACCESS_ERROR", 403}, {"WRONG_REQUEST", 400}} {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			fmt.Fprintf(w, `{"error":%q,"error_description":"x"}`, tc.code)
		}))
		c, _ := bitrix.New(fastRetries(bitrix.Config{WebhookURL: bitrix.Secret(srv.URL + "/rest/1/abcdef/")}))
		_, err := c.Call(context.Background(), "scope", nil)
		wantCode(t, err, tc.code)
		if hits.Load() != 1 {
			t.Fatalf("%s was sent %d times", tc.code, hits.Load())
		}
		srv.Close()
	}
}

func TestNonJSONAnswers(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		switch {
		case strings.Contains(r.URL.Path, "html"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(403)
			fmt.Fprint(w, "<html><body>Forbidden by proxy</body></html>")
		case n < 3:
			w.WriteHeader(502) // empty 502 from a proxy: transient
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"result":["im"],"time":{"start":1}}`)
		}
	}))
	defer srv.Close()
	c, _ := bitrix.New(fastRetries(bitrix.Config{WebhookURL: bitrix.Secret(srv.URL + "/rest/1/abcdef/")}))
	if _, err := c.Call(context.Background(), "scope", nil); err != nil {
		t.Fatalf("two empty 502s then success: %v", err)
	}
	_, err := c.Call(context.Background(), "html", nil)
	e := wantCode(t, err, bitrix.CodeBadResponse)
	if e.HTTPStatus != 403 || !strings.Contains(e.Error(), "text/html") {
		t.Fatalf("%v", e)
	}
}

func TestExactlyOneRefreshForConcurrentExpiry(t *testing.T) {
	p := startPortal(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tokens.json")
	c := oauthClient(t, p, func(c *bitrix.Config) { c.OAuth.TokenFile = tokenFile })
	ctx := context.Background()
	if _, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
		t.Fatal(err)
	}
	p.ExpireToken()
	failed := concurrently(t, c, 50)
	if st := p.Stats(); failed != 0 || st.Refreshes != 1 || c.Refreshes() != 1 {
		t.Fatalf("errors=%d portal refreshes=%d client refreshes=%d", failed, st.Refreshes, c.Refreshes())
	}
	info, err := os.Stat(tokenFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", err, info)
	}
	access, refresh := p.Tokens()
	raw, _ := os.ReadFile(tokenFile)
	if !strings.Contains(string(raw), access) || !strings.Contains(string(raw), refresh) {
		t.Fatal("token file does not hold the rotated pair")
	}

	// A restart with the original configuration uses the file's newer pair:
	// the configured refresh token is dead now, so only the file can work.
	fix := p.Fixture()
	restarted, err := bitrix.New(fastRetries(bitrix.Config{OAuth: &bitrix.OAuthConfig{
		ClientEndpoint: p.ClientEndpoint(), AccessToken: bitrix.Secret(fix.OAuth.AccessToken),
		RefreshToken: bitrix.Secret(fix.OAuth.RefreshToken), ClientID: fix.OAuth.ClientID,
		ClientSecret: bitrix.Secret(fix.OAuth.ClientSecret), TokenURL: p.TokenURL(), TokenFile: tokenFile}, HTTPClient: p.HTTPClient()}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
		t.Fatal(err)
	}
	if restarted.Refreshes() != 0 {
		t.Fatal("restart should use the saved access token as it is")
	}
}

func TestInvalidGrantSaysReauthorize(t *testing.T) {
	p := startPortal(t)
	c := oauthClient(t, p, func(c *bitrix.Config) { c.OAuth.RefreshToken = "stale-refresh-token" })
	p.ExpireToken()
	_, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"})
	e := wantCode(t, err, bitrix.CodeInvalidGrant)
	if !strings.Contains(e.Error(), "re-authorize") || !bitrix.IsAuth(err) {
		t.Fatal(e)
	}
	assertNoSecret(t, err.Error(), append(p.Secrets(), "stale-refresh-token"))
}

func TestCancellationStopsRetryLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t)
		p.SetFailRate(1)
		c := webhookClient(t, p, func(c *bitrix.Config) {
			c.RetryBase, c.MaxAttempts, c.MaxRetryTime = 500*time.Millisecond, 100, time.Minute
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"})
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("want context.Canceled, got %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("retry loop kept going after cancellation")
		}
	})
}

func TestOperationTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t)
		c := webhookClient(t, p)
		ctx := context.Background()
		// Reset within the retry budget: the call waits for it and succeeds.
		p.PauseMethod(bitrix.MethodDialogUsersList, time.Now().Add(1200*time.Millisecond))
		start := time.Now()
		if _, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 200*time.Millisecond {
			t.Fatalf("did not wait for the reset (%s)", waited)
		}
		// Only the named method is paused.
		p.PauseMethod(bitrix.MethodChatUserAdd, time.Now().Add(time.Hour))
		if _, err := c.BotChat(ctx, 456, "chat5"); err != nil {
			t.Fatal(err)
		}
		err := c.ChatUserAdd(ctx, 2935, []int{1291}, true)
		e := wantCode(t, err, bitrix.CodeOperationTimeLimit)
		if !strings.Contains(e.Error(), "resets in") || !bitrix.IsRateLimited(err) {
			t.Fatal(e)
		}
		before := p.Stats().Requests
		if err := c.ChatUserAdd(ctx, 2935, []int{1291}, true); err == nil {
			t.Fatal("paused method ran")
		}
		if p.Stats().Requests != before {
			t.Fatal("a known pause should fail without a request")
		}
	})
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	p := startPortal(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secrets := p.Secrets()
	var errs []error
	wc := webhookClient(t, p, func(c *bitrix.Config) { c.Logger = log })
	_, err := wc.BotChatUsers(context.Background(), 457, "chat2725", 5)
	errs = append(errs, err)
	// A dead portal: net/http's error quotes the URL with the webhook code.
	dead, _ := bitrix.New(fastRetries(bitrix.Config{Logger: log, MaxAttempts: 1,
		WebhookURL: bitrix.Secret("http://127.0.0.1:1/rest/1/" + p.Fixture().Webhook.Code + "/")}))
	_, err = dead.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat1"})
	errs = append(errs, err)
	// Bad webhook code, and OAuth failures.
	p2 := startPortal(t)
	bad, _ := bitrix.New(fastRetries(bitrix.Config{WebhookURL: bitrix.Secret(strings.Replace(p2.WebhookURL(), "demo0webhook0code", "wrong0code0here", 1)), Logger: log, HTTPClient: p2.HTTPClient()}))
	_, err = bad.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat1"})
	errs = append(errs, err)
	secrets = append(secrets, "wrong0code0here")
	oc := oauthClient(t, p2, func(c *bitrix.Config) { c.Logger = log; c.OAuth.ClientSecret = "wrong-client-secret" })
	p2.ExpireToken()
	_, err = oc.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat1"})
	errs = append(errs, err)
	secrets = append(secrets, "wrong-client-secret")
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		assertNoSecret(t, err.Error(), secrets)
		assertNoSecret(t, fmt.Sprintf("%v %+v %#v", err, err, err), secrets)
	}
	assertNoSecret(t, logs.String(), secrets)
	assertNoSecret(t, fmt.Sprintf("%v %+v %s", wc, oc, wc.String()), secrets)
	cfg := bitrix.Config{WebhookURL: bitrix.Secret(p.WebhookURL()), BotToken: "my_bot_token", OAuth: &bitrix.OAuthConfig{AccessToken: "demo-access-token"}}
	assertNoSecret(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), secrets)
	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("cfg", "cfg", cfg)
	assertNoSecret(t, js.String(), secrets)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  bitrix.Config
		want string
	}{
		{bitrix.Config{}, "no credentials"},
		{bitrix.Config{WebhookURL: "portal.example/rest/1/secretcode"}, "absolute"},
		{bitrix.Config{WebhookURL: "https://portal.example/api/1/secretcode/"}, "/rest/USER_ID/CODE/"},
		{bitrix.Config{WebhookURL: "https://p.example/rest/1/secretcode/", OAuth: &bitrix.OAuthConfig{}}, "not both"},
		{bitrix.Config{OAuth: &bitrix.OAuthConfig{AccessToken: "tok12345"}}, "client endpoint"},
	} {
		_, err := bitrix.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: want %q", err, tc.want)
		}
		assertNoSecret(t, err.Error(), []string{"secretcode", "tok12345"})
	}
}
