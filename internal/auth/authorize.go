package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// pending is a sign-in between /authorize and Bitrix24's callback. Its id
// is the consent form's and Bitrix24's state; the browser that saw the
// consent page holds a cookie whose hash it keeps, so neither the consent
// nor the callback can be replayed from another browser.
type pending struct {
	ClientID    string `json:"client_id"`
	ClientName  string `json:"client_name"`
	RedirectURI string `json:"redirect_uri"`
	State       string `json:"state"`
	Challenge   string `json:"code_challenge"`
	Resource    string `json:"resource"`
	Scope       string `json:"scope"`
	Browser     string `json:"browser"` // hash of the cookie
	Consented   bool   `json:"consented"`
}

// issued is our authorization code's record (by the code's hash).
type issued struct {
	pending
	UserID int `json:"user_id"`
}

// consentCookie names a sign-in's cookie: one per sign-in, so two started
// in one browser (two clients) do not overwrite each other's.
func consentCookie(id string) string { return "b24mcp_signin_" + digest(id)[:12] }

// authorize is the authorization endpoint. Until the client and redirect
// URI are known good, errors are shown here (RFC 6749 4.1.2.1: never
// redirect to an unchecked URI); after, they go back to the client.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	c, err := s.lookupClient(ctx, q.Get("client_id"))
	if err != nil {
		s.page(w, http.StatusBadRequest, "This sign-in link is not valid", err.Error())
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" && len(c.RedirectURIs) == 1 && !strings.HasPrefix(c.RedirectURIs[0], "http://") {
		redirect = c.RedirectURIs[0]
	}
	if redirect == "" || !c.allows(redirect) {
		s.page(w, http.StatusBadRequest, "This sign-in link is not valid",
			fmt.Sprintf("redirect_uri %q is not one the client %q registered.", redirect, c.ID))
		return
	}
	p := pending{ClientID: c.ID, ClientName: c.Name, RedirectURI: redirect, State: q.Get("state"), Challenge: q.Get("code_challenge"), Resource: q.Get("resource")}
	back := func(code, desc string) { s.redirectError(w, r, p, code, desc) }
	scopes, bad := unknownScope(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		back("unsupported_response_type", "response_type must be code")
		return
	case p.Challenge == "" || q.Get("code_challenge_method") != "S256":
		back("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
		return
	case len(p.Challenge) < 43 || len(p.Challenge) > 128:
		back("invalid_request", "code_challenge must be the base64url SHA-256 of a verifier (43 characters)")
		return
	case p.Resource == "":
		back("invalid_request", "resource is required (RFC 8707): send this server's URL, "+s.issuer+"/mcp")
		return
	case !s.resource[p.Resource]:
		back("invalid_target", fmt.Sprintf("resource %q is not this server: use %s/mcp", p.Resource, s.issuer))
		return
	case bad != "":
		back("invalid_scope", fmt.Sprintf("scope %q is not one of %s", bad, strings.Join(allScopes, ", ")))
		return
	}
	if len(scopes) == 0 {
		scopes = allScopes
	}
	if slices.Contains(scopes, ScopeWrite) && !slices.Contains(scopes, ScopeRead) {
		scopes = append([]string{ScopeRead}, scopes...) // writing needs the reads around it
	}
	p.Scope = strings.Join(scopes, " ")
	if !s.signins.Allow() {
		s.log.Warn("refused a sign-in: over the limit", "per_minute", signinsPerMinute)
		w.Header().Set("Retry-After", "10")
		s.page(w, http.StatusTooManyRequests, "Too many sign-ins at once", "Try again in a few seconds.")
		return
	}
	browser := randomToken("")
	p.Browser = digest(browser)
	id := randomToken("")
	raw, _ := json.Marshal(p)
	if err := s.cfg.Store.Put(ctx, kindPending, id, raw, pendingTTL); err != nil {
		s.page(w, http.StatusServiceUnavailable, "Sign-in is unavailable", "The sign-in store did not answer. Try again in a minute.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consentCookie(id), Value: browser, Path: "/", MaxAge: int(pendingTTL.Seconds()),
		HttpOnly: true, Secure: strings.HasPrefix(s.issuer, "https://"), SameSite: http.SameSiteLaxMode})
	s.consentPage(w, c, p, id)
}

