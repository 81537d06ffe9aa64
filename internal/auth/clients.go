package auth

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Clients: Dynamic Client Registration (RFC 7591), kept in the store, and
// Client ID Metadata Documents, fetched from the https URL that is their
// id. Every client is public (PKCE stands in for a secret).

// Caps on what a client may register (and a document may say): every
// stored field is bounded, and a registration is kept briefly until a
// person consents to its client.
const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 512
	maxClientName     = 200 // bytes
	maxClientURI      = 512
	maxMetadataBody   = 16 << 10
	maxClientID       = 512
)

// clientMetadata is what /register takes and a document says.
type clientMetadata struct {
	ClientID     string   `json:"client_id"`
	RedirectURIs []string `json:"redirect_uris"`
	Name         string   `json:"client_name"`
	URI          string   `json:"client_uri"`
	GrantTypes   []string `json:"grant_types"`
	Responses    []string `json:"response_types"`
	Scope        string   `json:"scope"`
	AuthMethod   string   `json:"token_endpoint_auth_method"`
}

// checkMetadata refuses metadata this server will not keep or show.
func checkMetadata(m *clientMetadata) error {
	m.Name = strings.TrimSpace(m.Name)
	switch {
	case len(m.RedirectURIs) == 0 || len(m.RedirectURIs) > maxRedirectURIs:
		return invalidRedirectURI("give 1 to %d redirect_uris", maxRedirectURIs)
	case len(m.Name) > maxClientName:
		return invalidClientMetadata("client_name is longer than %d bytes", maxClientName)
	case len(m.URI) > maxClientURI:
		return invalidClientMetadata("client_uri is longer than %d bytes", maxClientURI)
	}
	if err := plainText("client_name", m.Name); err != nil {
		return invalidClientMetadata("%v", err)
	}
	if err := plainText("client_uri", m.URI); err != nil {
		return invalidClientMetadata("%v", err)
	}
	if m.URI != "" {
		if u, err := url.Parse(m.URI); err != nil || u.Scheme != "https" || u.Host == "" {
			return invalidClientMetadata("client_uri must be an https URL")
		}
	}
	for _, raw := range m.RedirectURIs {
		if err := checkRedirectURI(raw); err != nil {
			return invalidRedirectURI("%v", err)
		}
	}
	for _, g := range m.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return invalidClientMetadata("grant type %q is not supported: use authorization_code and refresh_token", truncate(g, 64))
		}
	}
	for _, r := range m.Responses {
		if r != "code" {
			return invalidClientMetadata("response type %q is not supported: use code", truncate(r, 64))
		}
	}
	if _, err := parseScopes(m.Scope); err != nil {
		return invalidClientMetadata("%s", err.(*oauthError).desc)
	}
	return nil
}

