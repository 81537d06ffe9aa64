package bitrix

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// The portal's leaky bucket on standard plans: it drains DefaultRateLimit
// requests a second and holds DefaultRateBurst (Enterprise: 5 and 250).
const (
	DefaultRateLimit = 2
	DefaultRateBurst = 50
)

// DefaultTokenURL is Bitrix24's OAuth server, used to refresh access tokens.
const DefaultTokenURL = "https://oauth.bitrix.info/oauth/token/"

// Config says how to reach a portal. Exactly one of WebhookURL and OAuth is set.
type Config struct {
	// WebhookURL is an inbound webhook base URL: https://PORTAL/rest/USER_ID/CODE/.
	// The whole URL is a secret (it holds CODE); it is never printed.
	WebhookURL Secret
	OAuth      *OAuthConfig

	// BotToken authenticates imbot.v2 calls made through a webhook; BotClientID
	// is the CLIENT_ID the bot was registered with, which imbot.chat.user.list
	// needs on webhook calls. Neither is needed with OAuth.
	BotToken    Secret
	BotClientID Secret

	// HTTPClient defaults to one with a 70 s timeout (the cloud portal gives
	// up on a request after 60 s).
	HTTPClient *http.Client

	// RateLimit and RateBurst mirror the portal's leaky bucket: it drains
	// RateLimit requests a second and holds RateBurst. Zero means
	// DefaultRateLimit and DefaultRateBurst.
	RateLimit float64
	RateBurst int

	// Retries: at most MaxAttempts tries, and no new try once MaxRetryTime has
	// passed since the first. Backoff is exponential from RetryBase with jitter.
	MaxAttempts  int
	MaxRetryTime time.Duration
	RetryBase    time.Duration

	// Shared, when set, keeps the rate limit, method pauses and the OAuth
	// pair in a store every replica of the server shares (package state).
	Shared SharedState

	// Observer, when set, hears about requests, rate-limit waits, OAuth
	// refreshes and store failures (metrics).
	Observer Observer

	// NoAutoBatch turns off opportunistic batching: every call is its own
	// request even when calls queue behind the rate limit (for comparisons).
	NoAutoBatch bool

	// Logger gets one debug line per HTTP request. Defaults to discarding.
	Logger *slog.Logger
}

// OAuthConfig is a local or market application's OAuth credentials.
type OAuthConfig struct {
	ClientEndpoint string // e.g. https://portal.bitrix24.com/rest/
	AccessToken    Secret
	RefreshToken   Secret
	ClientID       string
	ClientSecret   Secret
	TokenURL       string // defaults to DefaultTokenURL
	TokenFile      string // where rotated tokens are kept (mode 0600); optional
	// SignIn: each person signs in and calls with their own pair (ForUser);
	// the server holds none, and ignores the tokens and token file above.
	SignIn bool
}

func (c Config) withDefaults() Config {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 70 * time.Second}
	}
	if c.RateLimit <= 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.MaxRetryTime <= 0 {
		c.MaxRetryTime = 45 * time.Second
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OAuth != nil && c.OAuth.TokenURL == "" {
		o := *c.OAuth
		o.TokenURL = DefaultTokenURL
		c.OAuth = &o
	}
	return c
}

// secureEnough refuses plain http to anything but this machine: the webhook
// code and OAuth tokens are passwords, and http sends them in the clear.
func secureEnough(what string, u *url.URL) error {
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("%s uses %s:// to %s: credentials would cross the network unencrypted; use https:// (plain http is only for this machine, 127.0.0.1 or localhost)", what, u.Scheme, u.Hostname())
}

// checkEndpoint parses an OAuth endpoint and applies secureEnough.
func checkEndpoint(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s is not an absolute https URL", what)
	}
	return secureEnough(what, u)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// webhook is a parsed inbound webhook URL.
type webhook struct {
	base   string // https://portal/rest/USER_ID/  (no code)
	code   Secret
	portal string // host, safe to print
	userID string
}

func parseWebhook(raw Secret) (webhook, error) {
	u, err := url.Parse(strings.TrimSpace(raw.Reveal()))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		// url.Parse's error quotes the input, so it is not wrapped.
		return webhook{}, fmt.Errorf("webhook URL is not an absolute http(s) URL; expected https://PORTAL/rest/USER_ID/CODE/")
	}
	if err := secureEnough("the webhook URL", u); err != nil {
		return webhook{}, err
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	// The webhook may sit under a prefix; the last three segments are rest/USER_ID/CODE.
	if len(parts) < 3 || parts[len(parts)-3] != "rest" || parts[len(parts)-2] == "" || parts[len(parts)-1] == "" {
		return webhook{}, fmt.Errorf("webhook URL path must end in /rest/USER_ID/CODE/ (host %s)", u.Host)
	}
	code := parts[len(parts)-1]
	userID := parts[len(parts)-2]
	prefix := strings.Join(parts[:len(parts)-1], "/")
	return webhook{
		base:   u.Scheme + "://" + u.Host + "/" + prefix + "/",
		code:   Secret(code),
		portal: u.Host,
		userID: userID,
	}, nil
}
