package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// signedIn is a server on a moved clock with one person signed in
// through the whole flow.
func signedIn(t *testing.T, change ...func(*Config)) (*browserFlow, *clock) {
	t.Helper()
	clk := &clock{now: time.Now()}
	s := newTestServer(t, t.TempDir(), append([]func(*Config){func(c *Config) {
		c.Now = clk.Now
		c.upstream = fakeUpstream{uid: 1271}
	}}, change...)...)
	s.cfg.Store.(*BoltStore).now = clk.Now
	f := &browserFlow{t: t, s: s, redirect: "http://127.0.0.1:41999/cb"}
	for _, st := range f.steps()[:5] {
		if code := st.run(); code >= 400 {
			t.Fatalf("%s: HTTP %d", st.name, code)
		}
	}
	return f, clk
}

// M7: a refresh loop is told to wait past the limit, and however many
// refreshes there were, the store holds the one record: rotation keeps
// no history, yet a rotated-out token still revokes the sign-in.
func TestRefreshLoop(t *testing.T) {
	f, clk := signedIn(t)
	before := kinds(t, f.s)
	refresh := f.steps()[5].run
	limit := f.s.limits.RefreshesPerGrant
	for i := range limit {
		if code := refresh(); code != http.StatusOK {
			t.Fatalf("refresh %d: HTTP %d", i+1, code)
		}
	}
	w := f.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.refresh}, "client_id": {f.client}}, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("refresh %d within %s: HTTP %d %s", limit+1, f.s.limits.RefreshWindow, w.Code, w.Body)
	}
	clk.add(f.s.limits.RefreshWindow)
	for range 5 * limit {
		if refresh() != http.StatusOK {
			clk.add(f.s.limits.RefreshWindow)
		}
	}
	after := kinds(t, f.s)
	for kind, n := range after {
		if n > before[kind] {
			t.Errorf("after %d refreshes the store holds %v (before: %v)", 6*limit, after, before)
		}
	}
	// An early token comes back: the sign-in is revoked.
	rec, _ := f.s.records.person(context.Background(), 1271)
	var grantID string
	for id := range rec.Grants {
		grantID = id
	}
	rotatedOut := f.s.mintRefresh(1271, grantID, 2)
	w = f.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotatedOut}, "client_id": {f.client}}, nil)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "revoked") {
		t.Fatalf("a rotated-out refresh token: HTTP %d %s", w.Code, w.Body)
	}
	if refresh() != http.StatusBadRequest {
		t.Error("after the reuse, the current refresh token still works")
	}
}

// A record no key of the ring opens (sealed under a key since dropped),
// behind a refresh token that still verifies: sign in again, not a 503.
func TestRecordSealedElsewhere(t *testing.T) {
	f, _ := signedIn(t)
	ctx := context.Background()
	other, err := newKeyRing([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := f.s.cfg.Store.Get(ctx, kindUser, "1271")
	plain, _, _ := f.s.keys.open(raw, kindUser+"/1271")
	_ = f.s.cfg.Store.Put(ctx, kindUser, "1271", other.seal(plain, kindUser+"/1271"), 0)
	w := f.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.refresh}, "client_id": {f.client}}, nil)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "invalid_grant") {
		t.Errorf("a refresh over a record sealed elsewhere: HTTP %d %s", w.Code, w.Body)
	}
}

