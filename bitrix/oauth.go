package bitrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// oauthState holds the current token pair. Bitrix24 rotates the refresh token
// on every refresh (the old one dies), so exactly one refresh may run for a
// given access token however many calls, here or in other processes sharing
// the token file, saw it expire; and the new pair must be saved before
// anything else can lose it.
type oauthState struct {
	cfg     OAuthConfig
	secrets *redactor
	http    *http.Client
	log     *slog.Logger

	mu       sync.Mutex // held across a refresh: callers queue behind it
	endpoint string
	access   Secret
	refreshT Secret

	store tokenStore // where the rotated pair is kept and refreshes are locked; nil = memory only

	refreshes atomic.Int64
	observe   func(error) // hears each refresh's outcome

	// tokenURL is where refreshes go: BITRIX24_OAUTH_TOKEN_URL when set,
	// else Bitrix24's server, regional as its server_endpoint says.
	tokenURL     string
	followServer bool
	userID       int  // who the pair acts as, when an answer said
	perUser      bool // a signed-in person's pair (ForUser), not the server's own
}

// tokenFile is what BITRIX24_TOKEN_FILE holds.
type tokenFile struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	ClientEndpoint string    `json:"client_endpoint,omitempty"`
	TokenURL       string    `json:"token_url,omitempty"` // the regional OAuth server's, from server_endpoint
	UserID         int       `json:"user_id,omitempty"`   // who signed in
	ExpiresAt      time.Time `json:"expires_at,omitempty"`
	SavedAt        time.Time `json:"saved_at"`
	// Origin fingerprints the configured refresh token this pair descends
	// from. When the configuration later names a different one (the app was
	// re-authorized), the configuration is newer than the file and wins.
	Origin string `json:"origin"`
}

func fingerprint(s Secret) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s.Reveal()))
	return hex.EncodeToString(sum[:8])
}

