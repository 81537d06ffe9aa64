package transport

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// scrape reads /metrics with the bearer token and parses it as Prometheus
// does.
func scrape(t *testing.T, ns *netServer) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", ns.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %v %v", err, resp)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// value sums a family's samples whose labels include want (a histogram
// counts its observations).
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	total := 0.0
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// A scripted session moves every family by what it did: calls of every tool,
// a refusal, a portal error, waits for the rate limit, a refusal by the
// portal's limit, a token refresh. /metrics needs the token like the rest.
func TestMetricsAfterASession(t *testing.T) {
	t.Parallel()
	// The portal holds 3; our side is told 10, so a burst meets its limit.
	p := portaltest.Start(t, nil, fakeportal.WithRateLimit(4, 3))
	f := p.Fixture()
	ns := startNetwork(t, p, map[string]string{
		"BITRIX24_CLIENT_ENDPOINT": p.ClientEndpoint(), "BITRIX24_ACCESS_TOKEN": f.OAuth.AccessToken,
		"BITRIX24_REFRESH_TOKEN": f.OAuth.RefreshToken, "BITRIX24_CLIENT_ID": f.OAuth.ClientID,
		"BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret, "BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(),
		"BITRIX24_TOKEN_FILE": t.TempDir() + "/tokens.json", "BITRIX24_BOT_ID": "456", "BITRIX24_ENABLE_REMOVE": "true",
		"BITRIX24_RATE_LIMIT": "4", "BITRIX24_RATE_BURST": "10",
	})
	if resp := request(t, "GET", ns.url+"/metrics", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d", resp.StatusCode)
	}
	c := connect(t, ns, "http", "2025-11-25", testToken)
	before := scrape(t, ns)
	call := callWith(t, c)
	everyTool := map[string]map[string]any{
		"find_chats":        {"query": "Sales"},
		"find_users":        {"query": "Peterson"},
		"get_chat":          {"dialog_id": "chat2935"},
		"list_dialog_users": {"dialog_id": "chat2935"},
		"add_chat_users":    {"chat_id": 2725, "user_ids": []int{1019}, "dry_run": true},
		"bot_chat_members":  {"chat_id": 2725},
		"get_bot_chat":      {"dialog_id": "chat5"},
		"remove_chat_users": {"chat_id": 4000, "user_ids": []int{1403}, "dry_run": true},
	}
	for name, args := range everyTool {
		if res := call(name, args); res.IsError {
			t.Fatalf("%s: %s", name, testkit.Text(res))
		}
	}
	call("list_dialog_users", map[string]any{"dialog_id": "chat1", "limit": 0}) // refused
	call("get_bot_chat", map[string]any{"dialog_id": "chat3000"})               // ACCESS_DENIED
	p.ExpireToken()                                                             // one refresh
	call("get_chat", map[string]any{"dialog_id": "chat2935"})
	var wg sync.WaitGroup // a burst: waits on our side, and the portal's limit
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call("get_chat", map[string]any{"dialog_id": fmt.Sprintf("chat%d", 2935+i%2*(2725-2935))})
		}()
	}
	wg.Wait()
	after := scrape(t, ns)

	delta := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - max(0, value(before, name, labels))
	}
	for name := range everyTool {
		if d := delta("bitrix24_mcp_tool_calls_total", map[string]string{"tool": name, "outcome": "ok"}); d < 1 {
			t.Errorf("%s ok calls moved by %v", name, d)
		}
	}
	for _, tc := range []struct {
		family string
		labels map[string]string
		want   float64 // at least
		exact  bool
	}{
		{"bitrix24_mcp_tool_calls_total", map[string]string{"tool": "list_dialog_users", "outcome": "invalid_arguments"}, 1, true},
		{"bitrix24_mcp_tool_calls_total", map[string]string{"tool": "get_bot_chat", "outcome": "tool_error", "code": "ACCESS_DENIED"}, 1, true},
		{"bitrix24_mcp_tool_calls_total", map[string]string{"tool": "get_chat", "outcome": "ok"}, 18, true},
		{"bitrix24_mcp_tool_call_duration_seconds", map[string]string{"tool": "get_chat"}, 18, true},
		{"bitrix24_mcp_portal_requests_total", map[string]string{"method": "imbot.v2.Chat.get", "outcome": "ACCESS_DENIED"}, 1, true},
		{"bitrix24_mcp_portal_requests_total", map[string]string{"outcome": "expired_token"}, 1, true},
		// The burst's reads that queue behind the limit ride in batches.
		{"bitrix24_mcp_portal_requests_total", map[string]string{"method": "im.dialog.get", "outcome": "ok"}, 1, false},
		{"bitrix24_mcp_portal_requests_total", map[string]string{"method": "batch", "outcome": "ok"}, 1, false},
		{"bitrix24_mcp_portal_request_duration_seconds", map[string]string{"method": "im.dialog.get"}, 1, false},
		{"bitrix24_mcp_rate_limit_wait_seconds", nil, 10, false},
		{"bitrix24_mcp_portal_limits_total", map[string]string{"code": "QUERY_LIMIT_EXCEEDED"}, 1, false},
		{"bitrix24_mcp_oauth_refreshes_total", map[string]string{"outcome": "ok"}, 1, true},
		{"bitrix24_mcp_oauth_refreshes_total", map[string]string{"outcome": "failed"}, 0, true},
	} {
		d := delta(tc.family, tc.labels)
		if d < tc.want || tc.exact && d != tc.want {
			t.Errorf("%s%v moved by %v, want %v", tc.family, tc.labels, d, tc.want)
		}
	}
	if n := value(after, "bitrix24_mcp_sessions", nil); n < 1 {
		t.Errorf("sessions: %v", n)
	}
	for _, family := range []string{"bitrix24_mcp_sse_calls_in_flight", "bitrix24_mcp_state_store_errors_total", "bitrix24_mcp_rate_limit_bucket_level", "go_goroutines"} {
		if after[family] == nil {
			t.Errorf("%s is missing", family)
		}
	}
	if value(after, "bitrix24_mcp_build_info", map[string]string{"version": "test"}) != 1 {
		t.Error("build_info")
	}
	// No label carries a user id, a chat id or a secret.
	for name, f := range after {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "2935") || strings.Contains(l.GetValue(), "1019") {
					t.Errorf("%s has the label %s=%s", name, l.GetName(), l.GetValue())
				}
				portaltest.AssertNoSecret(t, p, "a metric label", l.GetValue())
			}
		}
	}
	t.Logf("moved: tool calls %v, portal requests %v (QUERY_LIMIT_EXCEEDED %v), rate-limit waits %v (%.2f s in all), refreshes %v",
		delta("bitrix24_mcp_tool_calls_total", nil), delta("bitrix24_mcp_portal_requests_total", nil),
		delta("bitrix24_mcp_portal_limits_total", map[string]string{"code": "QUERY_LIMIT_EXCEEDED"}),
		delta("bitrix24_mcp_rate_limit_wait_seconds", nil), after["bitrix24_mcp_rate_limit_wait_seconds"].Metric[0].Histogram.GetSampleSum(),
		delta("bitrix24_mcp_oauth_refreshes_total", nil))
}
