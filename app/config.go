package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/state"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// Config is everything the server is started with.
type Config struct {
	Demo      bool
	LogLevel  slog.Level
	LogFormat string
	// MetricsAddr, when set, serves /metrics on a listener of its own.
	MetricsAddr string
	// AuditLog is where the audit trail goes ("" off, "stderr", or a file).
	AuditLog string
	// StateKey seals the OAuth pair kept in the shared store (MCP_STATE_KEY).
	StateKey []byte
	// PreviousStateKey still opens and verifies during a key change.
	PreviousStateKey []byte
	// TrustedProxies name a request's source from X-Forwarded-For (sign-in).
	TrustedProxies []netip.Prefix
	// ClientMetadataDocuments: sign-in accepts clients named by a document URL.
	ClientMetadataDocuments bool
	Transport               string
	Addr                    string
	Stateless               bool
	AuthToken               bitrix.Secret
	// Auth is "token" (MCP_AUTH_TOKEN) or "bitrix24" (each person signs in).
	Auth      string
	PublicURL string // with sign-in: the issuer and the tokens' audience
	AuthStore string // with sign-in and no StateURL: the bbolt file

	StateURL       string   // redis:// store replicas share; "" = in-process state
	AllowedOrigins []string // browser origins the HTTP transports answer
	MaxConnections int
	MaxSessions    int
	// MaxSessionsPerPerson caps one signed-in person's sessions.
	MaxSessionsPerPerson int

	Bitrix bitrix.Config
	Tools  tools.Settings

	// credentials as given, resolved into Bitrix by Load
	webhook   bitrix.Secret
	oauth     bitrix.OAuthConfig
	portalURL string
}

// SignIn reports whether each person signs in with Bitrix24.
func (c *Config) SignIn() bool { return c.Auth == "bitrix24" }

// UsageError is a configuration mistake: the process exits with status 2
// and this message, which names the setting.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// StartHelp is what a start without any credentials prints.
const StartHelp = `bitrix24-chat-mcp needs a Bitrix24 portal. Start it one of two ways:
  1. with credentials: set BITRIX24_WEBHOOK_URL=https://PORTAL/rest/USER_ID/CODE/
     (or OAuth: BITRIX24_CLIENT_ENDPOINT, BITRIX24_ACCESS_TOKEN, BITRIX24_REFRESH_TOKEN,
     BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET), or
  2. with the built-in demo portal: bitrix24-chat-mcp --demo
Run bitrix24-chat-mcp --help for every setting.`

// Load reads the settings: a flag beats the environment, which beats the
// default. args are the command line after the program (or command) name.
// The returned bool is true when the command line asked for --version.
// --help prints the usage to stderr and returns flag.ErrHelp.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the caller prints the help for flag.ErrHelp
	given := map[string]*flagValue{}
	for _, s := range Settings() {
		if s.Flag != "" {
			v := &flagValue{isBool: s.Kind == KindBool}
			given[s.Flag] = v
			fs.Var(v, s.Flag, s.Help)
		}
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, false, err
		}
		return nil, false, &UsageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, false, usagef("unexpected argument %q; run %s --help for the usage", fs.Arg(0), name)
	}
	if *showVersion {
		return nil, true, nil
	}
	c := &Config{}
	for _, s := range Settings() {
		raw, source := s.Default, "default of "+s.name()
		if v := strings.TrimSpace(getenv(s.Alias)); s.Alias != "" && v != "" {
			raw, source = v, s.Alias
		}
		if v := strings.TrimSpace(getenv(s.Env)); v != "" {
			raw, source = v, s.Env
		}
		if v := given[s.Flag]; v != nil && v.set {
			raw, source = v.value, "--"+s.Flag
		}
		if err := s.set(c, raw); err != nil {
			return nil, false, usagef("%s: %s", source, err)
		}
	}
	if err := c.resolvePortalURL(); err != nil {
		return nil, false, err
	}
	if c.SignIn() {
		if err := c.resolveSignIn(); err != nil {
			return nil, false, err
		}
		return c, false, nil
	}
	if err := c.resolveCredentials(); err != nil {
		return nil, false, err
	}
	return c, false, nil
}