// M5: a registration nobody consents to is gone after an hour; one a
// person consented to lives while it is used, and the operator can list
// and delete either.
func TestRegistrationsExpire(t *testing.T) {
	f, clk := signedIn(t)
	ctx := context.Background()
	idle := &browserFlow{t: t, s: f.s, redirect: "http://127.0.0.1:41999/cb"}
	idle.steps()[0].run()
	list, err := f.s.Registrations(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("registrations: %v %v", list, err)
	}
	for _, r := range list {
		if r.Trusted != (r.ClientID == f.client) || r.Source != "192.0.2.1/32" {
			t.Errorf("registration %+v", r)
		}
	}
	clk.add(newClientTTL + time.Minute)
	if c, _ := f.s.records.client(ctx, idle.client); c != nil {
		t.Error("an unconsented registration outlived its hour")
	}
	if c, _ := f.s.records.client(ctx, f.client); c == nil {
		t.Error("a consented registration expired after an hour")
	}
	clk.add(clientIdle)
	if c, _ := f.s.records.client(ctx, f.client); c != nil {
		t.Errorf("a registration unused for %s is still kept", clientIdle)
	}
	// The operator deletes one.
	again := &browserFlow{t: t, s: f.s, redirect: "http://127.0.0.1:41999/cb"}
	again.steps()[0].run()
	if had, err := f.s.DeleteRegistration(ctx, again.client); !had || err != nil {
		t.Fatalf("delete: %v %v", had, err)
	}
	if c, _ := f.s.records.client(ctx, again.client); c != nil {
		t.Error("a deleted registration is still kept")
	}
}

// L11: an access token whose signature was changed in its last character
// (which base64 without padding could decode to the same bytes) is refused.
func TestTokensDecodeStrictly(t *testing.T) {
	s := newTestServer(t, t.TempDir())
	tok := addPeople(t, s, 1, 1)[0]
	if _, err := s.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	sig := tok[strings.LastIndex(tok, ".")+1:]
	raw, _ := base64.RawURLEncoding.DecodeString(sig)
	changed := 0
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		alt := tok[:len(tok)-1] + string(c)
		if alt == tok {
			continue
		}
		// Non-strict decoding takes some of these to the same signature.
		if lax, err := base64.RawURLEncoding.DecodeString(alt[strings.LastIndex(alt, ".")+1:]); err == nil && string(lax) == string(raw) {
			changed++
		}
		if _, err := s.Verify(context.Background(), alt); err == nil {
			t.Errorf("a token with its last character changed to %q verifies", c)
		}
	}
	if changed == 0 {
		t.Log("no lax alias of the signature for this token")
	}
}

// The document cache stays within its entries and bytes.
func TestDocumentCacheBounded(t *testing.T) {
	s := newTestServer(t, t.TempDir())
	d := s.documents
	for i := range 3 * maxDocuments {
		id := fmt.Sprintf("https://c%d.example/client.json", i)
		d.keep(&document{id: id, c: &client{ID: id, RedirectURIs: []string{strings.Repeat("r", 400)}}, fetched: s.now(), size: docSize(&client{ID: id, RedirectURIs: []string{strings.Repeat("r", 400)}})})
	}
	if d.order.Len() > maxDocuments || d.bytes > maxDocumentData || len(d.entries) != d.order.Len() {
		t.Errorf("the cache holds %d documents, %d bytes", d.order.Len(), d.bytes)
	}
	if d.cached(fmt.Sprintf("https://c%d.example/client.json", 3*maxDocuments-1)) == nil {
		t.Error("the newest document was evicted")
	}
}

// The bbolt store's locks live while held or awaited, and expired values
// are swept.
func TestBoltStoreStaysSmall(t *testing.T) {
	clk := &clock{now: time.Now()}
	s, err := OpenBolt(t.TempDir()+"/s.db", WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 1000 {
		unlock, err := s.Lock(ctx, fmt.Sprint("user:", i))
		if err != nil {
			t.Fatal(err)
		}
		unlock()
		_ = s.Put(ctx, kindPending, fmt.Sprint(i), []byte("x"), time.Minute)
	}
	if n := s.lockCount(); n != 0 {
		t.Errorf("%d locks kept after their holders left", n)
	}
	clk.add(2 * time.Minute)
	s.sweep()
	if keys, _ := s.Keys(ctx, kindPending); len(keys) != 0 {
		t.Errorf("%d expired values listed", len(keys))
	}
	var stored int
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(boltBucket).ForEach(func(k, v []byte) error { stored++; return nil })
	})
	if stored != 0 {
		t.Errorf("%d expired values left in the file after a sweep", stored)
	}
}
