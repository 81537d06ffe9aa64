package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// SignInEnv is the environment of a sign-in server at public against p.
func SignInEnv(p *fakeportal.Portal, public, dir, key string) map[string]string {
	f := p.Fixture()
	return map[string]string{
		"MCP_TRANSPORT": "http", "MCP_AUTH": "bitrix24", "MCP_PUBLIC_URL": public,
		"BITRIX24_PORTAL_URL": strings.TrimSuffix(p.TokenURL(), "/oauth/token/"), "BITRIX24_OAUTH_TOKEN_URL": p.TokenURL(),
		"BITRIX24_CLIENT_ID": f.OAuth.ClientID, "BITRIX24_CLIENT_SECRET": f.OAuth.ClientSecret,
		"MCP_STATE_KEY": key, "MCP_AUTH_STORE": filepath.Join(dir, "signin.db"), "MCP_AUDIT_LOG": filepath.Join(dir, "audit.log"),
		"BITRIX24_ENABLE_REMOVE": "true", "BITRIX24_BOT_ID": "456",
	}
}

// NewKey is a fresh MCP_STATE_KEY.
func NewKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Browser is a person's browser: it keeps cookies, follows redirects, and
// stops at the MCP client's redirect URI, whose query it returns.
type Browser struct {
	Client *http.Client
	// Decide is what the person clicks on the consent page (default "allow").
	Decide string
	// Pages records each page's body (the consent page among them).
	Pages []string
}

// NewBrowser makes a browser with an empty cookie jar.
func NewBrowser() *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

var signinField = regexp.MustCompile(`name="signin" value="([^"]+)"`)

// errArrived stops redirects at the client's redirect URI.
var errArrived = errors.New("arrived at the redirect URI")

// Authorize opens authURL, answers the consent page, goes through the
// portal's sign-in, and returns the query the server sent to redirectPrefix.
func (b *Browser) Authorize(authURL, redirectPrefix string) (url.Values, error) {
	var arrived *url.URL
	c := *b.Client
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectPrefix) {
			arrived = req.URL
			return errArrived
		}
		return nil
	}
	resp, err := c.Get(authURL)
	if arrived != nil {
		return arrived.Query(), nil
	}
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.Pages = append(b.Pages, string(body))
	m := signinField.FindStringSubmatch(string(body))
	if m == nil {
		return nil, fmt.Errorf("no consent form: HTTP %d: %s", resp.StatusCode, body)
	}
	decision := b.Decide
	if decision == "" {
		decision = "allow"
	}
	consent := resp.Request.URL.ResolveReference(&url.URL{Path: "/authorize/consent"})
	resp, err = c.PostForm(consent.String(), url.Values{"signin": {m[1]}, "decision": {decision}})
	if arrived != nil {
		return arrived.Query(), nil
	}
	if err != nil {
		return nil, err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return nil, fmt.Errorf("the sign-in ended at %s with HTTP %d: %s", resp.Request.URL, resp.StatusCode, body)
}

// Fetcher is the Go SDK's AuthorizationCodeFetcher through this browser.
func (b *Browser) Fetcher(redirectPrefix string) auth.AuthorizationCodeFetcher {
	return func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		q, err := b.Authorize(args.URL, redirectPrefix)
		if err != nil {
			return nil, err
		}
		if e := q.Get("error"); e != "" {
			return nil, fmt.Errorf("authorization refused: %s: %s", e, q.Get("error_description"))
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}
