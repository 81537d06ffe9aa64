package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
			if unexpired(v) != nil {
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
	rec, _ := json.Marshal(issued{pending: pending{ClientID: c.ID, RedirectURI: redirect, Challenge: "not-the-verifiers", Resource: s.issuer + "/mcp", Scope: ScopeRead}, UserID: 1271})
	_ = s.cfg.Store.Put(ctx, kindCode, digest(code), rec, codeTTL)
	for _, form := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {c.ID}, "code_verifier": {strings.Repeat("v", 43)}},
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {c.ID}, "code_verifier": {strings.Repeat("v", 43)}},
		{"grant_type": {"refresh_token"}, "refresh_token": {"b24mcp_rt_forged"}, "client_id": {c.ID}},
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
	if after := kinds(t, s); len(after) != len(before) || after[kindUser] != before[kindUser] || after[kindRefresh] != 0 || after[kindPending] != 0 || after[kindCode] != 0 {
		t.Errorf("the store changed: %v -> %v", before, after)
	}
	r, _ := s.loadRecord(ctx, 1271)
	if len(r.Grants) != 1 {
		t.Errorf("the person has %d grants, want the 1 they had", len(r.Grants))
	}
}

// A flood of registrations is refused with 429 once over the limit,
// storing nothing more.
func TestRegistrationFlood(t *testing.T) {
	s := newTestServer(t, t.TempDir())
	statuses := map[int]int{}
	for range registrationBurst + 20 {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"]}`))
		s.ServeHTTP(w, r)
		statuses[w.Code]++
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Error("a 429 without Retry-After")
		}
	}
	if statuses[http.StatusCreated] < registrationBurst || statuses[http.StatusTooManyRequests] < 19 {
		t.Errorf("statuses %v: want the burst created and the rest refused", statuses)
	}
	if n := kinds(t, s)[kindClient]; n != statuses[http.StatusCreated] {
		t.Errorf("%d registrations stored, %d created", n, statuses[http.StatusCreated])
	}
}

// After MCP_STATE_KEY changes, old tokens are refused (401, not a store
// error) and a person can sign in again over their old sealed record.
func TestKeyChange(t *testing.T) {
	dir := t.TempDir()
	s := newTestServer(t, dir)
	tokens := addPeople(t, s, 1271, 1)
	s.cfg.Store.(*BoltStore).Close()

	store, err := OpenBolt(dir + "/signin.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key := make([]byte, 32)
	key[0] = 1
	s2, err := New(Config{PublicURL: s.issuer, App: s.cfg.App, Base: s.cfg.Base, Store: store, Key: key, HTTPClient: s.cfg.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(context.Background(), tokens[0]); err != errNotOurs {
		t.Errorf("a token signed with the old key: %v, want errNotOurs", err)
	}
	if list, err := s2.Signins(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("sign-ins listed under the new key: %v %v", list, err)
	}
	g := &bitrix.Grant{UserID: 1271, AccessToken: "a", RefreshToken: "r", ClientEndpoint: "https://team.bitrix24.com/rest/"}
	if err := s2.keepPair(context.Background(), g); err != nil {
		t.Errorf("signing in again over a record sealed with the old key: %v", err)
	}
}
