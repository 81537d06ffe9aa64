package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The records the authorization server keeps, over the key/value Store:
// each kind's shape, key, lifetime and sealing in one place. Every store
// failure comes back as unavailable (a 503 for the client: try again),
// never as a refusal.

// The kinds of value, and how long each lives.
const (
	kindClient  = "client"  // a dynamic registration, by client_id
	kindTrust   = "trust"   // a client someone consented to, by digest of its id
	kindPending = "pending" // a sign-in between /authorize and Bitrix24's callback, by its id
	kindCode    = "code"    // our authorization code, by digest
	kindUsed    = "used"    // a code already exchanged, by digest: its reuse revokes the grant
	kindUser    = "user"    // a person's record (sealed), by Bitrix24 user id
)

const (
	accessTTL  = 15 * time.Minute
	codeTTL    = time.Minute
	pendingTTL = 10 * time.Minute
	// refreshIdle ends a sign-in whose refresh token went unused this long.
	refreshIdle = 90 * 24 * time.Hour
	// newClientTTL is how long a registration lives before anyone
	// consents to its client; clientIdle how long one that was consented
	// to lives unused (each use renews it, at most daily).
	newClientTTL = time.Hour
	clientIdle   = 30 * 24 * time.Hour
	renewEvery   = 24 * time.Hour
)

// client is a registered MCP client: one registered dynamically, or one
// whose id is the https URL of its metadata document.
type client struct {
	ID           string    `json:"client_id"`
	Name         string    `json:"client_name,omitempty"`
	URI          string    `json:"client_uri,omitempty"`
	RedirectURIs []string  `json:"redirect_uris"`
	Created      time.Time `json:"created"`
	Source       string    `json:"source,omitempty"` // who registered it (an address, or a /64)
	Document     bool      `json:"-"`                // from a client metadata document
}

// pending is a sign-in between /authorize and Bitrix24's callback. Its id
// is the consent form's and Bitrix24's state; the browser that saw the
// consent page holds a cookie whose hash it keeps.
type pending struct {
	ClientID      string `json:"client_id"`
	ClientName    string `json:"client_name"`
	RedirectURI   string `json:"redirect_uri"`
	RedirectGiven bool   `json:"redirect_given"` // the request named it (then /token must too)
	State         string `json:"state"`
	Challenge     string `json:"code_challenge"`
	Resource      string `json:"resource"`
	Scope         string `json:"scope"`
	Browser       string `json:"browser"`
	Consented     bool   `json:"consented"`
}

// issued is our authorization code's record.
type issued struct {
	pending
	UserID int `json:"user_id"`
}

// usedCode is what an exchanged code bought: its reuse revokes it.
type usedCode struct {
	UserID int    `json:"u"`
	Grant  string `json:"g"`
}

// record is one person's: their Bitrix24 pair and the grants they gave MCP
// clients. It is stored sealed, and changed only under the person's lock.
type record struct {
	Pair   *pairRecord       `json:"pair,omitempty"`
	Grants map[string]*grant `json:"grants,omitempty"`
}

