// Package auth lets each person sign in to a team server as themselves
// (--auth bitrix24). The server is the protected resource and its own
// OAuth authorization server, brokering Bitrix24's authorization-code flow:
//
//   - metadata.go: protected-resource metadata (RFC 9728) and
//     authorization-server metadata (RFC 8414);
//   - clients.go: Dynamic Client Registration (RFC 7591, kept in the store,
//     capped and expiring) and Client ID Metadata Documents (fetched only to
//     public addresses, egress.go, and cached within bounds);
//   - authorize.go and consent.go: /authorize (PKCE S256, resource), the
//     consent page, and Bitrix24's callback, which trades Bitrix24's code at
//     once (upstream.go) and issues ours with iss (RFC 9207);
//   - token.go: /token (codes, refresh tokens rotated in one write),
//     /revoke (RFC 7009) and /signout;
//   - tokens.go: our access and refresh tokens, signed, bound to the public
//     URL, under a key ring that lets MCP_STATE_KEY change without signing
//     anyone out;
//   - scope.go: the scope policy and PKCE, as pure functions;
//   - errors.go: the one error type, and its renderers (JSON, or a page or
//     a redirect for the browser);
//   - limits.go: every limit per source and overall;
//   - records.go: the typed records over the Store (store.go);
//   - bearer.go: the 401 and 403 challenges and the caller's Identity;
//   - people.go: each person's Bitrix24 client, which shares the portal's
//     one rate limit with everyone else's.
//
// Our tokens never reach Bitrix24, and Bitrix24's never reach the client.
package auth

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// Config is what the authorization server needs.
type Config struct {
	// PublicURL is where clients reach the server (https://mcp.example.com,
	// no path): the issuer, and the audience of every token.
	PublicURL string
	// App is the Bitrix24 OAuth application (client id and secret, the
	// portal's endpoint, the token URL); its handler URL is PublicURL/callback.
	App bitrix.OAuthConfig
	// Base is the server's Bitrix24 client, made with App and SignIn: each
	// person's client shares its rate limit.
	Base  *bitrix.Client
	Store Store
	// Key is MCP_STATE_KEY: it signs tokens and seals records. Replicas
	// share it. PreviousKeys (MCP_STATE_KEY_PREVIOUS) still verify and open
	// during a rotation; what they sealed is sealed again with Key when
	// next written.
	Key          []byte
	PreviousKeys [][]byte
	// HTTPClient reaches Bitrix24's token endpoint (default: one with a 30 s timeout).
	HTTPClient *http.Client
	// MetadataClient fetches client metadata documents (default: one that
	// connects directly only to public addresses, or through the
	// environment's proxy; see egress.go).
	MetadataClient *http.Client
	// NoDocuments stops accepting (and advertising) client metadata
	// documents: clients register instead (MCP_CLIENT_METADATA_DOCUMENTS=false).
	NoDocuments bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names a
	// request's source (default: none; the peer is the source).
	TrustedProxies []netip.Prefix
	// Limits on anonymous requests (zero fields: DefaultLimits).
	Limits Limits
	Log    *slog.Logger
	Audit  *audit.Log
	// Observer hears sign-in events (metrics); nil: none.
	Observer Observer
	// Now is the clock (tests move it).
	Now func() time.Time
	// upstream stands in for Bitrix24 in tests (default: App's portal).
	upstream upstream
}

// Observer hears sign-in events: sign_in, refresh, revoked, refused,
// unauthorized.
type Observer interface {
	SignInEvent(event string)
}

func (s *Server) event(name string) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.SignInEvent(name)
	}
}

// Observe makes o hear sign-in events (set before serving).
func (s *Server) Observe(o Observer) { s.cfg.Observer = o }

// People is how many people have a Bitrix24 client held here now.
func (s *Server) People() int { return s.people.count() }

// Server is the authorization server and the checker of its tokens.
type Server struct {
	cfg       Config
	issuer    string
	portal    string // the portal's host
	log       *slog.Logger
	keys      *keyRing
	records   *records
	upstream  upstream
	now       func() time.Time
	documents *documents
	live      liveGrants
	people    *people
	mux       *http.ServeMux
	resource  map[string]bool // resource values a client may ask for
	limits    Limits
	// Per source and overall: registrations, started sign-ins, token requests.
	registrations, signins, tokens *limiter
}