func newOAuthState(cfg OAuthConfig, secrets *redactor, hc *http.Client, log *slog.Logger, shared SharedState) (*oauthState, error) {
	if cfg.ClientEndpoint == "" {
		return nil, errors.New("bitrix: OAuth needs the client endpoint (https://PORTAL/rest/)")
	}
	if cfg.SignIn {
		cfg.AccessToken, cfg.RefreshToken, cfg.TokenFile, shared = "", "", "", nil
	} else if cfg.AccessToken == "" && cfg.RefreshToken == "" && cfg.TokenFile == "" && shared == nil {
		return nil, errors.New("bitrix: OAuth needs an access token, a refresh token or a token file")
	}
	if err := checkEndpoint("BITRIX24_CLIENT_ENDPOINT", cfg.ClientEndpoint); err != nil {
		return nil, fmt.Errorf("bitrix: %w", err)
	}
	if err := checkEndpoint("BITRIX24_OAUTH_TOKEN_URL", cfg.TokenURL); err != nil {
		return nil, fmt.Errorf("bitrix: %w", err)
	}
	secrets.add(cfg.AccessToken.Reveal(), cfg.RefreshToken.Reveal(), cfg.ClientSecret.Reveal())
	o := pairState(cfg, secrets, noResend(hc), log)
	o.access, o.refreshT = cfg.AccessToken, cfg.RefreshToken
	switch {
	case shared != nil:
		o.store = &sharedStore{s: shared}
	case cfg.TokenFile != "":
		if err := checkWritableDir(cfg.TokenFile); err != nil {
			return nil, err
		}
		o.store = fileStore{path: cfg.TokenFile}
	}
	if o.store != nil {
		if err := o.loadFile(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// pairState is the state of one pair of cfg's application before a pair
// is adopted: the server's own (newOAuthState) or a signed-in person's
// (ForUser).
func pairState(cfg OAuthConfig, secrets *redactor, hc *http.Client, log *slog.Logger) *oauthState {
	return &oauthState{cfg: cfg, secrets: secrets, http: hc, log: log,
		endpoint: withSlash(cfg.ClientEndpoint), tokenURL: cfg.TokenURL, followServer: cfg.TokenURL == DefaultTokenURL}
}

func withSlash(s string) string {
	if !strings.HasSuffix(s, "/") {
		return s + "/"
	}
	return s
}

// noResend returns a client that never sends a token request twice by
// itself: net/http replays a GET that failed on a reused keep-alive
// connection, and a replayed refresh would burn the rotated pair. Fresh
// connections are never replayed. A client with a transport of its own
// (tests, the demo) is used as it is.
func noResend(hc *http.Client) *http.Client {
	base, ok := hc.Transport.(*http.Transport)
	if hc.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return hc
	}
	t := base.Clone()
	t.DisableKeepAlives = true
	c := *hc
	c.Transport = t
	return &c
}

// loadFile prefers the saved pair when it descends from the configured one
// (a restart after a rotation); a missing file is not an error, and a file
// other users may read is refused.
func (o *oauthState) loadFile() error {
	f, err := o.readFile()
	if err != nil || f == nil {
		return err
	}
	if !o.descends(f) {
		o.log.Info("the stored OAuth pair predates the configured tokens; using the configured ones", "store", o.store.String())
		return nil
	}
	o.adopt(f)
	o.log.Debug("using the stored OAuth tokens", "store", o.store.String(), "saved_at", f.SavedAt)
	return nil
}

// readFile reads the stored pair; nil, nil when there is none.
func (o *oauthState) readFile() (*tokenFile, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	f, err := o.store.read(ctx)
	if f != nil {
		o.secrets.add(f.AccessToken, f.RefreshToken)
	}
	return f, err
}

// tokenStore keeps the rotated pair where every process that shares it
// finds it, and holds the lock a refresh runs under: a file on one machine,
// the shared state store across machines.
type tokenStore interface {
	lock(ctx context.Context) (unlock func(), err error)
	read(ctx context.Context) (*tokenFile, error) // nil when there is none
	write(ctx context.Context, f tokenFile) error
	String() string
}

type fileStore struct{ path string }

func (s fileStore) String() string { return s.path }

func (s fileStore) lock(ctx context.Context) (func(), error) { return lockFile(ctx, s.path+".lock") }

func (s fileStore) write(_ context.Context, f tokenFile) error { return writeTokenFile(s.path, f) }

func (s fileStore) read(context.Context) (*tokenFile, error) {
	path := s.path
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bitrix: reading token file %s: %w", path, errors.Unwrap(err))
	}
	if ReadableByOthers(fi) {
		return nil, fmt.Errorf("bitrix: token file %s can be read by other users (mode %04o): it holds live OAuth tokens; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bitrix: reading token file %s: %w", path, errors.Unwrap(err))
	}
	var f tokenFile
	if err := json.Unmarshal(raw, &f); err != nil || f.RefreshToken == "" {
		return nil, fmt.Errorf("bitrix: token file %s is not a saved token pair; delete it to start from the configured tokens", path)
	}
	return &f, nil
}

// sharedStore keeps the pair in the shared state store, versioned: a write
// only lands on the version it read, so a stale writer cannot win.
type sharedStore struct {
	s       SharedState
	version int64 // of the pair last read; guarded by oauthState.mu
}

func (s *sharedStore) String() string { return s.s.String() }

func (s *sharedStore) lock(ctx context.Context) (func(), error) { return s.s.LockTokens(ctx) }

func (s *sharedStore) read(ctx context.Context) (*tokenFile, error) {
	raw, version, err := s.s.LoadTokens(ctx)
	if err != nil {
		return nil, storeError(s.s, err)
	}
	s.version = version
	if raw == nil {
		return nil, nil
	}
	var f tokenFile
	if err := json.Unmarshal(raw, &f); err != nil || f.RefreshToken == "" {
		return nil, fmt.Errorf("bitrix: the OAuth pair in %s is not a saved token pair", s.s)
	}
	return &f, nil
}

func (s *sharedStore) write(ctx context.Context, f tokenFile) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := s.s.StoreTokens(ctx, raw, s.version); err != nil {
		return err
	}
	s.version++
	return nil
}

// descends reports whether a saved pair comes from the configured one, so
// that a file written before the app was re-authorized is not used.
func (o *oauthState) descends(f *tokenFile) bool {
	configured := fingerprint(o.cfg.RefreshToken)
	return configured == "" || f.Origin == configured || Secret(f.RefreshToken) == o.cfg.RefreshToken
}

func (o *oauthState) adopt(f *tokenFile) {
	o.access, o.refreshT = Secret(f.AccessToken), Secret(f.RefreshToken)
	if f.UserID > 0 {
		o.userID = f.UserID
	}
	if f.ClientEndpoint != "" && samePortal(f.ClientEndpoint, o.cfg.ClientEndpoint) {
		o.endpoint = withSlash(f.ClientEndpoint)
	}
	if f.TokenURL != "" && o.followServer && trustedTokenURL(f.TokenURL) {
		o.tokenURL = f.TokenURL
	}
}

// trustedTokenHosts are Bitrix24's OAuth servers: the token host is regional
// (oauth.bitrix.info; some regions oauth.bitrix24.tech), so a token answer's
// server_endpoint is followed, but only to these.
var trustedTokenHosts = []string{"oauth.bitrix.info", "oauth.bitrix24.tech"}

func trustedTokenURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && slices.Contains(trustedTokenHosts, strings.ToLower(u.Hostname())) && u.Port() == ""
}

// serverTokenURL is the token endpoint on the server a server_endpoint
// (https://oauth.bitrix.info/rest/) names, or "" when it is not one to trust.
func serverTokenURL(serverEndpoint string) string {
	u, err := url.Parse(serverEndpoint)
	if err != nil {
		return ""
	}
	token := "https://" + u.Host + "/oauth/token/"
	if u.Scheme != "https" || !trustedTokenURL(token) {
		return ""
	}
	return token
}

// samePortal says whether a client_endpoint from a token answer or the
// token file stays on the configured portal, over https: the access token
// goes wherever it points.
func samePortal(endpoint, configured string) bool {
	u, err := url.Parse(endpoint)
	c, cerr := url.Parse(configured)
	return err == nil && cerr == nil && strings.EqualFold(u.Host, c.Host) && checkEndpoint("client_endpoint", endpoint) == nil
}

// adoptNewer takes the file's pair when another process has rotated it since
// this one last looked. The caller holds o.mu and the file lock.
func (o *oauthState) adoptNewer() bool {
	f, err := o.readFile()
	if err != nil || f == nil || !o.descends(f) || Secret(f.RefreshToken) == o.refreshT {
		return false
	}
	o.adopt(f)
	o.log.Info("using the OAuth tokens another process refreshed", "store", o.store.String())
	return true
}

func (o *oauthState) current() (endpoint string, access Secret) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.endpoint, o.access
}

func (o *oauthState) endpointHost() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if u, err := url.Parse(o.endpoint); err == nil {
		return u.Host
	}
	return "?"
}

type tokenAnswer struct {
	AccessToken      string  `json:"access_token"`
	RefreshToken     string  `json:"refresh_token"`
	ExpiresIn        int64   `json:"expires_in"`
	ClientEndpoint   string  `json:"client_endpoint"`
	ServerEndpoint   string  `json:"server_endpoint"`
	UserID           FlexInt `json:"user_id"`
	Error            string  `json:"error"`
	ErrorDescription string  `json:"error_description"`
}

// refreshTimeout bounds one refresh, whoever is waiting for it.
const refreshTimeout = 30 * time.Second

// refresh gets a working pair after the access token used failed: from a
// refresh another call here made meanwhile, from the token file when another
// process refreshed, or by refreshing. The refresh runs on its own context:
// once the token endpoint has rotated the pair, abandoning its answer would
// burn the refresh token, so a caller that gives up only stops waiting.
func (o *oauthState) refresh(ctx context.Context, used Secret) error {
	done := make(chan error, 1)
	go func() { done <- o.refreshShared(used) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (o *oauthState) refreshShared(used Secret) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if used != "" && used != o.access {
		return nil // another call refreshed while this one waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	if o.store != nil {
		unlock, err := o.store.lock(ctx)
		if err != nil {
			return &Error{Method: "oauth/token", Code: CodeTokenFileLock,
				Description: fmt.Sprintf("could not take the refresh lock of %s to refresh the OAuth tokens: %v", o.store, err)}
		}
		defer unlock()
		if o.adoptNewer() {
			return nil
		}
	}
	err := o.exchange(ctx)
	if e, ok := AsError(err); ok && e.Code == CodeInvalidGrant && o.store != nil {
		if o.adoptNewer() {
			return nil // rotated elsewhere after all: the file has the live pair
		}
		if f, ok := o.store.(forgetter); ok {
			// Bitrix24 no longer honours this person's sign-in: drop it, so
			// their next request is asked to sign in again.
			if ferr := f.forget(ctx); ferr != nil {
				o.log.Error("could not drop a sign-in Bitrix24 refused", "store", o.store.String(), "error", ferr)
			}
		}
	}
	return err
}

// exchange trades the refresh token for a new pair and saves it. The caller
// holds o.mu and, with a token file, its lock.
func (o *oauthState) exchange(ctx context.Context) error {
	if o.refreshT == "" {
		return &Error{Method: "oauth/token", Code: CodeExpiredToken,
			Description: "the access token expired and no refresh token is configured; set BITRIX24_REFRESH_TOKEN"}
	}
	q := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {o.cfg.ClientID},
		"client_secret": {o.cfg.ClientSecret.Reveal()},
		"refresh_token": {o.refreshT.Reveal()},
	}
	sep := "?"
	if strings.Contains(o.tokenURL, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.tokenURL+sep+q.Encode(), nil)
	if err != nil {
		return &TransportError{Method: "oauth/token", Msg: "bad token URL"}
	}
	o.refreshes.Add(1)
	err = o.ask(req)
	if o.observe != nil {
		o.observe(err)
	}
	return err
}