// consent takes the consent form: Allow goes on to Bitrix24, Deny back to
// the client with access_denied.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	_ = r.ParseForm()
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	id := r.PostForm.Get("signin")
	p, err := s.pendingFor(ctx, r, id, false)
	if err != nil {
		s.page(w, http.StatusBadRequest, "This sign-in cannot go on", err.Error())
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		_ = s.cfg.Store.Delete(ctx, kindPending, id)
		s.redirectError(w, r, *p, "access_denied", "the person declined")
		return
	}
	p.Consented = true
	raw, _ := json.Marshal(p)
	if err := s.cfg.Store.Put(ctx, kindPending, id, raw, pendingTTL); err != nil {
		s.page(w, http.StatusServiceUnavailable, "Sign-in is unavailable", "The sign-in store did not answer. Try again in a minute.")
		return
	}
	target, err := bitrix.AuthorizeURL(s.cfg.App.ClientEndpoint, s.cfg.App.ClientID, id)
	if err != nil {
		s.page(w, http.StatusInternalServerError, "Sign-in is misconfigured", err.Error())
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// pendingFor reads (or, with take, takes) a pending sign-in, checking that
// this browser started it.
func (s *Server) pendingFor(ctx context.Context, r *http.Request, id string, take bool) (*pending, error) {
	get := s.cfg.Store.Get
	if take {
		get = s.cfg.Store.Take
	}
	var raw []byte
	var err error
	if id != "" && len(id) < 100 {
		raw, err = get(ctx, kindPending, id)
	}
	if err != nil {
		return nil, fmt.Errorf("the sign-in store did not answer; start again from your MCP client")
	}
	var p pending
	if raw == nil || json.Unmarshal(raw, &p) != nil {
		return nil, fmt.Errorf("this sign-in is unknown or expired (it lasts %d minutes); start again from your MCP client", int(pendingTTL.Minutes()))
	}
	cookie, err := r.Cookie(consentCookie(id))
	if err != nil || subtle.ConstantTimeCompare([]byte(digest(cookie.Value)), []byte(p.Browser)) != 1 {
		return nil, fmt.Errorf("this sign-in was started in another browser; start again from your MCP client")
	}
	return &p, nil
}

// callback is the Bitrix24 application's handler URL: Bitrix24 sends the
// browser here with a code that lives 30 seconds, which is traded at once.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	p, err := s.pendingFor(ctx, r, q.Get("state"), true)
	if err != nil {
		s.page(w, http.StatusBadRequest, "This sign-in cannot go on", err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consentCookie(q.Get("state")), Value: "", Path: "/", MaxAge: -1})
	if !p.Consented {
		s.page(w, http.StatusBadRequest, "This sign-in cannot go on", "it was not allowed on this server's consent page; start again from your MCP client")
		return
	}
	if e := q.Get("error"); e != "" || q.Get("code") == "" {
		s.redirectError(w, r, *p, "access_denied", "Bitrix24 did not grant access")
		return
	}
	if d := q.Get("domain"); d != "" && !strings.EqualFold(d, s.portal) {
		s.redirectError(w, r, *p, "access_denied", "you signed in to another Bitrix24 portal ("+d+"); this server serves "+s.portal)
		return
	}
	g, err := bitrix.ExchangeCode(ctx, s.cfg.App, s.cfg.HTTPClient, bitrix.Secret(q.Get("code")))
	if err != nil {
		s.log.Warn("Bitrix24 refused a sign-in's code", "error", err)
		s.redirectError(w, r, *p, "server_error", "Bitrix24 did not accept the sign-in; try again")
		return
	}
	if _, err := s.cfg.Base.WhoSignedIn(ctx, g); err != nil {
		s.log.Warn("could not tell who signed in (user.current)", "error", err)
		desc := "Bitrix24 did not say who signed in"
		if e, ok := bitrix.AsError(err); ok && (e.Code == bitrix.CodeInsufficientScope || e.Code == "insufficient_scope") {
			desc = "the server's Bitrix24 application lacks the user_brief scope it needs to know who signed in; tell the server's operator"
		}
		s.redirectError(w, r, *p, "server_error", desc)
		return
	}
	if err := s.keepPair(ctx, g); err != nil {
		s.log.Error("could not keep a person's Bitrix24 pair", "user_id", g.UserID, "error", err)
		s.redirectError(w, r, *p, "temporarily_unavailable", "the sign-in store did not answer; try again")
		return
	}
	code := randomToken("b24mcp_code_")
	raw, _ := json.Marshal(issued{pending: *p, UserID: g.UserID})
	if err := s.cfg.Store.Put(ctx, kindCode, digest(code), raw, codeTTL); err != nil {
		s.redirectError(w, r, *p, "temporarily_unavailable", "the sign-in store did not answer; try again")
		return
	}
	s.redirectTo(w, r, p.RedirectURI, url.Values{"code": {code}, "state": {p.State}})
}

