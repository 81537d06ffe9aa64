package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client is a registered MCP client: one registered dynamically (kept in
// the store, since clients cache their ids across restarts of ours), or one
// whose id is the https URL of its metadata document.
type client struct {
	ID           string    `json:"client_id"`
	Name         string    `json:"client_name,omitempty"`
	URI          string    `json:"client_uri,omitempty"`
	RedirectURIs []string  `json:"redirect_uris"`
	Created      time.Time `json:"created"`
	Document     bool      `json:"-"` // from a client metadata document: its host is vouched for by https
}

type cachedClient struct {
	c       *client
	fetched time.Time
}

const (
	maxRedirectURIs = 20
	maxClientName   = 200
	maxMetadataBody = 64 << 10
)

// register is RFC 7591's endpoint. Every client is public (PKCE stands in
// for a secret), so token_endpoint_auth_method is always "none".
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "register with POST and a JSON body")
		return
	}
	if !s.registrations.Allow() {
		s.log.Warn("refused a client registration: over the limit", "per_minute", registrationsPerMinute)
		tooMany(w, "client registrations")
		return
	}
	var meta struct {
		RedirectURIs []string `json:"redirect_uris"`
		Name         string   `json:"client_name"`
		URI          string   `json:"client_uri"`
		GrantTypes   []string `json:"grant_types"`
		Responses    []string `json:"response_types"`
		Scope        string   `json:"scope"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxMetadataBody)).Decode(&meta); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "the body is not a JSON object of client metadata")
		return
	}
	c := &client{ID: "b24mcp-" + randomToken("")[:32], Name: strings.TrimSpace(meta.Name), URI: meta.URI, RedirectURIs: meta.RedirectURIs, Created: s.now().UTC()}
	if err := checkClient(c); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", err.Error())
		return
	}
	for _, g := range meta.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			oauthError(w, http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("grant type %q is not supported: use authorization_code and refresh_token", g))
			return
		}
	}
	if _, bad := unknownScope(meta.Scope); bad != "" {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("scope %q is not one of %s", bad, strings.Join(allScopes, ", ")))
		return
	}
	raw, _ := json.Marshal(c)
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := s.cfg.Store.Put(ctx, kindClient, c.ID, raw, 0); err != nil {
		s.log.Error("could not keep a client registration", "store", s.cfg.Store.String(), "error", err)
		storeDown(w)
		return
	}
	s.log.Info("registered an MCP client", "client_id", c.ID, "client_name", c.Name, "redirect_uris", len(c.RedirectURIs))
	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id": c.ID, "client_id_issued_at": c.Created.Unix(), "client_name": c.Name, "redirect_uris": c.RedirectURIs,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none", "scope": strings.Join(allScopes, " "),
	})
}

// checkClient refuses redirect URIs a code must not be sent to.
func checkClient(c *client) error {
	if len(c.RedirectURIs) == 0 || len(c.RedirectURIs) > maxRedirectURIs {
		return fmt.Errorf("give 1 to %d redirect_uris", maxRedirectURIs)
	}
	if len(c.Name) > maxClientName {
		c.Name = c.Name[:maxClientName]
	}
	for _, raw := range c.RedirectURIs {
		if err := checkRedirectURI(raw); err != nil {
			return err
		}
	}
	return nil
}

func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q is not an absolute URI without a fragment", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
	case "http":
		if !loopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q uses http off this machine: use https, or a loopback address (http://127.0.0.1/...)", raw)
		}
	case "javascript", "data", "file", "vbscript", "about", "blob":
		return fmt.Errorf("redirect URI %q has a scheme codes must not go to", raw)
	}
	return nil
}

// redirectMatches compares a requested redirect URI with a registered one:
// exactly, except that a loopback one matches on any port (RFC 8252 7.3:
// native clients listen on an ephemeral port).
func redirectMatches(registered, asked string) bool {
	if registered == asked {
		return true
	}
	r, err1 := url.Parse(registered)
	a, err2 := url.Parse(asked)
	if err1 != nil || err2 != nil || r.Scheme != "http" || a.Scheme != "http" || !loopbackHost(r.Hostname()) {
		return false
	}
	return strings.EqualFold(r.Hostname(), a.Hostname()) && r.Path == a.Path && r.RawQuery == a.RawQuery && a.Fragment == "" && a.User == nil
}

func (c *client) allows(redirect string) bool {
	for _, r := range c.RedirectURIs {
		if redirectMatches(r, redirect) {
			return true
		}
	}
	return false
}

// errUnknownClient is a client id neither registered nor a document.
var errUnknownClient = errors.New("unknown client_id: register the client first (dynamic registration at /register) or use a client metadata document URL")

// lookupClient finds a client: a registration in the store, or the
// metadata document its https client id names.
func (s *Server) lookupClient(ctx context.Context, id string) (*client, error) {
	if strings.HasPrefix(id, "https://") {
		return s.documentClient(ctx, id)
	}
	if id == "" || len(id) > 100 {
		return nil, errUnknownClient
	}
	raw, err := s.cfg.Store.Get(ctx, kindClient, id)
	if err != nil {
		return nil, fmt.Errorf("the sign-in store did not answer: %w", err)
	}
	if raw == nil {
		return nil, errUnknownClient
	}
	var c client
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errUnknownClient
	}
	return &c, nil
}

// documentClient fetches a Client ID Metadata Document: its client_id must
// be its own URL, and its redirect URIs pass the same checks as a
// registration's. It is kept for cimdTTL.
func (s *Server) documentClient(ctx context.Context, id string) (*client, error) {
	if v, ok := s.cimd.Load(id); ok && s.now().Sub(v.(*cachedClient).fetched) < cimdTTL {
		return v.(*cachedClient).c, nil
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Path == "" || u.Path == "/" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("a client metadata document's client_id must be an https URL with a path")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.MetadataClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not fetch the client metadata document %s: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the client metadata document %s answered HTTP %d", id, resp.StatusCode)
	}
	var doc struct {
		ClientID     string   `json:"client_id"`
		Name         string   `json:"client_name"`
		URI          string   `json:"client_uri"`
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataBody)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("the client metadata document %s is not JSON", id)
	}
	if doc.ClientID != id {
		return nil, fmt.Errorf("the client metadata document %s names another client_id (%q)", id, doc.ClientID)
	}
	if doc.AuthMethod != "" && doc.AuthMethod != "none" {
		return nil, fmt.Errorf("the client metadata document %s asks for %s: only public clients (none) are supported", id, doc.AuthMethod)
	}
	c := &client{ID: id, Name: strings.TrimSpace(doc.Name), URI: doc.URI, RedirectURIs: doc.RedirectURIs, Document: true}
	if err := checkClient(c); err != nil {
		return nil, fmt.Errorf("the client metadata document %s: %v", id, err)
	}
	s.cimd.Store(id, &cachedClient{c: c, fetched: s.now()})
	return c, nil
}

// unknownScope splits a scope parameter; bad is the first it does not know.
func unknownScope(raw string) (scopes []string, bad string) {
	for _, sc := range strings.Fields(raw) {
		switch sc {
		case ScopeRead, ScopeWrite:
			scopes = append(scopes, sc)
		case "offline_access":
			// Refresh tokens are always issued; clients that ask are welcome.
		default:
			return nil, sc
		}
	}
	return scopes, ""
}
