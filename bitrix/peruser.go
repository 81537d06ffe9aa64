package bitrix

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// On a team server each person signs in as themselves (package auth): their
// Bitrix24 pair is kept in a PairStore, and ForUser gives a client that acts
// with it while sharing the portal's one rate limit with everyone else's.

// Pair is one person's OAuth pair, as a PairStore keeps it.
type Pair struct {
	AccessToken    Secret
	RefreshToken   Secret
	ClientEndpoint string    // where to call the portal (https://PORTAL/rest/)
	TokenURL       string    // the regional OAuth server's, when an answer named a trusted one
	UserID         int       // the person's Bitrix24 user id
	ExpiresAt      time.Time // as the token answer said; refreshes wait for expired_token anyway
}

// PairStore keeps one person's pair where every replica finds it, and holds
// the lock their refreshes run under, so a pair is refreshed once however
// many calls (here or in other replicas) meet its expiry.
type PairStore interface {
	LockPair(ctx context.Context) (unlock func(), err error)
	LoadPair(ctx context.Context) (*Pair, error) // nil, nil: signed out
	SavePair(ctx context.Context, p Pair) error  // called with the lock held
	// ForgetPair is called when Bitrix24 refused the refresh token
	// (invalid_grant): the person must sign in again. The lock is held.
	ForgetPair(ctx context.Context) error
	String() string
}

// ErrSignedOut is ForUser's error when the store holds no pair.
var ErrSignedOut = errors.New("bitrix: no Bitrix24 sign-in for this person")

// ForUser returns a client acting with the pair in store. It shares this
// client's rate limit, method pauses, HTTP client, observer and wait notices
// (the portal's limit is one bucket however many people call), and has its
// own batching queue (a batch runs as one person). c must be an OAuth client:
// its application's id and secret refresh the pair.
func (c *Client) ForUser(ctx context.Context, store PairStore) (*Client, error) {
	if c.oauth == nil {
		return nil, errors.New("bitrix: per-person sign-in needs the OAuth application's credentials, not a webhook")
	}
	p, err := store.LoadPair(ctx)
	if err != nil {
		return nil, err
	}
	if p == nil || p.RefreshToken == "" {
		return nil, ErrSignedOut
	}
	cfg := c.oauth.cfg
	cfg.AccessToken, cfg.RefreshToken, cfg.TokenFile = "", "", ""
	u := &Client{cfg: c.cfg, bucket: c.bucket, pauses: c.pauses, log: c.log, parent: c}
	u.secrets.add(c.cfg.BotToken.Reveal(), c.cfg.BotClientID.Reveal(), cfg.ClientSecret.Reveal())
	o := pairState(cfg, &u.secrets, c.oauth.http, c.log)
	o.store, o.perUser, o.observe = pairStore{store}, true, c.oauth.observe
	u.secrets.add(p.AccessToken.Reveal(), p.RefreshToken.Reveal())
	o.adopt(p.tokenFile())
	u.oauth = o
	return u, nil
}

func (p Pair) tokenFile() *tokenFile {
	return &tokenFile{AccessToken: p.AccessToken.Reveal(), RefreshToken: p.RefreshToken.Reveal(), ClientEndpoint: p.ClientEndpoint,
		TokenURL: p.TokenURL, UserID: p.UserID, ExpiresAt: p.ExpiresAt}
}

// pairStore lets the refresh code keep a person's pair as it keeps the
// token file's.
type pairStore struct{ s PairStore }

func (s pairStore) String() string                           { return s.s.String() }
func (s pairStore) lock(ctx context.Context) (func(), error) { return s.s.LockPair(ctx) }
func (s pairStore) forget(ctx context.Context) error         { return s.s.ForgetPair(ctx) }

func (s pairStore) read(ctx context.Context) (*tokenFile, error) {
	p, err := s.s.LoadPair(ctx)
	if err != nil || p == nil {
		return nil, err
	}
	return p.tokenFile(), nil
}

func (s pairStore) write(ctx context.Context, f tokenFile) error {
	return s.s.SavePair(ctx, Pair{AccessToken: Secret(f.AccessToken), RefreshToken: Secret(f.RefreshToken), ClientEndpoint: f.ClientEndpoint,
		TokenURL: f.TokenURL, UserID: f.UserID, ExpiresAt: f.ExpiresAt})
}

// forgetter is a store that drops a pair Bitrix24 no longer honours.
type forgetter interface {
	forget(ctx context.Context) error
}

// SignedOut reports whether err means the person's Bitrix24 sign-in is gone
// (revoked, or its refresh token refused): they must sign in again.
func SignedOut(err error) bool {
	if errors.Is(err, ErrSignedOut) {
		return true
	}
	e, ok := AsError(err)
	return ok && e.Method == "oauth/token" && e.Code == CodeInvalidGrant
}

// String names whose pair it is, never a token.
func (p Pair) String() string { return fmt.Sprintf("bitrix.Pair{user: %d}", p.UserID) }
