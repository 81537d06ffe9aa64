//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// serveReplicas starts n server processes over stateless Streamable HTTP
// against the portal, sharing state (when not "") as BITRIX24_STATE_URL.
func serveReplicas(t *testing.T, p *fakeportal.Portal, n int, state string, extra ...map[string]string) []string {
	t.Helper()
	var bases []string
	for range n {
		addr := freeAddr(t)
		env := testkit.PortalEnv(p, map[string]string{"LOG_LEVEL": "warn", "MCP_ADDR": addr, "BITRIX24_STATE_URL": state})
		for _, e := range extra {
			for k, v := range e {
				env[k] = v
			}
		}
		cmd := exec.Command(binPath, "--transport", "http", "--stateless")
		cmd.Env = testkit.EnvList(env)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitHealthy(t, "http://"+addr)
		bases = append(bases, "http://"+addr)
	}
	return bases
}

// callAll sends calls tools/call requests at once, round-robin over the
// servers; it returns the tool errors (with one example) and the time taken.
func callAll(t *testing.T, bases []string, calls int) (failed int64, example string, took time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var n atomic.Int64
	var once sync.Once
	client := &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 150, MaxConnsPerHost: 150}}
	start := time.Now()
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"%d","fields":"ids"}}}`, i, 200000+i%4000)
			req, _ := http.NewRequest("POST", bases[i%len(bases)]+"/mcp", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			resp, err := client.Do(req)
			var text string
			if err == nil {
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				text = string(raw)
			}
			if err != nil || !strings.Contains(text, `"user_ids"`) || strings.Contains(text, `"isError":true`) {
				n.Add(1)
				once.Do(func() { example = fmt.Sprint(err, " ", text) })
			}
		}()
	}
	wg.Wait()
	return n.Load(), example, time.Since(start)
}

// Three server processes sharing Redis, 600 concurrent calls spread across
// them, on a portal at 2/s and 50: no QUERY_LIMIT_EXCEEDED, and about the
// time one process takes for the same work.
func TestThreeProcessesShareTheLimit(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	const calls = 600
	one := portaltest.Start(t, nil, fakeportal.WithRateLimit(bitrix.DefaultRateLimit, bitrix.DefaultRateBurst))
	p := portaltest.Start(t, nil, fakeportal.WithRateLimit(bitrix.DefaultRateLimit, bitrix.DefaultRateBurst))
	single, three := serveReplicas(t, one, 1, ""), serveReplicas(t, p, 3, redis.URL)
	// Both runs at once, each against its own portal: they spend their time
	// waiting on the portals' 2/s, so they hardly compete.
	var alone time.Duration
	var aloneFailed int64
	var aloneExample string
	done := make(chan struct{})
	go func() { aloneFailed, aloneExample, alone = callAll(t, single, calls); close(done) }()
	failed, example, shared := callAll(t, three, calls)
	<-done
	if aloneFailed != 0 || one.Stats().Rejected503 != 0 {
		t.Fatalf("one process: %d failed (%s), %d QUERY_LIMIT_EXCEEDED", aloneFailed, aloneExample, one.Stats().Rejected503)
	}
	st := p.Stats()
	t.Logf("%d calls: one process %s (%d requests); three processes sharing Redis %s (%d requests, %d QUERY_LIMIT_EXCEEDED)",
		calls, alone.Round(time.Millisecond), one.Stats().Requests, shared.Round(time.Millisecond), st.Requests, st.Rejected503)
	if failed != 0 || st.Rejected503 != 0 {
		t.Fatalf("three processes: %d failed (%s), %d QUERY_LIMIT_EXCEEDED", failed, example, st.Rejected503)
	}
	if shared > alone*12/10+time.Second {
		t.Fatalf("three processes took %s, one %s: more than 20%% slower", shared, alone)
	}
}

// OAuth across three server processes sharing Redis: the access token
// expires during 3 x 20 concurrent calls; one process refreshes, the others
// use the new pair, and no call fails.
func TestThreeProcessesShareTheOAuthPair(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	bases := serveReplicas(t, p, 3, redis.URL, map[string]string{
		"BITRIX24_WEBHOOK_URL": "", "BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f.OAuth.ClientID,
		"BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret, "BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(),
		"BITRIX24_TOKEN_FILE": filepath.Join(t.TempDir(), "unused.json"),
	})
	if failed, example, _ := callAll(t, bases, 3); failed != 0 {
		t.Fatalf("before the expiry: %s", example)
	}
	p.ExpireToken()
	failed, example, _ := callAll(t, bases, 60)
	if n := p.Stats().Refreshes; n != 1 || failed != 0 {
		t.Fatalf("three processes, 60 calls after expiry: %d refreshes, %d failed (%s)", n, failed, example)
	}
}
