package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// kinds counts the store's values by kind.
func kinds(t *testing.T, s *Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := s.cfg.Store.(*BoltStore).db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(boltBucket).ForEach(func(k, v []byte) error {
			if s.cfg.Store.(*BoltStore).unexpired(v) != nil {
				out[strings.SplitN(string(k), "\x00", 2)[0]]++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An access token past its 15 minutes is refused with invalid_token
// saying so, and one for another audience too.
func TestExpiredToken(t *testing.T) {
	s := newTestServer(t, t.TempDir())
	tokens := addPeople(t, s, 1, 1)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	ok := httptest.NewRecorder()
	h := s.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if FromContext(r.Context()).UserID != 1 {
			t.Error("no identity")
		}
	}))
	req := func(tok string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	h.ServeHTTP(ok, req(tokens[0]))
	if ok.Code != 200 {
		t.Fatalf("a fresh token: HTTP %d", ok.Code)
	}
	clock = clock.Add(accessTTL + time.Second)
	late := httptest.NewRecorder()
	h.ServeHTTP(late, req(tokens[0]))
	if late.Code != 401 || !strings.Contains(late.Header().Get("WWW-Authenticate"), `error_description="the token expired"`) {
		t.Errorf("an expired token: HTTP %d %q", late.Code, late.Header().Get("WWW-Authenticate"))
	}
	other := s.mint(claims{UserID: 1, Grant: "g1", Audience: "https://other.example.com", Expires: clock.Add(time.Minute).Unix()})
	wrong := httptest.NewRecorder()
	h.ServeHTTP(wrong, req(other))
	if wrong.Code != 401 || !strings.Contains(wrong.Header().Get("WWW-Authenticate"), "another server") {
		t.Errorf("another audience: HTTP %d %q", wrong.Code, wrong.Header().Get("WWW-Authenticate"))
	}
}

// Refused authorization and token requests leave nothing in the store
// (a consumed code is gone, nothing new appears).
func TestRefusalsStoreNothing(t *testing.T) {
	s := newTestServer(t, t.TempDir())
	ctx := context.Background()
	addPeople(t, s, 1271, 1)
	redirect := "http://127.0.0.1:41999/cb"
	c := &client{ID: "b24mcp-test", Name: "test", RedirectURIs: []string{redirect}}
	raw, _ := json.Marshal(c)
	_ = s.cfg.Store.Put(ctx, kindClient, c.ID, raw, 0)
	before := kinds(t, s)

	for _, q := range []url.Values{
		{"client_id": {"nobody"}},
		{"client_id": {c.ID}, "redirect_uri": {"http://127.0.0.1:41999/other"}},
		{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}},
		{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"}, "resource": {s.issuer + "/mcp"}},
	} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/authorize?"+q.Encode(), nil))
		if w.Code == 200 {
			t.Errorf("%v was not refused", q)
		}
	}
	code := "b24mcp_code_test"
	_ = s.records.putCode(ctx, code, &issued{pending: pending{ClientID: c.ID, RedirectURI: redirect, Challenge: strings.Repeat("c", 43), Resource: s.issuer + "/mcp", Scope: ScopeRead}, UserID: 1271})
	for _, form := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {c.ID}, "code_verifier": {strings.Repeat("v", 43)}, "resource": {s.issuer + "/mcp"}},
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {c.ID}, "code_verifier": {strings.Repeat("v", 43)}, "resource": {s.issuer + "/mcp"}},
		{"grant_type": {"refresh_token"}, "refresh_token": {"b24mcp_rt.forged.x"}, "client_id": {c.ID}},
		{"grant_type": {"password"}},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		s.ServeHTTP(w, r)
		if w.Code == 200 {
			t.Errorf("%v was not refused", form)
		}
	}
	if after := kinds(t, s); len(after) != len(before) || after[kindUser] != before[kindUser] || after[kindPending] != 0 || after[kindCode] != 0 {
		t.Errorf("the store changed: %v -> %v", before, after)
	}
	r, _ := s.records.person(ctx, 1271)
	if len(r.Grants) != 1 {
		t.Errorf("the person has %d grants, want the 1 they had", len(r.Grants))
	}
}