// New checks the configuration and builds the server.
func New(cfg Config) (*Server, error) {
	pub, err := CheckPublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if cfg.App.ClientID == "" || cfg.App.ClientSecret == "" {
		return nil, errors.New("sign-in needs the Bitrix24 application's BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET")
	}
	if cfg.Store == nil || cfg.Base == nil {
		return nil, errors.New("auth: a store and the server's Bitrix24 client are required")
	}
	keys, err := newKeyRing(cfg.Key, cfg.PreviousKeys...)
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.MetadataClient == nil {
		cfg.MetadataClient = guardedClient(httpproxy.FromEnvironment())
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{cfg: cfg, issuer: pub, log: cfg.Log, keys: keys, now: cfg.Now, limits: cfg.Limits,
		portal:   hostOf(cfg.App.ClientEndpoint),
		resource: map[string]bool{pub: true, pub + "/": true, pub + "/mcp": true, pub + "/sse": true}}
	s.records = &records{store: cfg.Store, keys: keys, now: cfg.Now}
	s.upstream = cfg.upstream
	if s.upstream == nil {
		s.upstream = &bitrixUpstream{app: cfg.App, http: cfg.HTTPClient, base: cfg.Base, portal: s.portal}
	}
	s.people = newPeople(s)
	s.registrations = newLimiter(cfg.Limits.Registrations, cfg.Now)
	s.signins = newLimiter(cfg.Limits.SignIns, cfg.Now)
	s.tokens = newLimiter(cfg.Limits.Tokens, cfg.Now)
	s.documents = &documents{s: s, enabled: !cfg.NoDocuments, fetch: cfg.MetadataClient, limit: newLimiter(cfg.Limits.Documents, cfg.Now),
		entries: map[string]*list.Element{}, order: list.New()}
	s.routes()
	return s, nil
}

// source is who sent r, for the limits.
func (s *Server) source(r *http.Request) netip.Prefix { return sourceOf(r, s.cfg.TrustedProxies) }

// CheckPublicURL reads MCP_PUBLIC_URL: https (http only on loopback), a
// host, no path, query or fragment. It returns it without a trailing slash.
func CheckPublicURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", errors.New("MCP_PUBLIC_URL: sign-in needs the server's public URL (https://mcp.example.com): it is the issuer and the audience of tokens, and Bitrix24 sends people back to its /callback")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "", fmt.Errorf("MCP_PUBLIC_URL: %q is not an absolute URL such as https://mcp.example.com", raw)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "", fmt.Errorf("MCP_PUBLIC_URL: %q uses http off this machine: tokens would cross the network unencrypted; use https", raw)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("MCP_PUBLIC_URL: %q has a path, query or user part: give scheme://host[:port] only (serve the server at the root of its host)", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Issuer is the public URL: the issuer and the tokens' audience.
func (s *Server) Issuer() string { return s.issuer }

// CallbackURL is the Bitrix24 application's handler URL.
func (s *Server) CallbackURL() string { return s.issuer + "/callback" }

// ServeHTTP serves the metadata documents and the OAuth endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Paths are the paths ServeHTTP answers: they need no bearer token.
var Paths = []string{
	"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/",
	"/.well-known/oauth-authorization-server",
	"/register", "/authorize", "/authorize/consent", "/callback", "/token", "/revoke",
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/.well-known/oauth-protected-resource", s.resourceMetadata)
	m.HandleFunc("/.well-known/oauth-protected-resource/", s.resourceMetadata)
	m.HandleFunc("/.well-known/oauth-authorization-server", s.serverMetadata)
	m.HandleFunc("/register", s.register)
	m.HandleFunc("/authorize", s.authorize)
	m.HandleFunc("/authorize/consent", s.consent)
	m.HandleFunc("/callback", s.callback)
	m.HandleFunc("/token", s.token)
	m.HandleFunc("/revoke", s.revoke)
	s.mux = m
}

// ForPublicPath reports whether ServeHTTP answers the path.
func ForPublicPath(path string) bool {
	for _, p := range Paths {
		if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

func (s *Server) audit(e audit.Entry) {
	if s.cfg.Audit == nil {
		return
	}
	e.Portal = s.portal
	if err := s.cfg.Audit.Write(e); err != nil {
		s.log.Error("could not write the audit trail", "event", e.Event, "error", err)
	}
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return strings.ToLower(u.Host)
	}
	return "?"
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ctxTimeout bounds the store calls one request makes.
func ctxTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

// register is RFC 7591's endpoint. Every client is public (PKCE stands in
// for a secret), so token_endpoint_auth_method is always "none".
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	c, err := func() (*client, error) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			return nil, refusal(http.StatusMethodNotAllowed, "invalid_request", "register with POST and a JSON body")
		}
		source := s.source(r)
		if ok, wait := s.registrations.allow(source); !ok {
			return nil, tooMany("client registrations", wait)
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		return s.registerClient(ctx, r.Body, source)
	}()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("registered an MCP client", "client_id", c.ID, "client_name", escapeForTerminal(c.Name), "redirect_uris", len(c.RedirectURIs))
	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id": c.ID, "client_id_issued_at": c.Created.Unix(), "client_name": c.Name, "redirect_uris": c.RedirectURIs,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none", "scope": strings.Join(allScopes, " "),
	})
}
