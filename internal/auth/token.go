package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// token is the token endpoint: an authorization code (with its PKCE
// verifier) or a refresh token for an access token and a new refresh token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with a form body")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok && clientID == "" {
		// RFC 6749 2.3.1: the id is form-encoded before Basic encoding.
		if unescaped, err := url.QueryUnescape(id); err == nil {
			clientID = unescaped
		}
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch f.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(ctx, w, clientID, f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier"), f.Get("resource"))
	case "refresh_token":
		s.exchangeRefresh(ctx, w, clientID, f.Get("refresh_token"), f.Get("scope"), f.Get("resource"))
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "use authorization_code or refresh_token")
	}
}

// refused answers a refused exchange, counted.
func (s *Server) refused(w http.ResponseWriter, code, description string) {
	s.event("refused")
	oauthError(w, http.StatusBadRequest, code, description)
}

func (s *Server) exchangeCode(ctx context.Context, w http.ResponseWriter, clientID, code, redirect, verifier, resource string) {
	if code == "" || verifier == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "code and code_verifier are required")
		return
	}
	raw, err := s.cfg.Store.Take(ctx, kindCode, digest(code))
	if err != nil {
		storeDown(w)
		return
	}
	var c issued
	if raw == nil || json.Unmarshal(raw, &c) != nil {
		s.codeReused(ctx, code)
		s.refused(w, "invalid_grant", "the code is unknown, expired (it lives a minute) or already used")
		return
	}
	challenge := sha256.Sum256([]byte(verifier))
	switch {
	case clientID != c.ClientID:
		s.refused(w, "invalid_grant", "the code was issued to another client")
		return
	case redirect != c.RedirectURI:
		s.refused(w, "invalid_grant", "redirect_uri differs from the one the code was issued for")
		return
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(challenge[:])), []byte(c.Challenge)) != 1:
		s.refused(w, "invalid_grant", "code_verifier does not match the code_challenge (PKCE)")
		return
	case resource != "" && resource != c.Resource:
		s.refused(w, "invalid_target", "resource differs from the one the code was issued for")
		return
	}
	unlock, err := s.lockUser(ctx, c.UserID)
	if err != nil {
		storeDown(w)
		return
	}
	defer unlock()
	rec, err := s.loadRecord(ctx, c.UserID)
	if err != nil || rec == nil || rec.Pair == nil {
		s.refused(w, "invalid_grant", "the Bitrix24 sign-in behind this code is gone; sign in again")
		return
	}
	grantID := randomToken("")[:22]
	refresh := randomToken("b24mcp_rt_")
	rec.Grants[grantID] = &grant{ClientID: c.ClientID, Client: c.ClientName, Scope: c.Scope, Refresh: digest(refresh), Created: s.now().UTC()}
	if err := s.saveRecord(ctx, c.UserID, rec); err != nil || s.putRefresh(ctx, refresh, refreshRecord{UserID: c.UserID, Grant: grantID}) != nil {
		storeDown(w)
		return
	}
	used, _ := json.Marshal(refreshRecord{UserID: c.UserID, Grant: grantID})
	_ = s.cfg.Store.Put(ctx, kindUsed, digest(code), used, pendingTTL)
	s.event("sign_in")
	s.audit(audit.Entry{Event: audit.SignIn, UserID: userKey(c.UserID), ClientID: c.ClientID, Client: c.ClientName, Outcome: "done", Reason: "scope " + c.Scope})
	s.log.Info("a person signed in", "user_id", c.UserID, "client_id", c.ClientID, "scope", c.Scope)
	s.issue(w, c.UserID, grantID, c.ClientID, c.Scope, refresh)
}

// codeReused revokes what a code already bought when it is shown again
// (RFC 6749 4.1.2: it may have leaked).
func (s *Server) codeReused(ctx context.Context, code string) {
	raw, _ := s.cfg.Store.Take(ctx, kindUsed, digest(code))
	var u refreshRecord
	if raw == nil || json.Unmarshal(raw, &u) != nil {
		return
	}
	if unlock, err := s.lockUser(ctx, u.UserID); err == nil {
		_ = s.revokeGrant(ctx, u.UserID, u.Grant, "an authorization code was used twice")
		unlock()
	}
}