// keepPair stores the person's new Bitrix24 pair in their record (made now
// when they had none).
func (s *Server) keepPair(ctx context.Context, g *bitrix.Grant) error {
	unlock, err := s.lockUser(ctx, g.UserID)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.loadRecord(ctx, g.UserID)
	if errors.Is(err, errSealedElsewhere) {
		// Sealed under an earlier key: its sign-ins are dead anyway (their
		// tokens were signed with that key too). Start the person afresh.
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
	plain, _ := json.Marshal(rec)
	// A first sign-in's record lives only as long as its code, until the
	// code is exchanged: a pair nobody finished signing in with is not kept.
	var ttl time.Duration
	if len(rec.Grants) == 0 {
		ttl = 2 * codeTTL
	}
	return s.cfg.Store.Put(ctx, kindUser, userKey(g.UserID), s.sealer.seal(plain, kindUser+"/"+userKey(g.UserID)), ttl)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, p pending, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}}
	if p.State != "" {
		v.Set("state", p.State)
	}
	s.redirectTo(w, r, p.RedirectURI, v)
}

// redirectTo sends the browser back to the client with iss (RFC 9207).
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, redirect string, v url.Values) {
	u, _ := url.Parse(redirect)
	q := u.Query()
	for k, vals := range v {
		if len(vals) > 0 && vals[0] != "" {
			q.Set(k, vals[0])
		}
	}
	q.Set("iss", s.issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Allow {{.Client}}?</title>
<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em}button{font-size:1em;padding:.5em 1.5em;margin-right:1em}.muted{color:#555}</style>
</head><body>
<h1>Allow {{.Client}} to use Bitrix24 chats as you?</h1>
<p>{{.Client}} {{if .Verified}}(from <b>{{.Host}}</b>){{else}}<span class="muted">(a self-registered name; this server cannot vouch for it)</span>{{end}} asks to:</p>
<ul>{{range .Can}}<li>{{.}}</li>{{end}}</ul>
<p>On <b>{{.Portal}}</b>, as the Bitrix24 user you sign in as next, with your permissions. You will be sent back to <b>{{.Back}}</b>.</p>
<p class="muted">Only allow this if you just asked your AI assistant to connect. You can sign out at any time.</p>
<form method="post" action="/authorize/consent">
<input type="hidden" name="signin" value="{{.ID}}">
<button name="decision" value="allow" type="submit">Allow and sign in with Bitrix24</button>
<button name="decision" value="deny" type="submit">Deny</button>
</form></body></html>`))

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font:16px system-ui,sans-serif;max-width:36em;margin:3em auto"><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>`))

// consentPage names the client and what it may do before anyone is sent to
// Bitrix24: one Bitrix24 application serves every MCP client, so this page
// is what stops a client the person did not choose (the confused deputy).
func (s *Server) consentPage(w http.ResponseWriter, c *client, p pending, id string) {
	name := c.Name
	if name == "" {
		name = c.ID
	}
	can := []string{"see the chats and people you can see (chat:read)"}
	if slices.Contains(strings.Fields(p.Scope), ScopeWrite) {
		can = append(can, "add and remove people in chats you may change (chat:write)")
	}
	back, _ := url.Parse(p.RedirectURI)
	backName := back.Scheme + "://" + back.Host
	if back.Host == "" {
		backName = back.Scheme + ":"
	}
	noFrames(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentTmpl.Execute(w, map[string]any{"Client": name, "Verified": c.Document, "Host": hostOf(c.ID), "Can": can,
		"Portal": s.portal, "Back": backName, "ID": id})
}

func (s *Server) page(w http.ResponseWriter, status int, title, text string) {
	noFrames(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, map[string]string{"Title": title, "Text": text})
}

// noFrames keeps the pages out of other sites' frames (clickjacking).
func noFrames(w http.ResponseWriter) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}
