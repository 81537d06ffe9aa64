package state_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/state"
)

// replicas are n clients of one portal, as n server processes would have,
// sharing the Redis at url (or each with its own bucket when url is "").
func replicas(t testing.TB, p *fakeportal.Portal, url string, n int, oauth bool) []*bitrix.Client {
	return replicasAt(t, p, url, n, oauth, bitrix.DefaultRateLimit, bitrix.DefaultRateBurst)
}

// replicasAt is replicas for a portal that drains rate a second and holds burst.
func replicasAt(t testing.TB, p *fakeportal.Portal, url string, n int, oauth bool, rate float64, burst int) []*bitrix.Client {
	t.Helper()
	f := p.Fixture()
	var out []*bitrix.Client
	for range n {
		cfg := bitrix.Config{HTTPClient: p.HTTPClient(), RateLimit: rate, RateBurst: burst,
			RetryBase: 50 * time.Millisecond, MaxRetryTime: 2 * time.Minute, MaxAttempts: 20}
		if oauth {
			access, refresh := p.Tokens()
			cfg.OAuth = &bitrix.OAuthConfig{ClientEndpoint: p.ClientEndpoint(), AccessToken: bitrix.Secret(access), RefreshToken: bitrix.Secret(refresh),
				ClientID: f.OAuth.ClientID, ClientSecret: bitrix.Secret(f.OAuth.ClientSecret), TokenURL: p.TokenURL()}
		} else {
			cfg.WebhookURL = bitrix.Secret(p.WebhookURL())
		}
		if url != "" {
			r, err := state.NewRedis(url, "portal.test")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			cfg.Shared = r
		}
		c, err := bitrix.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// spread makes calls concurrent list calls, each on its own private dialog,
// round-robin over the clients; it returns the failures and the time taken.
func spread(clients []*bitrix.Client, calls int) (failed int64, took time.Duration, first error) {
	var wg sync.WaitGroup
	var n atomic.Int64
	var once sync.Once
	start := time.Now()
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := clients[i%len(clients)].DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: fmt.Sprint(200000 + i)}); err != nil {
				n.Add(1)
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return n.Load(), time.Since(start), first
}

// Three replicas sharing Redis keep a portal at 2/s and 50 from ever
// answering QUERY_LIMIT_EXCEEDED, in about the time one process needs; three
// replicas each with their own bucket do not.
func TestReplicasShareTheRateLimit(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	const calls = 300 // the 600-call figure is TestThreeProcessesShareTheLimit's, with processes
	one := portaltest.InProcess(t, nil, fakeportal.WithRateLimit(bitrix.DefaultRateLimit, bitrix.DefaultRateBurst))
	failed, alone, err := spread(replicas(t, one, "", 1, false), calls)
	if failed != 0 || one.Stats().Rejected503 != 0 {
		t.Fatalf("one process: %d failed (%v), %d refused", failed, err, one.Stats().Rejected503)
	}
	p := portaltest.InProcess(t, nil, fakeportal.WithRateLimit(bitrix.DefaultRateLimit, bitrix.DefaultRateBurst))
	failed, shared, err := spread(replicas(t, p, redis.URL, 3, false), calls)
	st := p.Stats()
	t.Logf("%d calls: one process %s (%d requests); three replicas sharing Redis %s (%d requests, %d QUERY_LIMIT_EXCEEDED)",
		calls, alone.Round(time.Millisecond), one.Stats().Requests, shared.Round(time.Millisecond), st.Requests, st.Rejected503)
	if failed != 0 || st.Rejected503 != 0 {
		t.Fatalf("three replicas: %d failed (%v), %d QUERY_LIMIT_EXCEEDED", failed, err, st.Rejected503)
	}
	if shared > alone*12/10+time.Second {
		t.Fatalf("three replicas took %s, one process %s: more than 20%% slower", shared, alone)
	}

	// Without the shared store, three buckets of 50 meet the portal's one.
	q := portaltest.InProcess(t, nil, fakeportal.WithRateLimit(bitrix.DefaultRateLimit, bitrix.DefaultRateBurst))
	spread(replicas(t, q, "", 3, false), 150)
	if q.Stats().Rejected503 == 0 {
		t.Fatal("three separate buckets met no QUERY_LIMIT_EXCEEDED: the test proves nothing")
	}
	t.Logf("three replicas without Redis, 150 calls: %d QUERY_LIMIT_EXCEEDED", q.Stats().Rejected503)
}

// An expired token under 3 x 20 concurrent calls: one refresh for all
// replicas, and no call fails.
func TestReplicasShareTheOAuthPair(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	p := portaltest.InProcess(t, nil)
	clients := replicas(t, p, redis.URL, 3, true)
	if failed, _, err := spread(clients, 3); failed != 0 {
		t.Fatal(err)
	}
	p.ExpireToken()
	failed, _, err := spread(clients, 60)
	if n := p.Stats().Refreshes; n != 1 || failed != 0 {
		t.Fatalf("%d refreshes, %d failed calls (%v)", n, failed, err)
	}
	// A second expiry: the pair in Redis is the new one, and still one refresh.
	p.ExpireToken()
	if failed, _, err := spread(clients, 60); failed != 0 || p.Stats().Refreshes != 2 {
		t.Fatalf("second expiry: %d refreshes, %d failed (%v)", p.Stats().Refreshes, failed, err)
	}
}

// Redis away: calls fail fast, naming the store; back: calls work again.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	p := portaltest.InProcess(t, nil)
	clients := replicas(t, p, redis.URL, 2, false)
	if failed, _, err := spread(clients, 20); failed != 0 {
		t.Fatal(err)
	}
	redis.Stop()
	start := time.Now()
	failed, took, err := spread(clients, 20)
	if failed != 20 || took > 10*time.Second {
		t.Fatalf("with Redis down: %d of 20 failed in %s", failed, took)
	}
	if e, ok := bitrix.AsError(err); !ok || e.Code != bitrix.CodeStateStore || !strings.Contains(e.Description, redis.URL) {
		t.Fatalf("the error must name the store: %v", err)
	}
	t.Logf("Redis down: 20 calls failed in %s with %v", time.Since(start).Round(time.Millisecond), err)
	redis.Start()
	back := time.Now()
	for {
		failed, _, err := spread(clients, 20)
		if failed == 0 {
			break
		}
		if time.Since(back) > 10*time.Second {
			t.Fatalf("10 s after Redis came back calls still fail: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Redis back: calls work again after %s", time.Since(back).Round(time.Millisecond))
}

// BenchmarkReplicas compares one replica with three sharing Redis on an
// Enterprise portal (drains 5/s, holds 250), and prints a table. Run it with
// `make bench`.
func BenchmarkReplicas(b *testing.B) {
	if b.N > 1 {
		b.Skip("runs once: use -benchtime 1x")
	}
	redis := testkit.StartRedis(b)
	const calls = 2000
	fmt.Println()
	fmt.Println("| replicas (Enterprise portal: 5/s, 250) | 2,000 concurrent calls | HTTP requests | QUERY_LIMIT_EXCEEDED |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, n := range []int{1, 3} {
		p := portaltest.InProcess(b, nil, fakeportal.WithRateLimit(5, 250))
		url := redis.URL
		if n == 1 {
			url = ""
		}
		clients := replicasAt(b, p, url, n, false, 5, 250)
		failed, took, err := spread(clients, calls)
		if failed != 0 {
			b.Fatalf("%d replicas: %d failed: %v", n, failed, err)
		}
		st := p.Stats()
		label := "1 (in-process bucket)"
		if n > 1 {
			label = fmt.Sprintf("%d sharing Redis", n)
		}
		fmt.Printf("| %s | %s | %d | %d |\n", label, took.Round(10*time.Millisecond), st.Requests, st.Rejected503)
	}
	fmt.Println()
}

// An OPERATION_TIME_LIMIT one replica met pauses that method for the others
// too: they fail without a request until the reset.
func TestReplicasSharePauses(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	p := portaltest.InProcess(t, nil)
	clients := replicas(t, p, redis.URL, 2, false)
	p.PauseMethod(bitrix.MethodDialogUsersList, time.Now().Add(time.Hour))
	if _, err := clients[0].DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"}); !bitrix.IsRateLimited(err) {
		t.Fatalf("want OPERATION_TIME_LIMIT, got %v", err)
	}
	before := p.Stats().Requests
	_, err := clients[1].DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"})
	if !bitrix.IsRateLimited(err) || p.Stats().Requests != before {
		t.Fatalf("the other replica sent a request into a known pause: %v", err)
	}
	if _, err := clients[1].DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935", LastID: new(int)}); !bitrix.IsRateLimited(err) {
		t.Fatalf("keyset reads of the same method are paused too: %v", err)
	}
	if _, err := clients[1].SearchUsers(context.Background(), "Peterson", 0, 10); err != nil {
		t.Fatalf("other methods go on: %v", err)
	}
}