func (s *Server) exchangeRefresh(ctx context.Context, w http.ResponseWriter, clientID, refresh, scope, resource string) {
	if refresh == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
		return
	}
	if resource != "" && !s.resource[resource] {
		s.refused(w, "invalid_target", "resource is not this server")
		return
	}
	raw, err := s.cfg.Store.Get(ctx, kindRefresh, digest(refresh))
	var rr refreshRecord
	if err != nil {
		storeDown(w)
		return
	}
	if raw == nil || json.Unmarshal(raw, &rr) != nil {
		s.refused(w, "invalid_grant", "the refresh token is unknown, expired or revoked; sign in again")
		return
	}
	unlock, err := s.lockUser(ctx, rr.UserID)
	if err != nil {
		storeDown(w)
		return
	}
	defer unlock()
	// Read again under the lock: a refresh that ran meanwhile used it.
	raw, err = s.cfg.Store.Get(ctx, kindRefresh, digest(refresh))
	if err != nil || raw == nil || json.Unmarshal(raw, &rr) != nil {
		s.refused(w, "invalid_grant", "the refresh token is unknown, expired or revoked; sign in again")
		return
	}
	rec, err := s.loadRecord(ctx, rr.UserID)
	if err != nil {
		storeDown(w)
		return
	}
	var g *grant
	if rec != nil {
		g = rec.Grants[rr.Grant]
	}
	switch {
	case g == nil:
		s.refused(w, "invalid_grant", "this sign-in was revoked; sign in again")
		return
	case rr.Used || g.Refresh != digest(refresh):
		// A rotated-out refresh token came back: someone kept a copy.
		_ = s.revokeGrant(ctx, rr.UserID, rr.Grant, "a refresh token was used twice")
		s.refused(w, "invalid_grant", "the refresh token was already used; the sign-in is revoked; sign in again")
		return
	case g.ClientID != clientID:
		s.refused(w, "invalid_grant", "the refresh token was issued to another client")
		return
	}
	granted := g.Scope
	if scope != "" {
		asked, bad := unknownScope(scope)
		for _, sc := range asked {
			if !slices.Contains(strings.Fields(g.Scope), sc) {
				bad = sc
			}
		}
		if bad != "" {
			s.refused(w, "invalid_scope", "a refresh cannot widen the granted scope ("+g.Scope+")")
			return
		}
		if len(asked) > 0 {
			granted = strings.Join(asked, " ")
		}
	}
	next := randomToken("b24mcp_rt_")
	g.Refresh = digest(next)
	rr.Used = true
	usedRaw, _ := json.Marshal(rr)
	if err := s.saveRecord(ctx, rr.UserID, rec); err != nil ||
		s.cfg.Store.Put(ctx, kindRefresh, digest(refresh), usedRaw, refreshTTL) != nil ||
		s.putRefresh(ctx, next, refreshRecord{UserID: rr.UserID, Grant: rr.Grant}) != nil {
		storeDown(w)
		return
	}
	s.event("refresh")
	s.issue(w, rr.UserID, rr.Grant, g.ClientID, granted, next)
}

func (s *Server) putRefresh(ctx context.Context, token string, rr refreshRecord) error {
	raw, _ := json.Marshal(rr)
	return s.cfg.Store.Put(ctx, kindRefresh, digest(token), raw, refreshTTL)
}

func (s *Server) issue(w http.ResponseWriter, uid int, grantID, clientID, scope, refresh string) {
	access := s.mint(claims{UserID: uid, Grant: grantID, ClientID: clientID, Scope: scope, Audience: s.issuer, Expires: s.expiresAt().Unix()})
	s.live.Store(grantID, s.now().Add(liveFor))
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(accessTTL.Seconds()),
		"refresh_token": refresh, "scope": scope})
}

// revoke is RFC 7009's endpoint: a refresh or access token ends its grant.
// It answers 200 whatever the token was, as the RFC says.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with a form body")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	uid, grantID := 0, ""
	if c, err := s.parse(tok); c != nil && (err == nil || err == errExpired) {
		uid, grantID = c.UserID, c.Grant
	}
	if uid == 0 && tok != "" {
		if raw, _ := s.cfg.Store.Get(ctx, kindRefresh, digest(tok)); raw != nil {
			var rr refreshRecord
			if json.Unmarshal(raw, &rr) == nil {
				uid, grantID = rr.UserID, rr.Grant
			}
		}
	}
	if uid > 0 {
		if unlock, err := s.lockUser(ctx, uid); err == nil {
			_ = s.revokeGrant(ctx, uid, grantID, "the client revoked its token")
			unlock()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// SignOut ends every sign-in of the request's person and forgets their
// Bitrix24 pair (POST /signout with their bearer token).
func (s *Server) SignOut(w http.ResponseWriter, r *http.Request) {
	id := FromContext(r.Context())
	if r.Method != http.MethodPost || id == nil {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST with your bearer token signs you out everywhere")
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	unlock, err := s.lockUser(ctx, id.UserID)
	if err != nil {
		storeDown(w)
		return
	}
	defer unlock()
	if err := s.revokeUser(ctx, id.UserID, "signed out at the server"); err != nil {
		storeDown(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"signed_out": true, "bitrix24_user_id": id.UserID})
}
