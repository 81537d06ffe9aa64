//go:build e2e

package e2e

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// BenchmarkMetricsOverhead: 500 concurrent list_dialog_users calls through
// the MCP server, with metrics on and off, alternating three times each in
// one run; the median with metrics may be at most 3% longer. Against the
// real limits (2/s, 50) the burst is bound by the bucket; without a limit
// it is bound by CPU, which shows the metrics' own cost.
func BenchmarkMetricsOverhead(b *testing.B) {
	if b.N > 1 {
		b.Skip("runs once: use -benchtime 1x")
	}
	for _, limits := range []struct {
		label       string
		rate, burst string
		portal      []fakeportal.Option
		judged      bool
	}{
		{"real limits (2/s, 50)", "2", "50", []fakeportal.Option{fakeportal.WithRateLimit(2, 50)}, true},
		{"no limit (CPU-bound)", "100000", "100000", nil, false},
	} {
		var on, off []time.Duration
		for round := range 6 {
			withMetrics := round%2 == 1
			took := burst(b, 500, limits.rate, limits.burst, limits.portal, withMetrics)
			if withMetrics {
				on = append(on, took)
			} else {
				off = append(off, took)
			}
		}
		mOn, mOff := medianOf(on), medianOf(off)
		ratio := float64(mOn) / float64(mOff)
		fmt.Printf("| 500-call burst, %s | metrics on %s | off %s | %+.1f%% |\n", limits.label, mOn.Round(time.Millisecond), mOff.Round(time.Millisecond), 100*(ratio-1))
		if limits.judged && ratio > 1.03 {
			b.Errorf("%s: metrics on %s vs off %s (%.1f%% longer, target <= 3%%)", limits.label, mOn, mOff, 100*(ratio-1))
		}
	}
}

func burst(b *testing.B, n int, rate, burstSize string, portal []fakeportal.Option, withMetrics bool) time.Duration {
	p := portaltest.Start(b, nil, portal...)
	cfg := testkit.Config(b, testkit.PortalEnv(p, map[string]string{"BITRIX24_RATE_LIMIT": rate, "BITRIX24_RATE_BURST": burstSize, "LOG_LEVEL": "error"}))
	o := app.Options{Logger: slog.New(slog.DiscardHandler)}
	if withMetrics {
		o.Metrics = telemetry.ForServer("bench")
	}
	a, err := app.New(cfg, o)
	if err != nil {
		b.Fatal(err)
	}
	c := testkit.InProcess(b, a, mcp.ProtocolVersion20251125)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := testkit.Call(b, c, "list_dialog_users", map[string]any{"dialog_id": fmt.Sprint(200000 + i)}); res.IsError {
				b.Errorf("call %d: %s", i, testkit.Text(res))
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func medianOf(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
