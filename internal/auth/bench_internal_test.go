package auth

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

// newTestServer is an authorization server over a bbolt file in dir, for
// an in-process fake portal.
func newTestServer(tb testing.TB, dir string, change ...func(*Config)) *Server {
	tb.Helper()
	p := portaltest.InProcess(tb, nil)
	f := p.Fixture()
	app := bitrix.OAuthConfig{ClientEndpoint: p.ClientEndpoint(), ClientID: f.OAuth.ClientID, ClientSecret: bitrix.Secret(f.OAuth.ClientSecret),
		TokenURL: p.TokenURL(), SignIn: true}
	hc := &http.Client{Transport: p.Transport()}
	base, err := bitrix.New(bitrix.Config{OAuth: &app, HTTPClient: hc})
	if err != nil {
		tb.Fatal(err)
	}
	store, err := OpenBolt(filepath.Join(dir, "signin.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	key := make([]byte, 32)
	cfg := Config{PublicURL: "https://mcp.example.com", App: app, Base: base, Store: store, Key: key, HTTPClient: hc}
	for _, c := range change {
		c(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// addPeople stores n people, each with a Bitrix24 pair and one grant, and
// returns an access token for each.
func addPeople(tb testing.TB, s *Server, from, n int) []string {
	tb.Helper()
	ctx := context.Background()
	tokens := make([]string, 0, n)
	for uid := from; uid < from+n; uid++ {
		rec := &record{Pair: &pairRecord{Access: randomToken("a"), Refresh: randomToken("r"), ClientEndpoint: "https://team.bitrix24.com/rest/", ExpiresAt: time.Now().Add(time.Hour)},
			Grants: map[string]*grant{"g" + userKey(uid): {ClientID: "b24mcp-client", Scope: ScopeRead + " " + ScopeWrite, Resource: s.issuer,
				Refresh: digest(randomToken("")), Seq: 1, Created: time.Now(), Used: time.Now()}}}
		if err := s.records.savePerson(ctx, uid, rec, 0); err != nil {
			tb.Fatal(err)
		}
		tokens = append(tokens, s.mint(claims{UserID: uid, Grant: "g" + userKey(uid), ClientID: "b24mcp-client", Scope: ScopeRead + " " + ScopeWrite,
			Audience: s.issuer, Expires: time.Now().Add(accessTTL).Unix()}))
	}
	return tokens
}

// BenchmarkVerify is the token check each request pays: signature,
// expiry, audience, and the grant (known live, or read from the store).
func BenchmarkVerify(b *testing.B) {
	s := newTestServer(b, b.TempDir())
	tokens := addPeople(b, s, 1, 1000)
	ctx := context.Background()
	b.Run("grant-known-live", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Verify(ctx, tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grant-read-from-bbolt", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.live.forget(fmt.Sprintf("g%d", i%len(tokens)+1))
			if _, err := s.Verify(ctx, tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMemoryPerPerson: 1,000 people signed in and calling, each with
// a Bitrix24 client held and a grant known live; the heap it takes, per
// person.
func BenchmarkMemoryPerPerson(b *testing.B) {
	const n = 1000
	for b.Loop() {
		s := newTestServer(b, b.TempDir())
		tokens := addPeople(b, s, 1, n)
		ctx := context.Background()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ids := make([]*Identity, n)
		for i, tok := range tokens {
			id, err := s.Verify(ctx, tok)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.ClientFor(ctx, id); err != nil {
				b.Fatal(err)
			}
			ids[i] = id
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s.people.count() != n {
			b.Fatalf("%d clients held, want %d", s.people.count(), n)
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/person")
		runtime.KeepAlive(ids)
	}
}
