package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Our tokens are self-describing and signed (HMAC-SHA256 with keys derived
// from MCP_STATE_KEY), so checking one needs no store round trip, and a
// refresh token says which sign-in it belongs to and which rotation it is.
// The key ring holds the current key, which signs and seals, and during a
// rotation the previous one, which still verifies and opens: changing
// MCP_STATE_KEY with MCP_STATE_KEY_PREVIOUS set signs nobody out.

const (
	accessPrefix  = "b24mcp_at."
	refreshPrefix = "b24mcp_rt."
)

// b64 decodes strictly: a token with altered padding bits is not ours.
var b64 = base64.RawURLEncoding.Strict()

type keyRing struct {
	keys []ringKey // current first
}

type ringKey struct {
	access, refresh []byte
	seal            cipher.AEAD
}

func newKeyRing(current []byte, previous ...[]byte) (*keyRing, error) {
	k := &keyRing{}
	for _, key := range append([][]byte{current}, previous...) {
		if len(key) < 32 {
			return nil, errors.New("MCP_STATE_KEY: sign-in needs a 32-byte key to sign tokens and seal Bitrix24 tokens (openssl rand -hex 32)")
		}
		block, err := aes.NewCipher(derive(key, "sign-in records"))
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, ringKey{access: derive(key, "access tokens"), refresh: derive(key, "refresh tokens"), seal: aead})
	}
	return k, nil
}

// derive makes a key for one purpose from MCP_STATE_KEY.
func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bitrix24-chat-mcp " + purpose))
	return m.Sum(nil)
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// sign makes prefix.body.mac of v with the current key.
func (k *keyRing) sign(prefix string, key func(ringKey) []byte, v any) string {
	payload, _ := json.Marshal(v)
	body := b64.EncodeToString(payload)
	return prefix + body + "." + b64.EncodeToString(mac(key(k.keys[0]), body))
}

// verify checks prefix.body.mac with any key of the ring and decodes body
// into v.
func (k *keyRing) verify(token, prefix string, key func(ringKey) []byte, v any) bool {
	rest, ok := strings.CutPrefix(token, prefix)
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || len(token) > 2048 {
		return false
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return false
	}
	if !slices.ContainsFunc(k.keys, func(rk ringKey) bool { return hmac.Equal(got, mac(key(rk), body)) }) {
		return false
	}
	payload, err := b64.DecodeString(body)
	return err == nil && json.Unmarshal(payload, v) == nil
}

func accessKey(k ringKey) []byte  { return k.access }
func refreshKey(k ringKey) []byte { return k.refresh }

// seal seals a person's record with AES-256-GCM under the current key,
// bound to where it is stored: a copy of the store holds no Bitrix24 token,
// and a record moved elsewhere does not open.
func (k *keyRing) seal(plain []byte, where string) []byte {
	aead := k.keys[0].seal
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, []byte(where))
}

// errSealedElsewhere: a record sealed under a key no longer in the ring
// (MCP_STATE_KEY changed without MCP_STATE_KEY_PREVIOUS).
var errSealedElsewhere = errors.New("a sign-in record does not open with MCP_STATE_KEY: another key sealed it")

// open opens a record sealed by any key of the ring; current reports
// whether it was the current key (else the record wants sealing again).
func (k *keyRing) open(sealed []byte, where string) (plain []byte, current bool, err error) {
	for i, rk := range k.keys {
		n := rk.seal.NonceSize()
		if len(sealed) < n {
			return nil, false, errors.New("a sealed sign-in record is damaged")
		}
		if plain, err := rk.seal.Open(nil, sealed[:n], sealed[n:], []byte(where)); err == nil {
			return plain, i == 0, nil
		}
	}
	return nil, false, errSealedElsewhere
}

// claims are what an access token says.
type claims struct {
	UserID   int    `json:"u"`
	Grant    string `json:"g"`
	ClientID string `json:"c"`
	Scope    string `json:"s"`
	Audience string `json:"a"`
	Expires  int64  `json:"x"`
}

var (
	errNotOurs       = errors.New("the token is not one this server issued")
	errExpired       = errors.New("the token expired")
	errOtherAudience = errors.New("the token was issued for another server")
)

func (s *Server) mint(c claims) string { return s.keys.sign(accessPrefix, accessKey, c) }

// parse checks a token's signature, expiry and audience. An expired one's
// claims come with errExpired (revocation still honours it).
func (s *Server) parse(token string) (*claims, error) {
	var c claims
	if !s.keys.verify(token, accessPrefix, accessKey, &c) || c.UserID <= 0 || c.Grant == "" {
		return nil, errNotOurs
	}
	if c.Audience != s.issuer {
		return nil, errOtherAudience
	}
	if s.now().Unix() >= c.Expires {
		return &c, errExpired
	}
	return &c, nil
}

// refreshClaims are what a refresh token says: whose sign-in it is, at
// which rotation, for which server. The grant keeps the hash of its
// current token; a verified token that is not current was rotated out.
type refreshClaims struct {
	UserID   int    `json:"u"`
	Grant    string `json:"g"`
	Seq      int    `json:"n"`
	Audience string `json:"a"`
	Nonce    string `json:"r"`
}

func (s *Server) mintRefresh(uid int, grantID string, seq int) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	return s.keys.sign(refreshPrefix, refreshKey, refreshClaims{UserID: uid, Grant: grantID, Seq: seq, Audience: s.issuer, Nonce: hex.EncodeToString(nonce)})
}

// parseRefresh checks a refresh token's signature; ok is false for
// anything this server (with this key ring) did not issue.
func (s *Server) parseRefresh(token string) (*refreshClaims, bool) {
	var c refreshClaims
	if !s.keys.verify(token, refreshPrefix, refreshKey, &c) || c.UserID <= 0 || c.Grant == "" {
		return nil, false
	}
	return &c, true
}

// Identity is who a request acts as: a person, through a client, with scopes.
type Identity struct {
	UserID   int    // the person's Bitrix24 user id
	ClientID string // the MCP client's OAuth client id
	Grant    string // the grant the token descends from
	Scopes   []string
}

// CanWrite reports whether the token may change chats.
func (id *Identity) CanWrite() bool { return slices.Contains(id.Scopes, ScopeWrite) }

func (c *claims) identity() *Identity {
	return &Identity{UserID: c.UserID, ClientID: c.ClientID, Grant: c.Grant, Scopes: strings.Fields(c.Scope)}
}

// expiresAt is when a token minted now expires.
func (s *Server) expiresAt() time.Time { return s.now().Add(accessTTL) }

// digest is how codes and refresh tokens are looked up and compared: by
// hash, so the store never holds one that works.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomToken is 32 random bytes, URL-safe.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
