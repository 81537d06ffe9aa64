package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// config is everything the server is started with: flags for the non-secret
// settings, the environment for all (secrets only from the environment).
type config struct {
	Demo        bool
	ReadOnly    bool
	LogLevel    slog.Level
	LogFormat   string
	Transport   string
	Addr        string
	Stateless   bool
	AuthToken   bitrix.Secret
	ShowVersion bool

	Bitrix   bitrix.Config
	Settings tools.Settings
}

// usageError is a configuration mistake: exit status 2 with its message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const startHelp = `bitrix24-chat-mcp needs a Bitrix24 portal. Start it one of two ways:
  1. with credentials: set BITRIX24_WEBHOOK_URL=https://PORTAL/rest/USER_ID/CODE/
     (or OAuth: BITRIX24_CLIENT_ENDPOINT, BITRIX24_ACCESS_TOKEN, BITRIX24_REFRESH_TOKEN,
     BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET), or
  2. with the built-in demo portal: bitrix24-chat-mcp --demo
See README.md for the full configuration.`

// loadConfig reads flags (args) and the environment (getenv).
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bitrix24-chat-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envBool := func(k string) bool { v, _ := strconv.ParseBool(getenv(k)); return v }
	envOr := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs.BoolVar(&c.Demo, "demo", envBool("BITRIX24_DEMO"), "serve the built-in demo portal (no Bitrix24 account needed)")
	fs.BoolVar(&c.ReadOnly, "read-only", envBool("BITRIX24_READ_ONLY"), "do not register add_chat_users")
	level := fs.String("log-level", envOr("LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", envOr("LOG_FORMAT", "text"), "text or json (logs go to stderr)")
	fs.StringVar(&c.Transport, "transport", envOr("MCP_TRANSPORT", "stdio"), "stdio, sse or http")
	fs.StringVar(&c.Addr, "addr", envOr("MCP_ADDR", "127.0.0.1:8080"), "listen address for sse and http")
	fs.BoolVar(&c.Stateless, "stateless", envBool("MCP_STATELESS"), "http: no sessions, for replicas behind a load balancer")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	rateLimit := fs.Float64("rate-limit", 0, "requests per second the portal drains (BITRIX24_RATE_LIMIT, default 2)")
	rateBurst := fs.Int("rate-burst", 0, "the portal's bucket size (BITRIX24_RATE_BURST, default 50)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q; run with -h for the flags", fs.Arg(0))
	}
	if c.ShowVersion {
		return c, nil
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, usagef("--log-level / LOG_LEVEL: %q is not one of debug, info, warn, error", *level)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, usagef("--log-format / LOG_FORMAT: %q is not text or json", c.LogFormat)
	}
	switch c.Transport {
	case "stdio", "sse", "http":
	default:
		return nil, usagef("--transport / MCP_TRANSPORT: %q is not stdio, sse or http", c.Transport)
	}
	c.AuthToken = bitrix.Secret(getenv("MCP_AUTH_TOKEN"))

	var err error
	b := &c.Bitrix
	b.RateLimit = *rateLimit
	if b.RateLimit == 0 {
		if b.RateLimit, err = envFloat(getenv, "BITRIX24_RATE_LIMIT", 2); err != nil {
			return nil, err
		}
	}
	b.RateBurst = *rateBurst
	if b.RateBurst == 0 {
		if b.RateBurst, err = envInt(getenv, "BITRIX24_RATE_BURST", 50, 1, 100000); err != nil {
			return nil, err
		}
	}
	b.BotToken = bitrix.Secret(getenv("BITRIX24_BOT_TOKEN"))
	b.BotClientID = bitrix.Secret(getenv("BITRIX24_BOT_CLIENT_ID"))

	st := &c.Settings
	st.ReadOnly = c.ReadOnly
	if st.BotID, err = envInt(getenv, "BITRIX24_BOT_ID", 0, 0, 1<<31-1); err != nil {
		return nil, err
	}
	if st.MaxInvite, err = envInt(getenv, "BITRIX24_MAX_INVITE", tools.DefaultMaxInvite, 1, 1000); err != nil {
		return nil, err
	}
	if raw := strings.TrimSpace(getenv("BITRIX24_ALLOWED_CHAT_IDS")); raw != "" {
		st.AllowedChatIDs = map[int]bool{}
		for _, part := range strings.Split(raw, ",") {
			part = strings.TrimPrefix(strings.TrimSpace(part), "chat")
			id, err := strconv.Atoi(part)
			if err != nil || id < 1 {
				return nil, usagef("BITRIX24_ALLOWED_CHAT_IDS: %q is not a chat id; use a comma list such as 2935,2725", part)
			}
			st.AllowedChatIDs[id] = true
		}
	}

	webhook := getenv("BITRIX24_WEBHOOK_URL")
	endpoint := getenv("BITRIX24_CLIENT_ENDPOINT")
	switch {
	case c.Demo:
		// The demo portal brings its own credentials (see demo.go).
	case webhook != "" && endpoint != "":
		return nil, usagef("set either BITRIX24_WEBHOOK_URL or the OAuth settings (BITRIX24_CLIENT_ENDPOINT...), not both")
	case webhook != "":
		b.WebhookURL = bitrix.Secret(webhook)
	case endpoint != "":
		b.OAuth = &bitrix.OAuthConfig{
			ClientEndpoint: endpoint,
			AccessToken:    bitrix.Secret(getenv("BITRIX24_ACCESS_TOKEN")),
			RefreshToken:   bitrix.Secret(getenv("BITRIX24_REFRESH_TOKEN")),
			ClientID:       getenv("BITRIX24_CLIENT_ID"),
			ClientSecret:   bitrix.Secret(getenv("BITRIX24_CLIENT_SECRET")),
			TokenURL:       getenv("BITRIX24_OAUTH_TOKEN_URL"),
			TokenFile:      getenv("BITRIX24_TOKEN_FILE"),
		}
		if b.OAuth.RefreshToken != "" && (b.OAuth.ClientID == "" || b.OAuth.ClientSecret == "") {
			return nil, usagef("OAuth: refreshing tokens needs BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET")
		}
	default:
		return nil, &usageError{startHelp}
	}
	st.Webhook = b.OAuth == nil
	st.HasBotToken = b.BotToken != ""
	return c, nil
}

func envInt(getenv func(string) string, key string, def, lo, hi int) (int, error) {
	raw := strings.TrimSpace(getenv(key))
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, usagef("%s: %q is not a whole number from %d to %d", key, raw, lo, hi)
	}
	return n, nil
}

func envFloat(getenv func(string) string, key string, def float64) (float64, error) {
	raw := strings.TrimSpace(getenv(key))
	if raw == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || f <= 0 {
		return 0, usagef("%s: %q is not a positive number", key, raw)
	}
	return f, nil
}