// ask sends the refresh request and adopts the answer.
func (o *oauthState) ask(req *http.Request) error {
	ctx := req.Context()
	resp, err := o.http.Do(req)
	if err != nil {
		return &TransportError{Method: "oauth/token", Msg: o.secrets.scrub(unwrapURLError(err).Error()), Attempts: 1}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ans tokenAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return &Error{Method: "oauth/token", Code: CodeBadResponse, HTTPStatus: resp.StatusCode,
			Description: fmt.Sprintf("the OAuth server answered HTTP %d with %d bytes that are not JSON", resp.StatusCode, len(raw))}
	}
	if ans.Error != "" || ans.AccessToken == "" || ans.RefreshToken == "" {
		code := ans.Error
		if code == "" {
			code = CodeBadResponse
		}
		desc := o.secrets.scrub(ans.ErrorDescription)
		if code == CodeInvalidGrant && o.perUser {
			desc = "Bitrix24 no longer accepts your sign-in (it expired, was revoked, or the application was removed): sign in again; your MCP client asks you to"
		} else if code == CodeInvalidGrant {
			desc = "the refresh token was rejected (expired, already used, or the app was removed): re-authorize the application in Bitrix24 and configure the new tokens (BITRIX24_ACCESS_TOKEN, BITRIX24_REFRESH_TOKEN)"
		} else if code == CodeInvalidClient {
			desc = "the OAuth server rejected the client id or secret: check BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET"
		}
		return &Error{Method: "oauth/token", Code: code, Description: desc, HTTPStatus: resp.StatusCode}
	}
	o.secrets.add(ans.AccessToken, ans.RefreshToken)
	o.access, o.refreshT = Secret(ans.AccessToken), Secret(ans.RefreshToken)
	if ans.UserID > 0 {
		o.userID = int(ans.UserID)
	}
	switch {
	case ans.ClientEndpoint == "":
	case samePortal(ans.ClientEndpoint, o.cfg.ClientEndpoint):
		o.endpoint = withSlash(ans.ClientEndpoint)
	default:
		o.log.Warn("ignored the token answer's client_endpoint: not https on the configured portal's host", "configured", hostOf(o.cfg.ClientEndpoint), "answered", hostOf(ans.ClientEndpoint))
	}
	if ans.ServerEndpoint != "" && o.followServer {
		if token := serverTokenURL(ans.ServerEndpoint); token != "" {
			o.tokenURL = token
		} else {
			o.log.Warn("ignored the token answer's server_endpoint: not https on one of Bitrix24's OAuth servers", "answered", hostOf(ans.ServerEndpoint))
		}
	}
	o.log.Info("refreshed the OAuth access token")
	if o.store != nil {
		f := tokenFile{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, ClientEndpoint: o.endpoint, TokenURL: o.tokenURL, UserID: o.userID,
			SavedAt: time.Now().UTC(), Origin: fingerprint(o.cfg.RefreshToken)}
		if ans.ExpiresIn > 0 {
			f.ExpiresAt = f.SavedAt.Add(time.Duration(ans.ExpiresIn) * time.Second)
		}
		if err := o.store.write(ctx, f); err != nil {
			// The new pair is live in memory; losing it on restart would force a
			// re-authorization, so say so loudly but keep serving.
			o.log.Error("could not save the rotated OAuth tokens; a restart will need re-authorization", "store", o.store.String(), "error", err)
		}
	}
	return nil
}

// checkWritableDir refuses a token file in a folder this process cannot
// write: the rotated pair and the refresh lock live there, so the first
// expiry would otherwise fail every call.
func checkWritableDir(path string) error {
	dir := filepath.Dir(path)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".tokens-check-*"); err == nil {
			f.Close()
			err = os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("BITRIX24_TOKEN_FILE: the folder %s cannot be written (%v): the rotated OAuth tokens and their refresh lock are kept there; choose a folder this user can write", dir, errors.Unwrap(err))
	}
	return nil
}

// writeTokenFile replaces the file atomically with mode 0600.
func writeTokenFile(path string, f tokenFile) error {
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Refreshes counts token refreshes this client has asked for.
func (c *Client) Refreshes() int64 {
	if c.oauth == nil {
		return 0
	}
	return c.oauth.refreshes.Load()
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "?"
}