// checkRedirectURI refuses a redirect URI a code must not be sent to.
func checkRedirectURI(raw string) error {
	if len(raw) > maxRedirectURILen {
		return fmt.Errorf("a redirect URI is longer than %d bytes", maxRedirectURILen)
	}
	if err := plainText("a redirect URI", raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil {
		return fmt.Errorf("redirect URI %q is not an absolute URI without a fragment or user", raw)
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
	case "javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss":
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
	return strings.EqualFold(r.Hostname(), a.Hostname()) && r.EscapedPath() == a.EscapedPath() && r.RawQuery == a.RawQuery &&
		a.Fragment == "" && a.User == nil && a.Opaque == "" && validPort(a.Port())
}

func validPort(p string) bool {
	if p == "" {
		return true
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' || n > 65535 {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n <= 65535
}

func (c *client) allows(redirect string) bool {
	for _, r := range c.RedirectURIs {
		if redirectMatches(r, redirect) {
			return true
		}
	}
	return false
}

// registerClient makes a registration from a client's metadata. It lives
// newClientTTL unless a person consents to the client.
func (s *Server) registerClient(ctx context.Context, body io.Reader, source netip.Prefix) (*client, error) {
	var m clientMetadata
	if err := json.NewDecoder(io.LimitReader(body, maxMetadataBody)).Decode(&m); err != nil {
		return nil, invalidClientMetadata("the body is not a JSON object of client metadata (at most %d bytes)", maxMetadataBody)
	}
	if err := checkMetadata(&m); err != nil {
		return nil, err
	}
	c := &client{ID: "b24mcp-" + randomToken("")[:32], Name: m.Name, URI: m.URI, RedirectURIs: m.RedirectURIs,
		Created: s.now().UTC(), Source: source.String()}
	if err := s.records.putClient(ctx, c, false); err != nil {
		return nil, err
	}
	return c, nil
}

// errUnknownClient is a client id neither registered nor a document.
var errUnknownClient = refusal(http.StatusBadRequest, "invalid_client",
	"unknown client_id: register the client first (dynamic registration at /register) or use a client metadata document URL")

// lookupClient finds a client: a registration in the store, or the
// metadata document its https client id names (fetched only within the
// documents limit).
func (s *Server) lookupClient(ctx context.Context, id string, source netip.Prefix) (*client, error) {
	if strings.HasPrefix(id, "https://") {
		return s.documents.client(ctx, id, source)
	}
	if id == "" || len(id) > 100 {
		return nil, errUnknownClient
	}
	c, err := s.records.client(ctx, id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errUnknownClient
	}
	return c, nil
}

// documents fetches Client ID Metadata Documents and keeps them a while:
// a bounded cache (entries and bytes, least recently used out first) that
// also remembers a failure briefly, so a flood of one URL is one fetch.
type documents struct {
	s       *Server
	enabled bool
	fetch   *http.Client
	limit   *limiter

	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List // *document, most recent first
	bytes   int
}

type document struct {
	id      string
	c       *client // nil: the fetch failed
	err     error
	fetched time.Time
	size    int
}

const (
	cimdTTL         = 10 * time.Minute // a fetched document is trusted this long
	cimdFailTTL     = time.Minute      // a failure is remembered this long
	maxDocuments    = 256
	maxDocumentData = 1 << 20 // bytes of cached clients, roughly
)

// errDocumentsOff refuses a document client when documents are off.
var errDocumentsOff = refusal(http.StatusBadRequest, "invalid_client",
	"this server does not accept client metadata documents (MCP_CLIENT_METADATA_DOCUMENTS=false): the client must register at /register")

func (d *documents) client(ctx context.Context, id string, source netip.Prefix) (*client, error) {
	if !d.enabled {
		return nil, errDocumentsOff
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path == "" || u.Path == "/" || u.Fragment != "" || u.User != nil || len(id) > maxClientID {
		return nil, refusal(http.StatusBadRequest, "invalid_client", "a client metadata document's client_id must be an https URL with a path")
	}
	if doc := d.cached(id); doc != nil {
		return doc.c, doc.err
	}
	if ok, wait := d.limit.allow(source); !ok {
		return nil, tooMany("client metadata documents fetched", wait)
	}
	c, err := d.get(ctx, id)
	d.keep(&document{id: id, c: c, err: err, fetched: d.s.now(), size: docSize(c)})
	return c, err
}

func (d *documents) cached(id string) *document {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.entries[id]
	if !ok {
		return nil
	}
	doc := e.Value.(*document)
	ttl := cimdTTL
	if doc.c == nil {
		ttl = cimdFailTTL
	}
	if d.s.now().Sub(doc.fetched) >= ttl {
		d.drop(e)
		return nil
	}
	d.order.MoveToFront(e)
	return doc
}

func (d *documents) keep(doc *document) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.entries[doc.id]; ok {
		d.drop(e)
	}
	d.entries[doc.id] = d.order.PushFront(doc)
	d.bytes += doc.size
	for d.order.Len() > maxDocuments || d.bytes > maxDocumentData {
		d.drop(d.order.Back())
	}
}

func (d *documents) drop(e *list.Element) {
	doc := e.Value.(*document)
	delete(d.entries, doc.id)
	d.bytes -= doc.size
	d.order.Remove(e)
}

func docSize(c *client) int {
	if c == nil {
		return 256
	}
	n := 256 + len(c.ID) + len(c.Name) + len(c.URI)
	for _, r := range c.RedirectURIs {
		n += len(r)
	}
	return n
}

// get fetches a document: its client_id must be its own URL, and its
// metadata passes the same checks as a registration's.
func (d *documents) get(ctx context.Context, id string) (*client, error) {
	host, _ := displayHost(hostOf(id))
	cantFetch := func(why string, cause error) error {
		return &oauthError{status: http.StatusBadGateway, code: "invalid_client",
			desc:  fmt.Sprintf("this server could not fetch the client's metadata document from %s: %s. The server's operator can let the server reach %s over HTTPS (directly, or through HTTPS_PROXY), or set MCP_CLIENT_METADATA_DOCUMENTS=false so that clients register instead", host, why, host),
			cause: cause}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, cantFetch("its URL is not valid", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.fetch.Do(req)
	if err != nil {
		return nil, cantFetch(fetchFailure(err), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, cantFetch(fmt.Sprintf("it answered HTTP %d", resp.StatusCode), nil)
	}
	var m clientMetadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataBody)).Decode(&m); err != nil {
		return nil, cantFetch("it is not a JSON document", err)
	}
	bad := func(format string, args ...any) error {
		return refusal(http.StatusBadRequest, "invalid_client", "the client metadata document at %s %s", host, fmt.Sprintf(format, args...))
	}
	switch {
	case m.ClientID != id:
		return nil, bad("names another client_id")
	case m.AuthMethod != "" && m.AuthMethod != "none":
		return nil, bad("asks for %s: only public clients (none) are supported", truncate(m.AuthMethod, 40))
	}
	if err := checkMetadata(&m); err != nil {
		return nil, bad("is refused: %s", err.(*oauthError).desc)
	}
	return &client{ID: id, Name: m.Name, URI: m.URI, RedirectURIs: m.RedirectURIs, Document: true}, nil
}

// Registration is a dynamic registration, as the operator sees it.
type Registration struct {
	ClientID     string
	Name         string
	RedirectURIs []string
	Created      time.Time
	Source       string
	Trusted      bool // a person consented to it
}

// Registrations lists the dynamic registrations in the store.
func (s *Server) Registrations(ctx context.Context) ([]Registration, error) {
	ids, err := s.records.clientIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []Registration
	for _, id := range ids {
		c, err := s.records.client(ctx, id)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		t, err := s.records.trusted(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, Registration{ClientID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, Created: c.Created, Source: c.Source, Trusted: t != nil})
	}
	return out, nil
}

// DeleteRegistration deletes a dynamic registration (the operator's
// signins clients delete); its sign-ins go on until revoked.
func (s *Server) DeleteRegistration(ctx context.Context, id string) (bool, error) {
	c, err := s.records.client(ctx, id)
	if err != nil || c == nil {
		return false, err
	}
	return true, s.records.deleteClient(ctx, id)
}
