package auth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// The browser's part of a sign-in: /authorize checks the request and shows
// the consent page; /authorize/consent takes the person's answer and sends
// them to Bitrix24; /callback takes Bitrix24's code, trades it at once,
// and sends our code back to the client. Each handler reads HTTP and
// renders; the work is in checkAuthorize, allowSignIn and finishSignIn.

// maxParam caps what an authorization request may make the server keep
// (state, and the rest) or show.
const maxParam = 512

// authorizeRequest is a checked authorization request.
type authorizeRequest struct {
	client *client
	p      pending
	scopes []string
}

// checkAuthorize checks an authorization request, in an order that keeps
// strangers cheap: the sign-in limit first, then the client (which may
// mean fetching its document, within the documents limit), then the rest.
// to is where an error may go back to: nowhere until the client and its
// redirect URI are known good and a person has consented to the client
// before.
func (s *Server) checkAuthorize(ctx context.Context, q url.Values, source netip.Prefix) (ar *authorizeRequest, to *backTo, err error) {
	if ok, wait := s.signins.allow(source); !ok {
		return nil, nil, tooMany("sign-ins started", wait)
	}
	for k, v := range q {
		if len(v) > 1 {
			return nil, nil, invalidRequest("the parameter %s is repeated", truncate(k, 40))
		}
		if len(v[0]) > maxParam && k != "client_id" {
			return nil, nil, invalidRequest("the parameter %s is longer than %d bytes", truncate(k, 40), maxParam)
		}
	}
	redirect, state := q.Get("redirect_uri"), q.Get("state")
	c, err := s.lookupClient(ctx, q.Get("client_id"), source)
	if err != nil {
		// A client listening on this machine whose document could not be
		// fetched is told so (the code goes nowhere else): it stops waiting.
		if strings.HasPrefix(q.Get("client_id"), "https://") && strings.HasPrefix(redirect, "http://") && checkRedirectURI(redirect) == nil {
			return nil, &backTo{uri: redirect, state: state}, err
		}
		return nil, nil, err
	}
	given := redirect != ""
	if !given && len(c.RedirectURIs) == 1 && !strings.HasPrefix(c.RedirectURIs[0], "http://") {
		redirect = c.RedirectURIs[0]
	}
	if redirect == "" || !c.allows(redirect) {
		return nil, nil, invalidRequest("redirect_uri %q is not one the client %q registered", truncate(redirect, 100), truncate(c.ID, 100))
	}
	t, err := s.records.trusted(ctx, c.ID)
	if err != nil {
		return nil, nil, err
	}
	if t != nil {
		to = &backTo{uri: redirect, state: state}
	}
	p := pending{ClientID: c.ID, ClientName: c.Name, RedirectURI: redirect, RedirectGiven: given, State: state,
		Challenge: q.Get("code_challenge"), Resource: q.Get("resource")}
	if q.Get("response_type") != "code" {
		return nil, to, refusal(http.StatusBadRequest, "unsupported_response_type", "response_type must be code")
	}
	if err := checkChallenge(p.Challenge, q.Get("code_challenge_method")); err != nil {
		return nil, to, err
	}
	switch {
	case p.Resource == "":
		return nil, to, invalidRequest("resource is required (RFC 8707): send this server's URL, %s/mcp", s.issuer)
	case !s.resource[p.Resource]:
		return nil, to, invalidTarget("resource %q is not this server: use %s/mcp", truncate(p.Resource, 100), s.issuer)
	}
	scopes, err := grantedScopes(q.Get("scope"), q.Has("scope"))
	if err != nil {
		return nil, to, err
	}
	p.Scope = strings.Join(scopes, " ")
	return &authorizeRequest{client: c, p: p, scopes: scopes}, to, nil
}

// startSignIn keeps a checked request until the person answers the
// consent page, bound to their browser (browser is the cookie's value).
func (s *Server) startSignIn(ctx context.Context, ar *authorizeRequest, browser string) (id string, err error) {
	ar.p.Browser = digest(browser)
	id = randomToken("")
	return id, s.records.putPending(ctx, id, &ar.p)
}

