// Package auth lets each person sign in to a team server as themselves
// (--auth bitrix24). The server is the protected resource and its own
// OAuth authorization server, brokering Bitrix24's authorization-code flow:
//
//   - metadata.go: protected-resource metadata (RFC 9728) and
//     authorization-server metadata (RFC 8414);
//   - clients.go: Dynamic Client Registration (RFC 7591, kept in the store)
//     and Client ID Metadata Documents;
//   - authorize.go: /authorize (PKCE S256, resource), the consent page, and
//     Bitrix24's callback, which trades Bitrix24's code at once and issues
//     ours with iss (RFC 9207);
//   - token.go: /token (codes, rotating refresh tokens), /revoke (RFC 7009)
//     and /signout;
//   - tokens.go: our access tokens, short-lived, signed, bound to the
//     public URL;
//   - bearer.go: the 401 and 403 challenges and the caller's Identity;
//   - people.go: each person's record and their Bitrix24 client, which
//     shares the portal's one rate limit with everyone else's.
//
// Our tokens never reach Bitrix24, and Bitrix24's never reach the client.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// Scopes a client may be granted.
const (
	ScopeRead  = "chat:read"  // the tools that read
	ScopeWrite = "chat:write" // add_chat_users and remove_chat_users too
)

var allScopes = []string{ScopeRead, ScopeWrite}

// Lifetimes.
const (
	accessTTL  = 15 * time.Minute
	refreshTTL = 90 * 24 * time.Hour // renewed on every use (each refresh issues a new one)
	codeTTL    = time.Minute
	pendingTTL = 10 * time.Minute
	cimdTTL    = 10 * time.Minute // how long a fetched client metadata document is trusted
)

// Config is what the authorization server needs.
type Config struct {
	// PublicURL is where clients reach the server (https://mcp.example.com,
	// no path): the issuer, and the audience of every access token.
	PublicURL string
	// App is the Bitrix24 OAuth application (client id and secret, the
	// portal's endpoint, the token URL); its handler URL is PublicURL/callback.
	App bitrix.OAuthConfig
	// Base is the server's Bitrix24 client, made with App and SignIn: each
	// person's client shares its rate limit.
	Base  *bitrix.Client
	Store Store
	// Key is MCP_STATE_KEY: it signs access tokens and seals records.
	// Replicas share it, so any of them honours a token another issued.
	Key []byte
	// HTTPClient reaches Bitrix24's token endpoint (default: one with a 30 s timeout).
	HTTPClient *http.Client
	// MetadataClient fetches client metadata documents. The default one
	// refuses non-https URLs and private, loopback and link-local
	// addresses (a document URL must not reach into the server's network).
	MetadataClient *http.Client
	Log            *slog.Logger
	Audit          *audit.Log
	// Observer hears sign-in events (metrics); nil: none.
	Observer Observer
	// Now is the clock (tests move it).
	Now func() time.Time
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
	cfg      Config
	issuer   string
	portal   string // the portal's host
	log      *slog.Logger
	sealer   *sealer
	macKey   []byte
	now      func() time.Time
	cimd     sync.Map // client id URL -> *cachedClient
	live     sync.Map // grant id -> time.Time until which it is known live
	people   *people
	mux      *http.ServeMux
	resource map[string]bool // resource values a client may ask for
	// Anyone may register a client or start a sign-in, and each stores a
	// value: these keep a flood from filling the store (a team signs in a
	// few times a day; a client registers once).
	registrations, signins *rate.Limiter
}

// The limits on registrations and started sign-ins, per process.
const (
	registrationsPerMinute, registrationBurst = 30, 30
	signinsPerMinute, signinBurst             = 300, 100
)

// New checks the configuration and builds the server.
func New(cfg Config) (*Server, error) {
	pub, err := CheckPublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if len(cfg.Key) < 32 {
		return nil, errors.New("MCP_STATE_KEY: sign-in needs a 32-byte key to sign tokens and seal Bitrix24 tokens (openssl rand -hex 32)")
	}
	if cfg.App.ClientID == "" || cfg.App.ClientSecret == "" {
		return nil, errors.New("sign-in needs the Bitrix24 application's BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET")
	}
	if cfg.Store == nil || cfg.Base == nil {
		return nil, errors.New("auth: a store and the server's Bitrix24 client are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.MetadataClient == nil {
		cfg.MetadataClient = guardedClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sl, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, issuer: pub, log: cfg.Log, sealer: sl, macKey: derive(cfg.Key, "access tokens"), now: cfg.Now,
		portal:   hostOf(cfg.App.ClientEndpoint),
		resource: map[string]bool{pub: true, pub + "/": true, pub + "/mcp": true, pub + "/sse": true}}
	s.people = newPeople(s)
	s.registrations = rate.NewLimiter(rate.Limit(registrationsPerMinute)/60, registrationBurst)
	s.signins = rate.NewLimiter(rate.Limit(signinsPerMinute)/60, signinBurst)
	s.routes()
	return s, nil
}

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
	"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
	"/register", "/authorize", "/authorize/consent", "/callback", "/token", "/revoke",
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/.well-known/oauth-protected-resource", s.resourceMetadata)
	m.HandleFunc("/.well-known/oauth-protected-resource/", s.resourceMetadata)
	m.HandleFunc("/.well-known/oauth-authorization-server", s.serverMetadata)
	m.HandleFunc("/.well-known/openid-configuration", s.serverMetadata)
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

// guardedClient fetches client metadata documents: https only, never to a
// private, loopback or link-local address (checked on the connected
// address, so DNS cannot point it inward), 5 s, no redirects.
func guardedClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("refusing to fetch client metadata from %s: not a public address", host)
		}
		return nil
	}}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dialer.DialContext
	t.Proxy = nil
	return &http.Client{Timeout: 5 * time.Second, Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// tooMany answers a request over a limit: 429 with when to try again.
func tooMany(w http.ResponseWriter, what string) {
	w.Header().Set("Retry-After", "10")
	oauthError(w, http.StatusTooManyRequests, "temporarily_unavailable", "too many "+what+" at once; try again in a few seconds")
}

// ctxTimeout bounds the store calls one request makes.
func ctxTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
