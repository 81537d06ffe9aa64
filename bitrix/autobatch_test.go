package bitrix_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// expectation is what one call should get back: its own answer or error.
type expectation struct {
	dialog string
	total  int    // for successes
	code   string // for failures
}

var mixed = []expectation{
	{"chat2935", 5, ""}, {"chat2725", 5, ""}, {"chat5", 3, ""}, {"chat9001", 441, ""},
	{"99", 2, ""}, {"1271", 2, ""}, {"sg12", 3, ""}, {"chat3000", 0, "ACCESS_ERROR"}, {"chat777", 0, "ACCESS_ERROR"},
}

// runMixed fires n concurrent calls, each checking that it got its own answer.
func runMixed(t *testing.T, c *bitrix.Client, n int) (wrong int64) {
	t.Helper()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(want expectation) {
			defer wg.Done()
			page, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: want.dialog, Limit: 1})
			switch {
			case want.code != "":
				if e, ok := bitrix.AsError(err); !ok || e.Code != want.code || e.Method != bitrix.MethodDialogUsersList {
					bad.Add(1)
					t.Errorf("%s: want %s, got %v", want.dialog, want.code, err)
				}
			case err != nil:
				bad.Add(1)
				t.Errorf("%s: %v", want.dialog, err)
			case page.Total == nil || *page.Total != want.total:
				bad.Add(1)
				t.Errorf("%s: got total %v, want %d (someone else's answer?)", want.dialog, page.Total, want.total)
			}
		}(mixed[i%len(mixed)])
	}
	wg.Wait()
	return bad.Load()
}

func TestAutoBatchRoutesEachAnswerToItsCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t, fakeportal.WithRateLimit(20, 5))
		c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst = 20, 5 })
		const calls = 450
		if wrong := runMixed(t, c, calls); wrong != 0 {
			t.Fatalf("%d calls got a wrong answer", wrong)
		}
		st := p.Stats()
		if st.Rejected503 != 0 {
			t.Fatalf("%d answers of 503", st.Rejected503)
		}
		// Every call ran exactly once on the portal, most of them inside batches.
		if got := st.ByMethod["im.dialog.users.list"]; got != calls {
			t.Fatalf("im.dialog.users.list ran %d times for %d calls", got, calls)
		}
		if st.Requests >= calls/5 {
			t.Fatalf("%d requests for %d queued calls: batching did not happen", st.Requests, calls)
		}
		t.Logf("%d calls in %d requests (%d batches)", calls, st.Requests, st.ByMethod["batch"])
	})
}

func TestAutoBatchAloneWithoutQueue(t *testing.T) {
	p := startPortal(t, fakeportal.WithRateLimit(2, 50))
	c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst = 2, 50 })
	for i := 0; i < 3; i++ {
		if _, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Requests != 3 || st.ByMethod["batch"] != 0 {
		t.Fatalf("sequential calls should go alone: %+v", st)
	}
}

// A portal busier than the client knows (its bucket is smaller) answers 503
// to whole batches: they are retried whole, and nothing runs twice or is lost.
func TestAutoBatchRetriesQueryLimitAsAWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t, fakeportal.WithRateLimit(20, 2))
		c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst, c.MaxAttempts = 20, 8, 30 })
		const calls = 300
		if wrong := runMixed(t, c, calls); wrong != 0 {
			t.Fatalf("%d calls failed or got a wrong answer", wrong)
		}
		st := p.Stats()
		if st.Rejected503 == 0 {
			t.Fatal("the portal never refused: the test proves nothing")
		}
		if got := st.ByMethod["im.dialog.users.list"]; got != calls {
			t.Fatalf("im.dialog.users.list ran %d times for %d calls", got, calls)
		}
	})
}

// Writes never share a batch: under a queue they still go alone, once each.
func TestAutoBatchNeverCarriesWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t, fakeportal.WithRateLimit(20, 3))
		c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst = 20, 3 })
		var wg sync.WaitGroup
		const writes = 20
		for i := 0; i < writes; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := c.ChatUserAdd(context.Background(), 9002, []int{1019 + i%2*272}, true); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wrong := runMixed(t, c, 100)
		wg.Wait()
		st := p.Stats()
		if wrong != 0 || st.AddUserCalls != writes || st.InBatch["im.chat.user.add"] != 0 || st.ByMethod["batch"] == 0 {
			t.Fatalf("wrong=%d add calls=%d in batch=%d batches=%d", wrong, st.AddUserCalls, st.InBatch["im.chat.user.add"], st.ByMethod["batch"])
		}
	})
}

// One caller giving up does not take the batch it rode in down with it.
func TestAutoBatchCallerCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPortal(t, fakeportal.WithRateLimit(10, 1))
		c := webhookClient(t, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst = 10, 1 })
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var ok, cancelled atomic.Int64
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				cctx := context.Background()
				if i%3 == 0 {
					cctx = ctx
				}
				_, err := c.DialogUsers(cctx, bitrix.DialogUsersQuery{DialogID: fmt.Sprint([]string{"chat2935", "chat5"}[i%2])})
				switch {
				case err == nil:
					ok.Add(1)
				case cctx == ctx:
					cancelled.Add(1)
				default:
					t.Errorf("call %d: %v", i, err)
				}
			}(i)
		}
		cancel()
		wg.Wait()
		if ok.Load() < 40 {
			t.Fatalf("only %d of the 40 uncancelled calls succeeded", ok.Load())
		}
	})
}