// pendingFor reads a sign-in in flight, checking first that this browser
// started it: another browser learns nothing and changes nothing.
func (s *Server) pendingFor(ctx context.Context, id, browser string) (*pending, error) {
	gone := refusal(http.StatusBadRequest, "invalid_request",
		"this sign-in is unknown or expired (it lasts %d minutes); start again from your MCP client", int(pendingTTL.Minutes()))
	if id == "" || len(id) > 100 {
		return nil, gone
	}
	p, err := s.records.pending(ctx, id)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, gone
	}
	if browser == "" || subtle.ConstantTimeCompare([]byte(digest(browser)), []byte(p.Browser)) != 1 {
		return nil, refusal(http.StatusBadRequest, "invalid_request", "this sign-in was started in another browser; start again from your MCP client")
	}
	return p, nil
}

// allowSignIn records the person's consent, trusts the client from now on
// (its errors may go back to it), and says where Bitrix24's sign-in is.
func (s *Server) allowSignIn(ctx context.Context, id string, p *pending) (string, error) {
	p.Consented = true
	if err := s.records.putPending(ctx, id, p); err != nil {
		return "", err
	}
	if err := s.trustClient(ctx, p.ClientID); err != nil {
		return "", err
	}
	return s.upstream.AuthorizeURL(id)
}

// trustClient marks a client a person consented to, and keeps its
// registration for clientIdle.
func (s *Server) trustClient(ctx context.Context, clientID string) error {
	now := s.now().UTC()
	t, err := s.records.trusted(ctx, clientID)
	if err != nil {
		return err
	}
	if t == nil {
		t = &trust{Since: now}
	} else if now.Sub(t.Renewed) < renewEvery {
		return nil
	}
	t.Renewed = now
	if err := s.records.putTrust(ctx, clientID, t); err != nil {
		return err
	}
	if strings.HasPrefix(clientID, "https://") {
		return nil
	}
	c, err := s.records.client(ctx, clientID)
	if err != nil || c == nil {
		return err
	}
	return s.records.putClient(ctx, c, true)
}

// finishSignIn takes Bitrix24's answer for the sign-in id: the browser
// must be the one that started it (checked before the sign-in is taken, so
// another browser cannot spend it), and it must have been consented to.
// It trades the code, keeps the person's pair, and returns the client's
// redirect with our code.
func (s *Server) finishSignIn(ctx context.Context, q url.Values, browser string) (redirect string, to *backTo, err error) {
	id := q.Get("state")
	if _, err := s.pendingFor(ctx, id, browser); err != nil {
		return "", nil, err
	}
	p, err := s.records.takePending(ctx, id)
	if err != nil || p == nil {
		if err == nil {
			err = invalidRequest("this sign-in was already finished; start again from your MCP client")
		}
		return "", nil, err
	}
	if !p.Consented {
		return "", nil, invalidRequest("this sign-in was not allowed on this server's consent page; start again from your MCP client")
	}
	to = &backTo{uri: p.RedirectURI, state: p.State}
	if q.Get("error") != "" || q.Get("code") == "" {
		return "", to, accessDenied("Bitrix24 did not grant access")
	}
	g, err := s.upstream.SignIn(ctx, q.Get("code"), q.Get("domain"))
	if err != nil {
		return "", to, err
	}
	if err := s.keepPair(ctx, g); err != nil {
		return "", to, err
	}
	code := randomToken("b24mcp_code_")
	if err := s.records.putCode(ctx, code, &issued{pending: *p, UserID: g.UserID}); err != nil {
		return "", to, err
	}
	return s.withParams(p.RedirectURI, url.Values{"code": {code}, "state": {p.State}}), to, nil
}

