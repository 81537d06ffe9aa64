package auth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// The token endpoint (an authorization code, with its PKCE verifier, or a
// refresh token, for an access token and a new refresh token), revocation
// (RFC 7009) and sign-out. exchange, refresh and revokeToken do the work
// without HTTP; the handlers read the form and render.

// tokenRequest is a /token (or /revoke) form.
type tokenRequest struct {
	grantType     string
	clientID      string
	code          string
	redirectURI   string
	redirectGiven bool
	verifier      string
	resource      string
	refresh       string
	scope         string
	token         string // /revoke
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// exchange trades our authorization code for the first tokens of a new
// grant, kept in one write of the person's record.
func (s *Server) exchange(ctx context.Context, req tokenRequest) (*tokenResponse, error) {
	if req.code == "" || req.verifier == "" {
		return nil, invalidRequest("code and code_verifier are required")
	}
	c, err := s.records.takeCode(ctx, req.code)
	if err != nil {
		return nil, err
	}
	if c == nil {
		s.codeReused(ctx, req.code)
		return nil, invalidGrant("the code is unknown, expired (it lives a minute) or already used")
	}
	switch {
	case !s.resource[c.Resource]:
		return nil, invalidGrant("the code was issued by another server; sign in here")
	case req.clientID != c.ClientID:
		return nil, invalidGrant("the code was issued to another client")
	case req.redirectGiven && req.redirectURI != c.RedirectURI:
		return nil, invalidGrant("redirect_uri differs from the one the code was issued for")
	case !req.redirectGiven && c.RedirectGiven:
		return nil, invalidRequest("redirect_uri is required: the authorization request named one")
	case req.resource == "":
		return nil, invalidRequest("resource is required (RFC 8707): send this server's URL, %s/mcp", s.issuer)
	case req.resource != c.Resource:
		return nil, invalidTarget("resource differs from the one the code was issued for")
	}
	if err := checkVerifier(req.verifier, c.Challenge); err != nil {
		return nil, err
	}
	unlock, err := s.records.lockPerson(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := s.records.person(ctx, c.UserID)
	if errors.Is(err, errSealedElsewhere) || err == nil && (rec == nil || rec.Pair == nil) {
		return nil, invalidGrant("the Bitrix24 sign-in behind this code is gone; sign in again")
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	grantID := randomToken("")[:22]
	refresh := s.mintRefresh(c.UserID, grantID, 1)
	rec.Grants[grantID] = &grant{ClientID: c.ClientID, Client: c.ClientName, Scope: c.Scope, Resource: s.issuer,
		Refresh: digest(refresh), Seq: 1, Created: now, Used: now}
	if err := s.records.savePerson(ctx, c.UserID, rec, 0); err != nil {
		return nil, err
	}
	if err := s.records.putUsedCode(ctx, req.code, usedCode{UserID: c.UserID, Grant: grantID}); err != nil {
		s.log.Warn("could not remember an exchanged code (its reuse will not revoke the sign-in)", "error", err)
	}
	if err := s.trustClient(ctx, c.ClientID); err != nil {
		s.log.Warn("could not renew a client's registration", "client_id", c.ClientID, "error", err)
	}
	s.event("sign_in")
	s.audit(audit.Entry{Event: audit.SignIn, UserID: userKey(c.UserID), ClientID: c.ClientID, Client: c.ClientName, Outcome: "done", Reason: "scope " + c.Scope})
	s.log.Info("a person signed in", "user_id", c.UserID, "client_id", c.ClientID, "scope", c.Scope)
	return s.issue(c.UserID, grantID, c.ClientID, c.Scope, refresh), nil
}

// codeReused revokes what a code already bought when it is shown again
// (RFC 6749 4.1.2: it may have leaked).
func (s *Server) codeReused(ctx context.Context, code string) {
	u, err := s.records.takeUsedCode(ctx, code)
	if err != nil || u == nil {
		return
	}
	unlock, err := s.records.lockPerson(ctx, u.UserID)
	if err == nil {
		err = s.revokeGrant(ctx, u.UserID, u.Grant, "an authorization code was used twice")
		unlock()
	}
	if err != nil {
		s.log.Error("could not revoke a sign-in whose code was used twice", "user_id", u.UserID, "error", err)
	}
}

// refresh rotates a grant's refresh token in one write of the person's
// record: the grant keeps the new token's hash and rotation. A token that
// verifies but is not the grant's current one was rotated out: someone
// kept a copy, and the grant is revoked.
func (s *Server) refresh(ctx context.Context, req tokenRequest) (*tokenResponse, error) {
	if req.refresh == "" {
		return nil, invalidRequest("refresh_token is required")
	}
	if req.resource != "" && !s.resource[req.resource] {
		return nil, invalidTarget("resource is not this server")
	}
	rc, ok := s.parseRefresh(req.refresh)
	switch {
	case !ok:
		return nil, invalidGrant("the refresh token is unknown, expired or revoked; sign in again")
	case rc.Audience != s.issuer:
		return nil, invalidGrant("the refresh token was issued by another server; sign in again here")
	}
	unlock, err := s.records.lockPerson(ctx, rc.UserID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := s.records.person(ctx, rc.UserID)
	if errors.Is(err, errSealedElsewhere) {
		return nil, invalidGrant("this sign-in was made under another MCP_STATE_KEY; sign in again")
	}
	if err != nil {
		return nil, err
	}
	var g *grant
	if rec != nil {
		g = rec.Grants[rc.Grant]
	}
	switch {
	case g == nil:
		return nil, invalidGrant("this sign-in was revoked or has expired; sign in again")
	case digest(req.refresh) != g.Refresh && rc.Seq < g.Seq:
		if err := s.revokeGrant(ctx, rc.UserID, rc.Grant, "a refresh token was used twice"); err != nil {
			return nil, err
		}
		return nil, invalidGrant("the refresh token was already used; the sign-in is revoked; sign in again")
	case digest(req.refresh) != g.Refresh:
		return nil, invalidGrant("the refresh token is unknown, expired or revoked; sign in again")
	case g.ClientID != req.clientID:
		return nil, invalidGrant("the refresh token was issued to another client")
	}
	scope, err := narrowScopes(g.Scope, req.scope)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if now.Sub(g.Window) >= s.limits.RefreshWindow {
		g.Window, g.Refreshes = now, 0
	}
	if g.Refreshes >= s.limits.RefreshesPerGrant {
		return nil, tooMany("refreshes of one sign-in", g.Window.Add(s.limits.RefreshWindow).Sub(now))
	}
	g.Refreshes++
	g.Seq++
	next := s.mintRefresh(rc.UserID, rc.Grant, g.Seq)
	g.Refresh, g.Used = digest(next), now
	if err := s.records.savePerson(ctx, rc.UserID, rec, 0); err != nil {
		return nil, err // nothing changed: the token shown is still the current one
	}
	s.event("refresh")
	return s.issue(rc.UserID, rc.Grant, g.ClientID, scope, next), nil
}

func (s *Server) issue(uid int, grantID, clientID, scope, refresh string) *tokenResponse {
	access := s.mint(claims{UserID: uid, Grant: grantID, ClientID: clientID, Scope: scope, Audience: s.issuer, Expires: s.expiresAt().Unix()})
	s.live.mark(grantID, s.now())
	return &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(accessTTL.Seconds()), RefreshToken: refresh, Scope: scope}
}

// revokeToken ends the grant of an access or refresh token, only for the
// client it was issued to. A token this server does not know is no error
// (RFC 7009 2.2).
func (s *Server) revokeToken(ctx context.Context, token, clientID string) error {
	if clientID == "" {
		return invalidRequest("client_id is required: a token is revoked for the client it was issued to")
	}
	uid, grantID, issuedTo := 0, "", ""
	if c, err := s.parse(token); c != nil && (err == nil || errors.Is(err, errExpired)) {
		uid, grantID, issuedTo = c.UserID, c.Grant, c.ClientID
	} else if rc, ok := s.parseRefresh(token); ok && rc.Audience == s.issuer {
		uid, grantID = rc.UserID, rc.Grant
	}
	if uid == 0 {
		return nil
	}
	unlock, err := s.records.lockPerson(ctx, uid)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.records.person(ctx, uid)
	if errors.Is(err, errSealedElsewhere) {
		return nil // nothing of it works any more
	}
	if err != nil {
		return err
	}
	if rec == nil || rec.Grants[grantID] == nil {
		return nil
	}
	if issuedTo == "" {
		issuedTo = rec.Grants[grantID].ClientID
	}
	if issuedTo != clientID {
		return invalidClient("the token was issued to another client")
	}
	return s.revokeGrant(ctx, uid, grantID, "the client revoked its token")
}

// HTTP.

// tokenForm reads a /token or /revoke body: a form of at most 64 KiB in
// which no parameter is repeated (RFC 6749 3.2).
func tokenForm(w http.ResponseWriter, r *http.Request) (tokenRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return tokenRequest{}, invalidRequest("the body is not a form")
	}
	f := r.PostForm
	for k, v := range f {
		if len(v) > 1 {
			return tokenRequest{}, invalidRequest("the parameter %s is repeated", truncate(k, 40))
		}
	}
	req := tokenRequest{grantType: f.Get("grant_type"), clientID: f.Get("client_id"), code: f.Get("code"), redirectURI: f.Get("redirect_uri"),
		redirectGiven: f.Has("redirect_uri"), verifier: f.Get("code_verifier"), resource: f.Get("resource"), refresh: f.Get("refresh_token"),
		scope: f.Get("scope"), token: f.Get("token")}
	if id, _, ok := r.BasicAuth(); ok && req.clientID == "" {
		// RFC 6749 2.3.1: the id is form-encoded before Basic encoding.
		if unescaped, err := url.QueryUnescape(id); err == nil {
			req.clientID = unescaped
		}
	}
	return req, nil
}

// token is the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	resp, err := s.tokenRequest(w, r)
	if err != nil {
		var e *oauthError
		if errors.As(err, &e) && e.status < 500 && e.status != http.StatusTooManyRequests {
			s.event("refused")
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, refusal(http.StatusMethodNotAllowed, "invalid_request", "use POST with a form body")
	}
	if ok, wait := s.tokens.allow(s.source(r)); !ok {
		return nil, tooMany("token requests", wait)
	}
	req, err := tokenForm(w, r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch req.grantType {
	case "authorization_code":
		return s.exchange(ctx, req)
	case "refresh_token":
		return s.refresh(ctx, req)
	case "":
		return nil, invalidRequest("grant_type is required")
	}
	return nil, refusal(http.StatusBadRequest, "unsupported_grant_type", "use authorization_code or refresh_token")
}

// revoke is RFC 7009's endpoint. A store that fails is a 503 (the client
// must not believe it signed out); a token it does not know, a 200.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			return refusal(http.StatusMethodNotAllowed, "invalid_request", "use POST with a form body")
		}
		if ok, wait := s.tokens.allow(s.source(r)); !ok {
			return tooMany("token requests", wait)
		}
		req, err := tokenForm(w, r)
		if err != nil {
			return err
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		return s.revokeToken(ctx, strings.TrimSpace(req.token), req.clientID)
	}()
	if err != nil {
		s.writeError(w, r, err)
		return
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
		s.writeError(w, r, refusal(http.StatusMethodNotAllowed, "invalid_request", "POST with your bearer token signs you out everywhere"))
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if _, err := s.SignOutPerson(ctx, id.UserID, "signed out at the server"); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"signed_out": true, "bitrix24_user_id": id.UserID})
}