// resolvePortalURL turns BITRIX24_PORTAL_URL into the client endpoint.
func (c *Config) resolvePortalURL() error {
	if c.portalURL == "" {
		return nil
	}
	u, err := url.Parse(strings.TrimRight(c.portalURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/rest") {
		return usagef("BITRIX24_PORTAL_URL: %q is not the portal's address, such as https://yourcompany.bitrix24.com", c.portalURL)
	}
	endpoint := u.Scheme + "://" + u.Host + "/rest/"
	if c.oauth.ClientEndpoint != "" && strings.TrimRight(c.oauth.ClientEndpoint, "/") != strings.TrimRight(endpoint, "/") {
		return usagef("BITRIX24_PORTAL_URL (%s) and BITRIX24_CLIENT_ENDPOINT (%s) name different portals: set one", c.portalURL, c.oauth.ClientEndpoint)
	}
	c.oauth.ClientEndpoint = endpoint
	return nil
}

// resolveSignIn checks what --auth bitrix24 needs: the portal and its OAuth
// application, the public URL, a network transport and the key.
func (c *Config) resolveSignIn() error {
	o := c.oauth
	switch {
	case c.Demo:
		return usagef("MCP_AUTH=bitrix24: people sign in on a real portal's page, which the demo portal cannot show; use the demo without it")
	case c.Transport == "stdio":
		return usagef("MCP_AUTH=bitrix24 signs people in over the network: set MCP_TRANSPORT=http (or sse). On one machine over stdio, run bitrix24-chat-mcp login instead")
	case c.webhook != "":
		return usagef("MCP_AUTH=bitrix24: each person acts as themselves, so BITRIX24_WEBHOOK_URL (one person's credentials) must not be set")
	case o.AccessToken != "" || o.RefreshToken != "":
		return usagef("MCP_AUTH=bitrix24: each person signs in, so BITRIX24_ACCESS_TOKEN and BITRIX24_REFRESH_TOKEN must not be set")
	case c.AuthToken != "":
		return usagef("MCP_AUTH=bitrix24 replaces MCP_AUTH_TOKEN: unset it (clients get their tokens by signing in)")
	case o.ClientEndpoint == "":
		return usagef("MCP_AUTH=bitrix24: set BITRIX24_PORTAL_URL to the portal people sign in to (https://yourcompany.bitrix24.com)")
	case o.ClientID == "" || o.ClientSecret == "":
		return usagef("MCP_AUTH=bitrix24: set BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET of the portal's OAuth application (its handler URL is MCP_PUBLIC_URL/callback)")
	case c.StateKey == nil:
		return usagef("MCP_AUTH=bitrix24: set MCP_STATE_KEY (or MCP_STATE_KEY_FILE) to 32 random bytes (openssl rand -hex 32): it signs tokens and seals each person's Bitrix24 tokens at rest")
	}
	pub, err := auth.CheckPublicURL(c.PublicURL)
	if err != nil {
		return &UsageError{err.Error()}
	}
	c.PublicURL = pub
	if c.StateURL == "" && c.AuthStore == "" {
		c.AuthStore = strings.TrimSuffix(defaultTokenFile(o.ClientEndpoint), ".json") + ".db"
		c.AuthStore = strings.Replace(c.AuthStore, "tokens-", "signin-", 1)
	}
	o.SignIn = true
	c.Bitrix.OAuth = &o
	return nil
}

// readKeyFile reads MCP_STATE_KEY_FILE, refusing one others may read.
func readKeyFile(path string) ([]byte, error) {
	raw, err := readSecretFile(path)
	if err != nil {
		return nil, err
	}
	return state.ParseKey(raw)
}

// readSecretFile reads a file holding a secret (a key, a webhook URL),
// refusing one others may read, as the token file's rule does (Windows
// files carry ACLs, not a mode).
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	if bitrix.ReadableByOthers(fi) {
		return "", fmt.Errorf("%s can be read by other users (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	return strings.TrimSpace(string(raw)), nil
}

// resolveCredentials picks the webhook or OAuth from what was set.
func (c *Config) resolveCredentials() error {
	o := c.oauth
	switch {
	case c.Demo:
		// The demo portal brings its own credentials (see demo.go).
	case c.webhook != "" && o.ClientEndpoint != "":
		return usagef("set either BITRIX24_WEBHOOK_URL or the OAuth settings (BITRIX24_CLIENT_ENDPOINT...), not both")
	case c.webhook != "":
		c.Bitrix.WebhookURL = c.webhook
	case o.ClientEndpoint != "":
		if o.RefreshToken != "" && (o.ClientID == "" || o.ClientSecret == "") {
			return usagef("OAuth: refreshing tokens needs BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET")
		}
		if o.TokenFile == "" {
			o.TokenFile = defaultTokenFile(o.ClientEndpoint)
		}
		if o.AccessToken == "" && o.RefreshToken == "" {
			if _, err := os.Stat(o.TokenFile); err != nil {
				return usagef("OAuth: set BITRIX24_ACCESS_TOKEN and BITRIX24_REFRESH_TOKEN (from the application's installation), or BITRIX24_TOKEN_FILE to a file that holds them (%s does not exist)", o.TokenFile)
			}
		}
		c.Bitrix.OAuth = &o
	case o.AccessToken != "" || o.RefreshToken != "" || o.ClientID != "" || o.ClientSecret != "":
		return usagef("OAuth settings are set, but BITRIX24_CLIENT_ENDPOINT is missing: set it to the portal's REST endpoint, https://PORTAL/rest/")
	default:
		return &UsageError{StartHelp}
	}
	return nil
}

// defaultTokenFile is where rotated OAuth tokens live when
// BITRIX24_TOKEN_FILE is not set: one file per portal in the user's config
// directory, so that a restart, `check` and a second client on the same
// machine all find the live pair. "" when there is no config directory.
// DefaultTokenFile is where the OAuth pair of the portal at endpoint lives
// when BITRIX24_TOKEN_FILE is not set (login writes it there).
func DefaultTokenFile(endpoint string) string { return defaultTokenFile(endpoint) }

func defaultTokenFile(endpoint string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	host := "portal"
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = strings.NewReplacer(":", "_", "/", "_", "\\", "_").Replace(u.Host)
	}
	return filepath.Join(dir, "bitrix24-chat-mcp", "tokens-"+host+".json")
}

// flagValue records a flag's text; parsing and range checks are the
// setting's, the same as for the environment.
type flagValue struct {
	value  string
	set    bool
	isBool bool
}

func (v *flagValue) String() string   { return v.value }
func (v *flagValue) IsBoolFlag() bool { return v.isBool }
func (v *flagValue) Set(s string) error {
	v.value, v.set = s, true
	return nil
}

// parseBool accepts the spellings people use in environment files.
func parseBool(raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; use true or false (or 1/0, yes/no, on/off)", raw)
}

func parseInt(raw string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a whole number from %d to %d", raw, lo, hi)
	}
	return n, nil
}

func parseFloat(raw string, lo, hi float64) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil || f < lo || f > hi {
		return 0, fmt.Errorf("%q is not a number from %g to %g", raw, lo, hi)
	}
	return f, nil
}

func parseChoice(raw string, choices ...string) (string, error) {
	for _, c := range choices {
		if raw == c {
			return raw, nil
		}
	}
	return "", fmt.Errorf("%q is not one of %s", raw, strings.Join(choices, ", "))
}

func parseChatIDs(raw string) (map[int]bool, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	ids := map[int]bool{}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "chat")
		id, err := strconv.Atoi(part)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("%q is not a chat id; use a comma list such as 2935,2725", part)
		}
		ids[id] = true
	}
	return ids, nil
}

// parseOrigins reads a comma list of origins: scheme://host[:port], no path.
func parseOrigins(raw string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimRight(strings.TrimSpace(part), "/")
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || part == "*" {
			return nil, fmt.Errorf("%q is not an origin; use scheme://host[:port], such as https://app.example.com (no wildcards)", part)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}
