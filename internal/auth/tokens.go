package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Our access tokens are signed (HMAC-SHA256 with a key derived from
// MCP_STATE_KEY), so checking one needs no store round trip: any replica
// with the key checks it in microseconds. They live accessTTL; revocation
// reaches them through the grant they name (bearer.go).

const accessPrefix = "b24mcp_at."

// claims are what an access token says.
type claims struct {
	UserID   int    `json:"u"`
	Grant    string `json:"g"`
	ClientID string `json:"c"`
	Scope    string `json:"s"`
	Audience string `json:"a"`
	Expires  int64  `json:"x"`
}

func (s *Server) mint(c claims) string {
	payload, _ := json.Marshal(c)
	body := base64.RawURLEncoding.EncodeToString(payload)
	return accessPrefix + body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body))
}

func (s *Server) mac(body string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(body))
	return m.Sum(nil)
}

var (
	errNotOurs       = errors.New("the token is not one this server issued")
	errExpired       = errors.New("the token expired")
	errOtherAudience = errors.New("the token was issued for another server")
)

// parse checks a token's signature, expiry and audience. An expired one's
// claims come with errExpired (revocation still honours it).
func (s *Server) parse(token string) (*claims, error) {
	rest, ok := strings.CutPrefix(token, accessPrefix)
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return nil, errNotOurs
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(body)) {
		return nil, errNotOurs
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errNotOurs
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.UserID <= 0 || c.Grant == "" {
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
