package bitrix

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Signing in with Bitrix24's authorization-code flow (the login command):
// the person opens AuthorizeURL, Bitrix24 sends the browser to the redirect
// URI in the application's settings with a code that lives 30 seconds, and
// ExchangeCode trades it at once for the pair SaveGrant writes where the
// server reads it.

// AuthorizeURL is Bitrix24's sign-in page for the application, on the
// portal of clientEndpoint (https://PORTAL/rest/).
func AuthorizeURL(clientEndpoint, clientID, state string) (string, error) {
	u, err := url.Parse(clientEndpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("BITRIX24_CLIENT_ENDPOINT is not an absolute https URL")
	}
	q := url.Values{"client_id": {clientID}, "state": {state}}
	return u.Scheme + "://" + u.Host + "/oauth/authorize/?" + q.Encode(), nil
}

// Grant is what a sign-in gives.
type Grant struct {
	AccessToken    Secret
	RefreshToken   Secret
	ClientEndpoint string // where to call the portal
	TokenURL       string // the regional OAuth server's token URL, when its server_endpoint is one to trust
	UserID         int    // who signed in
	ExpiresIn      int64
}

// ExchangeCode trades an authorization code for the pair at cfg.TokenURL
// (Bitrix24's by default). The code lives 30 seconds: call it at once.
func ExchangeCode(ctx context.Context, cfg OAuthConfig, hc *http.Client, code Secret) (*Grant, error) {
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	if err := checkEndpoint("BITRIX24_OAUTH_TOKEN_URL", cfg.TokenURL); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	q := url.Values{"grant_type": {"authorization_code"}, "client_id": {cfg.ClientID},
		"client_secret": {cfg.ClientSecret.Reveal()}, "code": {code.Reveal()}}
	sep := "?"
	if strings.Contains(cfg.TokenURL, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.TokenURL+sep+q.Encode(), nil)
	if err != nil {
		return nil, &TransportError{Method: "oauth/token", Msg: "bad token URL"}
	}
	resp, err := noResend(hc).Do(req)
	if err != nil {
		var r redactor
		r.add(code.Reveal(), cfg.ClientSecret.Reveal())
		return nil, &TransportError{Method: "oauth/token", Msg: r.scrub(unwrapURLError(err).Error()), Attempts: 1}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ans tokenAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, &Error{Method: "oauth/token", Code: CodeBadResponse, HTTPStatus: resp.StatusCode,
			Description: fmt.Sprintf("the OAuth server answered HTTP %d with %d bytes that are not JSON", resp.StatusCode, len(raw))}
	}
	if ans.Error != "" || ans.AccessToken == "" || ans.RefreshToken == "" {
		code := ans.Error
		if code == "" {
			code = CodeBadResponse
		}
		desc := ans.ErrorDescription
		switch code {
		case CodeInvalidGrant:
			desc = "the authorization code was refused: it lives 30 seconds and works once; sign in again"
		case CodeInvalidClient:
			desc = "the OAuth server rejected the client id or secret: check BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET"
		}
		return nil, &Error{Method: "oauth/token", Code: code, Description: desc, HTTPStatus: resp.StatusCode}
	}
	// An application installed on several portals gets codes from each:
	// an answer that names another portal is not this one's sign-in.
	if ans.ClientEndpoint != "" && !samePortal(ans.ClientEndpoint, cfg.ClientEndpoint) {
		return nil, &Error{Method: "oauth/token", Code: CodeOtherPortal, HTTPStatus: resp.StatusCode,
			Description: fmt.Sprintf("the sign-in is for another portal (%s), not %s", hostOf(ans.ClientEndpoint), hostOf(cfg.ClientEndpoint))}
	}
	g := &Grant{AccessToken: Secret(ans.AccessToken), RefreshToken: Secret(ans.RefreshToken), ClientEndpoint: withSlash(cfg.ClientEndpoint),
		UserID: int(ans.UserID), ExpiresIn: ans.ExpiresIn}
	if ans.ClientEndpoint != "" {
		g.ClientEndpoint = withSlash(ans.ClientEndpoint)
	}
	if cfg.TokenURL == DefaultTokenURL {
		g.TokenURL = serverTokenURL(ans.ServerEndpoint)
	}
	return g, nil
}

// SaveGrant writes the pair to the token file (0600, its folder 0700) under
// the file's lock, where the server and check read it.
func SaveGrant(ctx context.Context, path string, g *Grant) error {
	unlock, err := lockFile(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	f := tokenFile{AccessToken: g.AccessToken.Reveal(), RefreshToken: g.RefreshToken.Reveal(), ClientEndpoint: g.ClientEndpoint,
		TokenURL: g.TokenURL, UserID: g.UserID, SavedAt: time.Now().UTC()}
	if g.ExpiresIn > 0 {
		f.ExpiresAt = f.SavedAt.Add(time.Duration(g.ExpiresIn) * time.Second)
	}
	return writeTokenFile(path, f)
}

// RemoveGrant deletes the token file and its lock: signing out on this
// machine. A missing file is not an error.
func RemoveGrant(path string) (removed bool, err error) {
	err = os.Remove(path)
	if err == nil {
		removed = true
	} else if !os.IsNotExist(err) {
		return false, err
	}
	_ = os.Remove(path + ".lock")
	return removed, nil
}

// WhoSignedIn names the Bitrix24 user a grant acts for. The answer of the
// authorization-code grant does not say (its page's example and field table
// have no user_id; only the refresh answer has one), and a user_id there
// would be the answer's word: user.current is asked with the new token, on
// this application's portal, through c's rate limit. A token of another
// portal fails there; a user_id that differs from user.current's is
// refused. c is a client of the same application.
func (c *Client) WhoSignedIn(ctx context.Context, g *Grant) (int, error) {
	pair := &memoryPair{pair: Pair{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
		ClientEndpoint: g.ClientEndpoint, TokenURL: g.TokenURL}}
	u, err := c.ForUser(ctx, pair)
	if err != nil {
		return 0, err
	}
	me, err := u.Me(ctx)
	if err != nil {
		return 0, err
	}
	// A refresh in between rotated the pair (and saved it here): the grant
	// must carry the live one.
	pair.mu.Lock()
	g.AccessToken, g.RefreshToken = pair.pair.AccessToken, pair.pair.RefreshToken
	pair.mu.Unlock()
	if g.UserID > 0 && g.UserID != int(me.ID) {
		return 0, &Error{Method: "user.current", Code: CodeOtherPortal,
			Description: fmt.Sprintf("the token answer named user %d, but the portal says the token is user %d's", g.UserID, int(me.ID))}
	}
	g.UserID = int(me.ID)
	return g.UserID, nil
}

// memoryPair is a pair kept only in memory, for the one call WhoSignedIn makes.
type memoryPair struct {
	mu   sync.Mutex
	pair Pair
}

func (m *memoryPair) String() string { return "memory" }
func (m *memoryPair) LockPair(context.Context) (func(), error) {
	m.mu.Lock()
	return m.mu.Unlock, nil
}
func (m *memoryPair) LoadPair(context.Context) (*Pair, error)  { p := m.pair; return &p, nil }
func (m *memoryPair) SavePair(_ context.Context, p Pair) error { m.pair = p; return nil }
func (m *memoryPair) ForgetPair(context.Context) error         { return nil }