type pairRecord struct {
	Access         string    `json:"access"`
	Refresh        string    `json:"refresh"`
	ClientEndpoint string    `json:"client_endpoint"`
	TokenURL       string    `json:"token_url,omitempty"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// grant is one client's sign-in. Refresh is the hash of its current
// refresh token and Seq its rotation: a refresh replaces both in the one
// write of the record, and a verified token that is not the current one is
// a reuse. Window and Refreshes count the refreshes of the current window.
type grant struct {
	ClientID  string    `json:"client_id"`
	Client    string    `json:"client_name,omitempty"`
	Scope     string    `json:"scope"`
	Resource  string    `json:"resource"` // the server (public URL) it was issued by
	Refresh   string    `json:"refresh"`
	Seq       int       `json:"seq"`
	Created   time.Time `json:"created"`
	Used      time.Time `json:"used"`
	Window    time.Time `json:"window,omitempty"`
	Refreshes int       `json:"refreshes,omitempty"`
}

// records is the typed layer over the Store.
type records struct {
	store Store
	keys  *keyRing
	now   func() time.Time
}

func (rs *records) get(ctx context.Context, kind, key string, v any) (bool, error) {
	raw, err := rs.store.Get(ctx, kind, key)
	if err != nil {
		return false, unavailable(fmt.Errorf("reading a %s: %w", kind, err))
	}
	if raw == nil || json.Unmarshal(raw, v) != nil {
		return false, nil
	}
	return true, nil
}

func (rs *records) take(ctx context.Context, kind, key string, v any) (bool, error) {
	raw, err := rs.store.Take(ctx, kind, key)
	if err != nil {
		return false, unavailable(fmt.Errorf("taking a %s: %w", kind, err))
	}
	if raw == nil || json.Unmarshal(raw, v) != nil {
		return false, nil
	}
	return true, nil
}

func (rs *records) put(ctx context.Context, kind, key string, v any, ttl time.Duration) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := rs.store.Put(ctx, kind, key, raw, ttl); err != nil {
		return unavailable(fmt.Errorf("keeping a %s: %w", kind, err))
	}
	return nil
}

func (rs *records) delete(ctx context.Context, kind, key string) error {
	if err := rs.store.Delete(ctx, kind, key); err != nil {
		return unavailable(fmt.Errorf("deleting a %s: %w", kind, err))
	}
	return nil
}

// Registrations.

func (rs *records) client(ctx context.Context, id string) (*client, error) {
	var c client
	found, err := rs.get(ctx, kindClient, id, &c)
	if !found {
		return nil, err
	}
	return &c, nil
}

// putClient keeps a registration: briefly until someone consents to it.
func (rs *records) putClient(ctx context.Context, c *client, consented bool) error {
	ttl := newClientTTL
	if consented {
		ttl = clientIdle
	}
	return rs.put(ctx, kindClient, c.ID, c, ttl)
}

func (rs *records) deleteClient(ctx context.Context, id string) error {
	if err := rs.delete(ctx, kindTrust, digest(id)); err != nil {
		return err
	}
	return rs.delete(ctx, kindClient, id)
}

func (rs *records) clientIDs(ctx context.Context) ([]string, error) {
	ids, err := rs.store.Keys(ctx, kindClient)
	if err != nil {
		return nil, unavailable(err)
	}
	return ids, nil
}

// trust marks a client someone consented to: its errors may go back to
// its redirect URI. It lapses with clientIdle.
type trust struct {
	Since   time.Time `json:"since"`
	Renewed time.Time `json:"renewed"`
}

func (rs *records) trusted(ctx context.Context, clientID string) (*trust, error) {
	var t trust
	found, err := rs.get(ctx, kindTrust, digest(clientID), &t)
	if !found {
		return nil, err
	}
	return &t, nil
}

func (rs *records) putTrust(ctx context.Context, clientID string, t *trust) error {
	return rs.put(ctx, kindTrust, digest(clientID), t, clientIdle)
}

// Sign-ins in flight.

func (rs *records) pending(ctx context.Context, id string) (*pending, error) {
	var p pending
	found, err := rs.get(ctx, kindPending, id, &p)
	if !found {
		return nil, err
	}
	return &p, nil
}

func (rs *records) takePending(ctx context.Context, id string) (*pending, error) {
	var p pending
	found, err := rs.take(ctx, kindPending, id, &p)
	if !found {
		return nil, err
	}
	return &p, nil
}

func (rs *records) putPending(ctx context.Context, id string, p *pending) error {
	return rs.put(ctx, kindPending, id, p, pendingTTL)
}

func (rs *records) deletePending(ctx context.Context, id string) error {
	return rs.delete(ctx, kindPending, id)
}

func (rs *records) putCode(ctx context.Context, code string, c *issued) error {
	return rs.put(ctx, kindCode, digest(code), c, codeTTL)
}

func (rs *records) takeCode(ctx context.Context, code string) (*issued, error) {
	var c issued
	found, err := rs.take(ctx, kindCode, digest(code), &c)
	if !found {
		return nil, err
	}
	return &c, nil
}

func (rs *records) putUsedCode(ctx context.Context, code string, u usedCode) error {
	return rs.put(ctx, kindUsed, digest(code), u, pendingTTL)
}

func (rs *records) takeUsedCode(ctx context.Context, code string) (*usedCode, error) {
	var u usedCode
	found, err := rs.take(ctx, kindUsed, digest(code), &u)
	if !found {
		return nil, err
	}
	return &u, nil
}

// People.

func userKey(uid int) string { return strconv.Itoa(uid) }

// person reads a person's record; nil when there is none. A record sealed
// under a key no longer in the ring is errSealedElsewhere; grants unused
// for refreshIdle are dropped as it is read.
func (rs *records) person(ctx context.Context, uid int) (*record, error) {
	raw, err := rs.store.Get(ctx, kindUser, userKey(uid))
	if err != nil {
		return nil, unavailable(fmt.Errorf("reading a person's record: %w", err))
	}
	if raw == nil {
		return nil, nil
	}
	plain, _, err := rs.keys.open(raw, kindUser+"/"+userKey(uid))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("the sign-in record of user %d is damaged", uid)
	}
	if r.Grants == nil {
		r.Grants = map[string]*grant{}
	}
	now := rs.now()
	for id, g := range r.Grants {
		if now.Sub(g.Used) > refreshIdle {
			delete(r.Grants, id)
		}
	}
	return &r, nil
}

// savePerson writes a record sealed with the current key; ttl 0 keeps it.
// A record with no grant left is deleted with its Bitrix24 pair: nobody
// signs in through it any more.
func (rs *records) savePerson(ctx context.Context, uid int, r *record, ttl time.Duration) error {
	if len(r.Grants) == 0 && ttl == 0 {
		return rs.deletePerson(ctx, uid)
	}
	plain, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := rs.store.Put(ctx, kindUser, userKey(uid), rs.keys.seal(plain, kindUser+"/"+userKey(uid)), ttl); err != nil {
		return unavailable(fmt.Errorf("keeping a person's record: %w", err))
	}
	return nil
}

func (rs *records) deletePerson(ctx context.Context, uid int) error {
	return rs.delete(ctx, kindUser, userKey(uid))
}

func (rs *records) peopleIDs(ctx context.Context) ([]int, error) {
	keys, err := rs.store.Keys(ctx, kindUser)
	if err != nil {
		return nil, unavailable(err)
	}
	var ids []int
	for _, k := range keys {
		if uid, err := strconv.Atoi(k); err == nil {
			ids = append(ids, uid)
		}
	}
	return ids, nil
}

func (rs *records) lockPerson(ctx context.Context, uid int) (func(), error) {
	unlock, err := rs.store.Lock(ctx, "user:"+userKey(uid))
	if err != nil {
		return nil, unavailable(fmt.Errorf("locking a person's record: %w", err))
	}
	return unlock, nil
}