// Replicas sign confirmations with one key: the first to ask makes it, the
// others read the same; another portal has its own.
func TestSharedKey(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	var keys [][]byte
	for _, portal := range []string{"portal.test", "portal.test", "other.test"} {
		r, err := state.NewRedis(redis.URL, portal)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		k, err := r.SharedKey(context.Background(), "confirm")
		if err != nil || len(k) != 32 {
			t.Fatalf("%s: %v %x", portal, err, k)
		}
		keys = append(keys, k)
	}
	if !bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[0], keys[2]) {
		t.Fatalf("replicas of one portal must share the key, other portals not: %x", keys)
	}
	redis.Stop()
	r, _ := state.NewRedis(redis.URL, "portal.test")
	defer r.Close()
	if _, err := r.SharedKey(context.Background(), "confirm"); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("with the store away: %v", err)
	}
}

// With MCP_STATE_KEY the OAuth pair is sealed in Redis: replicas with the
// key read it, the stored value holds no token, a replica without the key
// or with another is told so, and a pair stored before the key was set is
// still read (and sealed on its next write).
func TestTheOAuthPairIsSealed(t *testing.T) {
	t.Parallel()
	redis := testkit.StartRedis(t)
	ctx := context.Background()
	open := func(key string) *state.Redis {
		r, err := state.NewRedis(redis.URL, "sealed.test")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if key != "" {
			k, err := state.ParseKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.WithKey(k); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	const key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	plain, a, b := open(""), open(key), open(key)
	pair := []byte(`{"access_token":"secret-access-1","refresh_token":"secret-refresh-1"}`)
	if err := plain.StoreTokens(ctx, pair, 0); err != nil { // before the key was set
		t.Fatal(err)
	}
	if got, v, err := a.LoadTokens(ctx); err != nil || string(got) != string(pair) || v != 1 {
		t.Fatalf("an unsealed pair: %s %d %v", got, v, err)
	}
	pair2 := []byte(`{"access_token":"secret-access-2","refresh_token":"secret-refresh-2"}`)
	if err := a.StoreTokens(ctx, pair2, 1); err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.LoadTokens(ctx); err != nil || string(got) != string(pair2) {
		t.Fatalf("another replica with the key: %s %v", got, err)
	}
	raw := redisRaw(t, redis.URL, "b24mcp:{sealed.test}:oauth", "pair")
	if strings.Contains(raw, "secret-") || !strings.HasPrefix(raw, "b24seal:v1:") {
		t.Fatalf("the stored value: %.80s", raw)
	}
	if _, _, err := plain.LoadTokens(ctx); err == nil || !strings.Contains(err.Error(), "set MCP_STATE_KEY") {
		t.Fatalf("without the key: %v", err)
	}
	other := open("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100")
	if _, _, err := other.LoadTokens(ctx); err == nil || !strings.Contains(err.Error(), "another key sealed it") {
		t.Fatalf("with another key: %v", err)
	}
	for _, bad := range []string{"short", "00112233", strings.Repeat("z", 64)} {
		if _, err := state.ParseKey(bad); err == nil {
			t.Fatalf("%q was taken as a key", bad)
		}
	}
}

// redisRaw reads one hash field as stored.
func redisRaw(t *testing.T, url, key, field string) string {
	t.Helper()
	opt, _ := goredis.ParseURL(url)
	c := goredis.NewClient(opt)
	defer c.Close()
	v, err := c.HGet(context.Background(), key, field).Result()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
