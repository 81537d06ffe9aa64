package auth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// BenchmarkStartupWithStoredPeople: assembling the server with 10,000
// people in its sign-in store, against an empty store (the median of 7
// each); the ratio is the figure to watch (bbolt maps the file; nothing is
// loaded at start).
func BenchmarkStartupWithStoredPeople(b *testing.B) {
	p := portaltest.Start(b, nil)
	dir := b.TempDir()
	full, empty := filepath.Join(dir, "full.db"), filepath.Join(dir, "empty.db")
	st, err := auth.OpenBolt(full)
	if err != nil {
		b.Fatal(err)
	}
	record := make([]byte, 420) // about a sealed record's size
	for uid := 1; uid <= 10000; uid++ {
		if err := st.Put(context.Background(), "user", strconv.Itoa(uid), record, 0); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	env := testkit.SignInEnv(p, "http://127.0.0.1:1", dir, testkit.NewKey())
	startup := func(store string) time.Duration {
		env["MCP_AUTH_STORE"] = store
		cfg := testkit.Config(b, env)
		began := time.Now()
		a, err := app.New(cfg, app.Options{})
		took := time.Since(began)
		if err != nil {
			b.Fatal(err)
		}
		a.Close()
		return took
	}
	for b.Loop() {
		var withPeople, without []time.Duration
		for range 7 {
			withPeople = append(withPeople, startup(full))
			without = append(without, startup(empty))
		}
		slices.Sort(withPeople)
		slices.Sort(without)
		b.ReportMetric(float64(withPeople[3].Microseconds()), "µs-10k-people")
		b.ReportMetric(float64(without[3].Microseconds()), "µs-no-people")
		b.ReportMetric(float64(withPeople[3])/float64(without[3]), "ratio")
	}
}

// BenchmarkHundredPeople: 100 people signed in, each making 5 calls at
// once, on a portal that drains 2 requests a second and holds 50. Their
// calls share the portal's one bucket: no QUERY_LIMIT_EXCEEDED.
func BenchmarkHundredPeople(b *testing.B) {
	for b.Loop() {
		fix := portaltest.DefaultFixture(b)
		for i := range 100 {
			fix.Users = append(fix.Users, fakeportal.User{ID: 5000 + i, Name: fmt.Sprintf("Person %d", i), FirstName: "Person", LastName: fmt.Sprint(i),
				Active: true, Type: "user", ExternalAuthID: "default"})
		}
		p := portaltest.Start(b, fix, fakeportal.WithRateLimit(2, 50))
		s := StartSignIn(b, p, nil)
		var sessions []*sdk.ClientSession
		for i := range 100 {
			p.ConsentAs(5000 + i)
			tk := signInByHand(b, s, "")
			sessions = append(sessions, testkit.ConnectGoSDK(b, &sdk.StreamableClientTransport{Endpoint: s.Base + "/mcp", HTTPClient: testkit.Bearer(tk.access)}, "", nil))
		}
		before := p.Stats()
		began := time.Now()
		failed := 0
		results := make(chan bool, 500)
		for i := range 500 {
			go func() {
				res, err := sessions[i%100].CallTool(context.Background(), &sdk.CallToolParams{Name: "get_chat", Arguments: map[string]any{"dialog_id": "chat13"}})
				results <- err == nil && !res.IsError
			}()
		}
		for range 500 {
			if !<-results {
				failed++
			}
		}
		after := p.Stats()
		b.ReportMetric(time.Since(began).Seconds(), "s")
		b.ReportMetric(float64(failed), "failed-calls")
		b.ReportMetric(float64(after.Rejected503-before.Rejected503), "QUERY_LIMIT_EXCEEDED")
		b.ReportMetric(float64(after.Requests-before.Requests), "portal-requests")
		if after.Rejected503 != before.Rejected503 {
			b.Errorf("%d QUERY_LIMIT_EXCEEDED", after.Rejected503-before.Rejected503)
		}
	}
}
