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
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// oauthState holds the current token pair. Bitrix24 rotates the refresh token
// on every refresh (the old one dies), so exactly one refresh may run for a
// given access token however many calls saw it expire, and the new pair must
// be saved before anything else can lose it.
type oauthState struct {
	cfg     OAuthConfig
	secrets *redactor
	http    *http.Client
	log     *slog.Logger

	mu       sync.Mutex // held across a refresh: callers queue behind it
	endpoint string
	access   Secret
	refreshT Secret

	refreshes atomic.Int64
}

// tokenFile is what BITRIX24_TOKEN_FILE holds.
type tokenFile struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	ClientEndpoint string    `json:"client_endpoint,omitempty"`
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

func newOAuthState(cfg OAuthConfig, secrets *redactor, hc *http.Client, log *slog.Logger) (*oauthState, error) {
	if cfg.ClientEndpoint == "" {
		return nil, errors.New("bitrix: OAuth needs the client endpoint (https://PORTAL/rest/)")
	}
	if cfg.AccessToken == "" && cfg.RefreshToken == "" && cfg.TokenFile == "" {
		return nil, errors.New("bitrix: OAuth needs an access token, a refresh token or a token file")
	}
	secrets.add(cfg.AccessToken.Reveal(), cfg.RefreshToken.Reveal(), cfg.ClientSecret.Reveal())
	o := &oauthState{cfg: cfg, secrets: secrets, http: hc, log: log,
		endpoint: withSlash(cfg.ClientEndpoint), access: cfg.AccessToken, refreshT: cfg.RefreshToken}
	if cfg.TokenFile != "" {
		if err := o.loadFile(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func withSlash(s string) string {
	if !strings.HasSuffix(s, "/") {
		return s + "/"
	}
	return s
}

// loadFile prefers the saved pair when it descends from the configured one
// (a restart after a rotation); a missing file is not an error.
func (o *oauthState) loadFile() error {
	raw, err := os.ReadFile(o.cfg.TokenFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bitrix: reading token file %s: %w", o.cfg.TokenFile, errors.Unwrap(err))
	}
	var f tokenFile
	if err := json.Unmarshal(raw, &f); err != nil || f.RefreshToken == "" {
		return fmt.Errorf("bitrix: token file %s is not a saved token pair; delete it to start from the configured tokens", o.cfg.TokenFile)
	}
	o.secrets.add(f.AccessToken, f.RefreshToken)
	configured := fingerprint(o.cfg.RefreshToken)
	if configured != "" && f.Origin != configured && Secret(f.RefreshToken) != o.cfg.RefreshToken {
		o.log.Info("token file predates the configured OAuth tokens; using the configured ones", "file", o.cfg.TokenFile)
		return nil
	}
	o.access, o.refreshT = Secret(f.AccessToken), Secret(f.RefreshToken)
	if f.ClientEndpoint != "" {
		o.endpoint = withSlash(f.ClientEndpoint)
	}
	o.log.Debug("using OAuth tokens from token file", "file", o.cfg.TokenFile, "saved_at", f.SavedAt)
	return nil
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
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	ExpiresIn        int64  `json:"expires_in"`
	ClientEndpoint   string `json:"client_endpoint"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// refresh exchanges the refresh token for a new pair, unless the access token
// that failed (used) has already been replaced by a refresh another call made.
func (o *oauthState) refresh(ctx context.Context, used Secret) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if used != "" && used != o.access {
		return nil // someone else refreshed while we waited
	}
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
	if strings.Contains(o.cfg.TokenURL, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.cfg.TokenURL+sep+q.Encode(), nil)
	if err != nil {
		return &TransportError{Method: "oauth/token", Msg: "bad token URL"}
	}
	o.refreshes.Add(1)
	resp, err := o.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &TransportError{Method: "oauth/token", Msg: o.secrets.scrub(unwrapURLError(err).Error())}
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
		if code == CodeInvalidGrant {
			desc = "the refresh token was rejected (expired, already used, or the app was removed): re-authorize the application in Bitrix24 and configure the new tokens (BITRIX24_ACCESS_TOKEN, BITRIX24_REFRESH_TOKEN)"
		} else if code == CodeInvalidClient {
			desc = "the OAuth server rejected the client id or secret: check BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET"
		}
		return &Error{Method: "oauth/token", Code: code, Description: desc, HTTPStatus: resp.StatusCode}
	}
	o.secrets.add(ans.AccessToken, ans.RefreshToken)
	o.access, o.refreshT = Secret(ans.AccessToken), Secret(ans.RefreshToken)
	if ans.ClientEndpoint != "" {
		o.endpoint = withSlash(ans.ClientEndpoint)
	}
	o.log.Info("refreshed the OAuth access token")
	if o.cfg.TokenFile != "" {
		f := tokenFile{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, ClientEndpoint: o.endpoint,
			SavedAt: time.Now().UTC(), Origin: fingerprint(o.cfg.RefreshToken)}
		if ans.ExpiresIn > 0 {
			f.ExpiresAt = f.SavedAt.Add(time.Duration(ans.ExpiresIn) * time.Second)
		}
		if err := writeTokenFile(o.cfg.TokenFile, f); err != nil {
			// The new pair is live in memory; losing it on restart would force a
			// re-authorization, so say so loudly but keep serving.
			o.log.Error("could not save the rotated OAuth tokens; a restart will need re-authorization", "file", o.cfg.TokenFile, "error", err)
		}
	}
	return nil
}

// writeTokenFile replaces the file atomically with mode 0600.
func writeTokenFile(path string, f tokenFile) error {
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
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