// A flood of registrations from one source is refused with 429 (and
// Retry-After) once over its limit, storing nothing more, while another
// source still registers; past the overall limit everyone waits.
func TestRegistrationFlood(t *testing.T) {
	lim := Rate{PerSource: 10, SourceBurst: 20, Overall: 60, OverallBurst: 100}
	s := newTestServer(t, t.TempDir(), func(c *Config) { c.Limits.Registrations = lim })
	post := func(from string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"]}`))
		r.RemoteAddr = from + ":5000"
		s.ServeHTTP(w, r)
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Error("a 429 without Retry-After")
		}
		return w.Code
	}
	statuses := map[int]int{}
	for range lim.SourceBurst + 20 {
		statuses[post("203.0.113.7")]++
	}
	if statuses[http.StatusCreated] != lim.SourceBurst || statuses[http.StatusTooManyRequests] != 20 {
		t.Errorf("one source: %v, want %d created and 20 refused", statuses, lim.SourceBurst)
	}
	if got := post("198.51.100.9"); got != http.StatusCreated {
		t.Errorf("another source after the first hit its limit: HTTP %d", got)
	}
	// The same /64 is one source; another /64 is another.
	for range lim.SourceBurst {
		post("2001:db8:1:2::1")
	}
	if got := post("2001:db8:1:2::ffff"); got != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: HTTP %d, want 429", got)
	}
	if got := post("2001:db8:1:3::1"); got != http.StatusCreated {
		t.Errorf("another /64: HTTP %d, want 201", got)
	}
	if n := kinds(t, s)[kindClient]; n != lim.SourceBurst*2+2 {
		t.Errorf("%d registrations stored", n)
	}
	// Many sources: the overall ceiling holds.
	created := 0
	for i := range lim.OverallBurst * 2 {
		if post(netip.AddrFrom4([4]byte{100, 0, byte(i / 250), byte(i % 250)}).String()) == http.StatusCreated {
			created++
		}
	}
	if created >= lim.OverallBurst*2 {
		t.Errorf("%d of %d registrations from many sources created: no overall limit", created, lim.OverallBurst*2)
	}
}

// After MCP_STATE_KEY changes, old tokens are refused (401, not a store
// error) and a person can sign in again over their old sealed record; with
// the old key as MCP_STATE_KEY_PREVIOUS, nothing is refused, and the record
// is sealed with the new key when next written.
func TestKeyChange(t *testing.T) {
	dir := t.TempDir()
	s := newTestServer(t, dir)
	tokens := addPeople(t, s, 1271, 1)
	oldKey := make([]byte, 32) // newTestServer's
	s.cfg.Store.(*BoltStore).Close()

	reopen := func(previous ...[]byte) *Server {
		store, err := OpenBolt(dir + "/signin.db")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		key := make([]byte, 32)
		key[0] = 1
		s2, err := New(Config{PublicURL: s.issuer, App: s.cfg.App, Base: s.cfg.Base, Store: store, Key: key, PreviousKeys: previous, HTTPClient: s.cfg.HTTPClient})
		if err != nil {
			t.Fatal(err)
		}
		return s2
	}
	ctx := context.Background()
	rotating := reopen(oldKey)
	if _, err := rotating.Verify(ctx, tokens[0]); err != nil {
		t.Errorf("during a rotation, a token signed with the previous key: %v", err)
	}
	if list, err := rotating.Signins(ctx); err != nil || len(list) != 1 {
		t.Errorf("during a rotation, the sign-ins: %v %v", list, err)
	}
	rec, _ := rotating.records.person(ctx, 1271)
	if err := rotating.records.savePerson(ctx, 1271, rec, 0); err != nil {
		t.Fatal(err)
	}
	raw, _ := rotating.cfg.Store.Get(ctx, kindUser, "1271")
	if _, current, err := rotating.keys.open(raw, kindUser+"/1271"); err != nil || !current {
		t.Errorf("a record written during the rotation is not sealed with the new key: %v", err)
	}
	rotating.cfg.Store.(*BoltStore).Close()

	s2 := reopen()
	if _, err := s2.Verify(ctx, tokens[0]); err != errNotOurs {
		t.Errorf("a token signed with a key no longer in the ring: %v, want errNotOurs", err)
	}
	g := &bitrix.Grant{UserID: 1271, AccessToken: "a", RefreshToken: "r", ClientEndpoint: "https://team.bitrix24.com/rest/"}
	if err := s2.keepPair(ctx, g); err != nil {
		t.Errorf("signing in again: %v", err)
	}
}