// keepPair stores the person's new Bitrix24 pair in their record (made now
// when they had none; a first sign-in's record lives only until its code
// is exchanged, so a pair nobody finished signing in with is not kept).
func (s *Server) keepPair(ctx context.Context, g *bitrix.Grant) error {
	unlock, err := s.records.lockPerson(ctx, g.UserID)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.records.person(ctx, g.UserID)
	if err == errSealedElsewhere {
		// Sealed under a key no longer in the ring: its sign-ins are dead
		// anyway (their tokens were signed with that key too).
		s.log.Warn("replacing a sign-in record sealed under another MCP_STATE_KEY", "user_id", g.UserID)
		rec, err = nil, nil
	}
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &record{Grants: map[string]*grant{}}
	}
	rec.Pair = &pairRecord{Access: g.AccessToken.Reveal(), Refresh: g.RefreshToken.Reveal(), ClientEndpoint: g.ClientEndpoint, TokenURL: g.TokenURL}
	if g.ExpiresIn > 0 {
		rec.Pair.ExpiresAt = s.now().Add(time.Duration(g.ExpiresIn) * time.Second).UTC()
	}
	s.people.drop(g.UserID) // a client built on the old pair would refresh a dead token
	var ttl time.Duration
	if len(rec.Grants) == 0 {
		ttl = 2 * codeTTL
	}
	return s.records.savePerson(ctx, g.UserID, rec, ttl)
}

// withParams is redirect with v and iss (RFC 9207) in its query.
func (s *Server) withParams(redirect string, v url.Values) string {
	u, _ := url.Parse(redirect)
	q := u.Query()
	for k, vals := range v {
		if len(vals) > 0 && vals[0] != "" {
			q.Set(k, vals[0])
		}
	}
	q.Set("iss", s.issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// HTTP.

// consentCookie names a sign-in's cookie: one per sign-in, so two started
// in one browser (two clients) do not overwrite each other's.
func consentCookie(id string) string { return "b24mcp_signin_" + digest(id)[:12] }

func browserOf(r *http.Request, id string) string {
	if c, err := r.Cookie(consentCookie(id)); err == nil {
		return c.Value
	}
	return ""
}

// authorize is the authorization endpoint.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		s.page(w, http.StatusMethodNotAllowed, "This sign-in link is not valid", "use GET")
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	ar, to, err := s.checkAuthorize(ctx, r.URL.Query(), s.source(r))
	browser := randomToken("")
	var id string
	if err == nil {
		id, err = s.startSignIn(ctx, ar, browser)
	}
	if err != nil {
		s.fail(w, r, to, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consentCookie(id), Value: browser, Path: "/", MaxAge: int(pendingTTL.Seconds()),
		HttpOnly: true, Secure: strings.HasPrefix(s.issuer, "https://"), SameSite: http.SameSiteLaxMode})
	s.consentPage(w, ar, id)
}

// consent takes the consent form: Allow goes on to Bitrix24, Deny back to
// the client with access_denied (the person saw where it goes).
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.page(w, http.StatusMethodNotAllowed, "This sign-in cannot go on", "use POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	_ = r.ParseForm()
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	id := r.PostForm.Get("signin")
	p, err := s.pendingFor(ctx, id, browserOf(r, id))
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	back := &backTo{uri: p.RedirectURI, state: p.State}
	if r.PostForm.Get("decision") != "allow" {
		if err := s.records.deletePending(ctx, id); err != nil {
			s.fail(w, r, nil, err)
			return
		}
		s.fail(w, r, back, accessDenied("the person declined"))
		return
	}
	target, err := s.allowSignIn(ctx, id, p)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// callback is the Bitrix24 application's handler URL.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	q := r.URL.Query()
	redirect, to, err := s.finishSignIn(ctx, q, browserOf(r, q.Get("state")))
	if to != nil || err == nil {
		http.SetCookie(w, &http.Cookie{Name: consentCookie(q.Get("state")), Value: "", Path: "/", MaxAge: -1})
	}
	if err != nil {
		s.fail(w, r, to, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect, http.StatusFound)
}

// redirectTo sends the browser back to the client with v and iss.
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, redirect string, v url.Values) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.withParams(redirect, v), http.StatusFound)
}
