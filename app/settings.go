package app

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/state"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// Kind is a setting's value type, as the MCP registry's server.json names it.
type Kind string

const (
	KindString Kind = "string"
	KindNumber Kind = "number"
	KindBool   Kind = "boolean"
)

// Setting is one line of the configuration table: it drives the flags,
// --help, the README's configuration table and the server.json check.
type Setting struct {
	Flag    string // "" for secrets: those come from the environment only
	Env     string
	Alias   string // an older name of Env, still read when Env is unset
	Default string
	Secret  bool
	Kind    Kind
	Help    string
	set     func(c *Config, raw string) error // parse, check the range, store
}

func (s Setting) name() string {
	if s.Flag != "" {
		return "--" + s.Flag
	}
	return s.Env
}

// Settings is the configuration table, in the order the docs show it.
func Settings() []Setting {
	return []Setting{
		// Credentials: a webhook, or OAuth.
		secret("BITRIX24_WEBHOOK_URL", "Inbound webhook URL https://PORTAL/rest/USER_ID/CODE/ (scopes: im; imbot for the bot tools; department, user_brief and sonet_group for teams).",
			func(c *Config) *bitrix.Secret { return &c.webhook }),
		{Flag: "webhook-url-file", Env: "BITRIX24_WEBHOOK_URL_FILE", Kind: KindString,
			Help: "A file (readable by its owner only) holding BITRIX24_WEBHOOK_URL, instead of the variable: an MCP client's configuration (claude mcp get shows -e values) then holds only the path.",
			set: func(c *Config, raw string) error {
				if raw == "" {
					return nil
				}
				if c.webhook != "" {
					return fmt.Errorf("set BITRIX24_WEBHOOK_URL or BITRIX24_WEBHOOK_URL_FILE, not both")
				}
				url, err := readSecretFile(raw)
				c.webhook = bitrix.Secret(url)
				return err
			}},
		text("", "BITRIX24_PORTAL_URL", "", "The portal, https://PORTAL: the same as BITRIX24_CLIENT_ENDPOINT=https://PORTAL/rest/ (sign-in names the portal this way).",
			func(c *Config) *string { return &c.portalURL }),
		text("", "BITRIX24_CLIENT_ENDPOINT", "", "OAuth instead of a webhook: the portal's REST endpoint, https://PORTAL/rest/.",
			func(c *Config) *string { return &c.oauth.ClientEndpoint }),
		secret("BITRIX24_ACCESS_TOKEN", "OAuth access token.", func(c *Config) *bitrix.Secret { return &c.oauth.AccessToken }),
		secret("BITRIX24_REFRESH_TOKEN", "OAuth refresh token; rotated tokens are saved to BITRIX24_TOKEN_FILE.",
			func(c *Config) *bitrix.Secret { return &c.oauth.RefreshToken }),
		text("", "BITRIX24_CLIENT_ID", "", "OAuth application's client id (needed to refresh tokens).",
			func(c *Config) *string { return &c.oauth.ClientID }),
		secret("BITRIX24_CLIENT_SECRET", "OAuth application's client secret (needed to refresh tokens).",
			func(c *Config) *bitrix.Secret { return &c.oauth.ClientSecret }),
		text("", "BITRIX24_OAUTH_TOKEN_URL", bitrix.DefaultTokenURL, "OAuth token endpoint.",
			func(c *Config) *string { return &c.oauth.TokenURL }),
		text("", "BITRIX24_TOKEN_FILE", "", "File (mode 0600) that keeps the rotated OAuth pair across restarts and processes (refreshes take its lock); it wins over the configured pair it descends from. Its folder must be writable (checked at start). Default: tokens-HOST.json under the user's config directory.",
			func(c *Config) *string { return &c.oauth.TokenFile }),

		// The chat bot, for bot_chat_members and get_bot_chat.
		number("bot-id", "BITRIX24_BOT_ID", 0, 0, 1<<31-1, "Default bot id for the bot tools (0: none; then every call passes bot_id).",
			func(c *Config) *int { return &c.Tools.BotID }),
		secret("BITRIX24_BOT_TOKEN", "The bot's token, for imbot.v2 methods on a webhook.",
			func(c *Config) *bitrix.Secret { return &c.Bitrix.BotToken }),
		secret("BITRIX24_BOT_CLIENT_ID", "The CLIENT_ID the bot was registered with, for imbot.chat.user.list on a webhook.",
			func(c *Config) *bitrix.Secret { return &c.Bitrix.BotClientID }),

		// Safety.
		boolean("read-only", "BITRIX24_READ_ONLY", "Offer only the tools that read: add_chat_users and sync_chat_with_team are not registered.",
			func(c *Config) *bool { return &c.Tools.ReadOnly }),
		{Flag: "allowed-chat-ids", Env: "BITRIX24_ALLOWED_CHAT_IDS", Kind: KindString,
			Help: "Comma list of chat ids the tools that write may change (empty: every chat).",
			set: func(c *Config, raw string) (err error) {
				c.Tools.AllowedChatIDs, err = parseChatIDs(raw)
				return err
			}},
		number("max-invite", "BITRIX24_MAX_INVITE", tools.DefaultMaxInvite, 1, 1000, "Most users add_chat_users and remove_chat_users take in one call.",
			func(c *Config) *int { return &c.Tools.MaxInvite }),
		boolean("enable-remove", "BITRIX24_ENABLE_REMOVE", "Offer remove_chat_users (never in read-only mode); it asks the human first when the client can.",
			func(c *Config) *bool { return &c.Tools.EnableRemove }),
		number("confirm-over", "BITRIX24_CONFIRM_OVER", tools.DefaultConfirmOver, 0, 1000, "add_chat_users asks the human to confirm an invitation of more users than this, when the client can ask.",
			func(c *Config) *int { return &c.Tools.ConfirmOver }),

		number("max-result-chars", "BITRIX24_MAX_RESULT_CHARS", tools.DefaultMaxResultChars, 4000, 10000000,
			"Most characters a tool result holds in each channel (text, and structured JSON); about 3.5 characters a token. Listings past it stop early with next_offset. Claude Code moves results over 50,000 characters out of the conversation: above that, the listing tools declare anthropic/maxResultSizeChars, and Claude Code's MAX_MCP_OUTPUT_TOKENS (25,000 tokens) must allow it too.",
			func(c *Config) *int { return &c.Tools.MaxResultChars }),

		// The portal's rate limit.
		{Flag: "rate-limit", Env: "BITRIX24_RATE_LIMIT", Default: fmt.Sprint(bitrix.DefaultRateLimit), Kind: KindNumber,
			Help: "Requests a second the portal drains (Enterprise: 5).",
			set: func(c *Config, raw string) (err error) {
				c.Bitrix.RateLimit, err = parseFloat(raw, 0.01, 100000)
				return err
			}},
		number("rate-burst", "BITRIX24_RATE_BURST", bitrix.DefaultRateBurst, 1, 100000, "The portal's bucket size (Enterprise: 250).",
			func(c *Config) *int { return &c.Bitrix.RateBurst }),

		// The server.
		boolean("demo", "BITRIX24_DEMO", "Serve the built-in demo portal: no Bitrix24 account needed.",
			func(c *Config) *bool { return &c.Demo }),
		choice("transport", "MCP_TRANSPORT", "How clients connect: stdio, http (Streamable HTTP at /mcp, legacy SSE too) or sse.",
			func(c *Config) *string { return &c.Transport }, "stdio", "http", "sse"),
		text("addr", "MCP_ADDR", "127.0.0.1:8080", "Listen address for http and sse.",
			func(c *Config) *string { return &c.Addr }),
		text("audit-log", "MCP_AUDIT_LOG", "", "Append one JSON line per change, refused change, bot registration, sign-in and sign-out to this file (or stderr). A change whose line cannot be written is not made. Off by default.",
			func(c *Config) *string { return &c.AuditLog }),
		{Flag: "metrics-addr", Env: "MCP_METRICS_ADDR", Kind: KindString,
			Help: "Also serve Prometheus metrics at /metrics on this address (host:port), unauthenticated: for stdio, or a private port. The HTTP transports serve /metrics behind the token anyway.",
			set: func(c *Config, raw string) error {
				if raw != "" {
					if _, _, err := net.SplitHostPort(raw); err != nil {
						return fmt.Errorf("is not host:port")
					}
				}
				c.MetricsAddr = raw
				return nil
			}},
		boolean("stateless", "MCP_STATELESS", "http: no sessions, for replicas behind a load balancer.",
			func(c *Config) *bool { return &c.Stateless }),
		secret("MCP_AUTH_TOKEN", "Bearer token http and sse clients must send; required off loopback.",
			func(c *Config) *bitrix.Secret { return &c.AuthToken }),
		choice("auth", "MCP_AUTH", "How http and sse clients authenticate: token (MCP_AUTH_TOKEN, or none on loopback; everyone acts as the configured Bitrix24 credentials) or bitrix24 (each person signs in with Bitrix24 through OAuth and acts as themselves; needs MCP_PUBLIC_URL, BITRIX24_PORTAL_URL, BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET and MCP_STATE_KEY).",
			func(c *Config) *string { return &c.Auth }, "token", "bitrix24"),
		text("public-url", "MCP_PUBLIC_URL", "", "With --auth bitrix24: the server's public URL (https://mcp.example.com, no path; http only on loopback). Clients sign in there; the Bitrix24 application's handler URL is its /callback.",
			func(c *Config) *string { return &c.PublicURL }),
		text("auth-store", "MCP_AUTH_STORE", "", "With --auth bitrix24 and no --state: the file (bbolt, mode 0600) that keeps client registrations, refresh-token hashes and each person's sealed Bitrix24 pair. Default: signin-HOST.db under the user's config directory. With --state they live in Redis.",
			func(c *Config) *string { return &c.AuthStore }),
		{Flag: "state", Env: "BITRIX24_STATE_URL", Kind: KindString,
			Help: "redis://host:6379/0 (rediss:// for TLS): replicas share the portal's rate limit, method pauses and the OAuth pair there. Put a password in the variable, not the flag.",
			set: func(c *Config, raw string) error {
				if raw != "" && !strings.HasPrefix(raw, "redis://") && !strings.HasPrefix(raw, "rediss://") {
					return fmt.Errorf("is not a redis:// or rediss:// URL")
				}
				c.StateURL = raw
				return nil
			}},
		{Env: "MCP_STATE_KEY", Secret: true, Kind: KindString,
			Help: "32 bytes (64 hex characters, or base64) that seal the OAuth pair replicas keep in Redis (AES-256-GCM); every replica needs the same. openssl rand -hex 32.",
			set: func(c *Config, raw string) error {
				if raw == "" {
					return nil
				}
				key, err := state.ParseKey(raw)
				c.StateKey = key
				return err
			}},
		{Flag: "state-key-file", Env: "MCP_STATE_KEY_FILE", Kind: KindString,
			Help: "A file (readable by its owner only) holding MCP_STATE_KEY, instead of the variable.",
			set: func(c *Config, raw string) error {
				if raw == "" {
					return nil
				}
				if c.StateKey != nil {
					return fmt.Errorf("set MCP_STATE_KEY or MCP_STATE_KEY_FILE, not both")
				}
				key, err := readKeyFile(raw)
				c.StateKey = key
				return err
			}},
		{Env: "MCP_STATE_KEY_PREVIOUS", Secret: true, Kind: KindString,
			Help: "With --auth bitrix24, while changing MCP_STATE_KEY: the key before, which still verifies tokens and opens records (sealed again with the new key as they are written), so nobody is signed out. Drop it once every access token issued under it has expired (15 minutes) and refresh tokens have rotated.",
			set: func(c *Config, raw string) error {
				if raw == "" {
					return nil
				}
				key, err := state.ParseKey(raw)
				c.PreviousStateKey = key
				return err
			}},
		{Flag: "trusted-proxies", Env: "MCP_TRUSTED_PROXIES", Kind: KindString,
			Help: "With --auth bitrix24: comma list of reverse-proxy addresses or CIDR prefixes (10.0.0.0/8) whose X-Forwarded-For names a request's source for the per-source limits. Default: none; the peer is the source.",
			set: func(c *Config, raw string) (err error) {
				c.TrustedProxies, err = auth.ParseTrustedProxies(raw)
				if err != nil {
					return fmt.Errorf("%q is not a comma list of addresses or CIDR prefixes (10.0.0.0/8, ::1): %v", raw, err)
				}
				return nil
			}},
		{Flag: "client-metadata-documents", Env: "MCP_CLIENT_METADATA_DOCUMENTS", Default: "true", Kind: KindBool,
			Help: "With --auth bitrix24: accept clients that name themselves by an https URL (Client ID Metadata Documents, which the server fetches). false: clients register instead (dynamic registration), for a server that cannot reach the internet.",
			set:  func(c *Config, raw string) (err error) { c.ClientMetadataDocuments, err = parseBool(raw); return err }},
		{Flag: "allowed-origins", Env: "MCP_ALLOWED_ORIGINS", Kind: KindString,
			Help: "Comma list of browser origins (https://app.example.com) that may use the HTTP transports; a request from any other Origin gets 403.",
			set: func(c *Config, raw string) (err error) {
				c.AllowedOrigins, err = parseOrigins(raw)
				return err
			}},
		number("max-connections", "MCP_MAX_CONNECTIONS", 512, 4, 100000, "Most HTTP connections open at once; at the cap a new one replaces the idle or half-sent one that has waited longest (of the source holding the most), or is answered 503 when every one is being served.",
			func(c *Config) *int { return &c.MaxConnections }),
		number("max-sessions", "MCP_MAX_SESSIONS", 1000, 1, 1000000, "Most live Streamable HTTP sessions (idle ones end after 30 minutes); a new one past it is refused.",
			func(c *Config) *int { return &c.MaxSessions }),
		number("max-sessions-per-person", "MCP_MAX_SESSIONS_PER_PERSON", 20, 1, 1000000, "With --auth bitrix24: most live Streamable HTTP sessions one person holds; a new one past it ends their least recently used.",
			func(c *Config) *int { return &c.MaxSessionsPerPerson }),
		{Flag: "log-level", Env: "LOG_LEVEL", Default: "info", Kind: KindString, Help: "debug (one line per Bitrix24 call), info, warn or error. Logs go to stderr.",
			set: func(c *Config, raw string) error {
				if c.LogLevel.UnmarshalText([]byte(raw)) != nil {
					return fmt.Errorf("%q is not one of debug, info, warn, error", raw)
				}
				return nil
			}},
		withAlias(choice("log-format", "MCP_LOG_FORMAT", "text (tint) or json: one JSON object a line. LOG_FORMAT is read too.", func(c *Config) *string { return &c.LogFormat }, "text", "json"), "LOG_FORMAT"),
	}
}

func withAlias(s Setting, alias string) Setting {
	s.Alias = alias
	return s
}

func secret(env, help string, field func(*Config) *bitrix.Secret) Setting {
	return Setting{Env: env, Secret: true, Kind: KindString, Help: help,
		set: func(c *Config, raw string) error { *field(c) = bitrix.Secret(raw); return nil }}
}

func text(flag, env, def, help string, field func(*Config) *string) Setting {
	return Setting{Flag: flag, Env: env, Default: def, Kind: KindString, Help: help,
		set: func(c *Config, raw string) error { *field(c) = raw; return nil }}
}

func choice(flag, env, help string, field func(*Config) *string, choices ...string) Setting {
	return Setting{Flag: flag, Env: env, Default: choices[0], Kind: KindString, Help: help,
		set: func(c *Config, raw string) (err error) { *field(c), err = parseChoice(raw, choices...); return err }}
}

func boolean(flag, env, help string, field func(*Config) *bool) Setting {
	return Setting{Flag: flag, Env: env, Default: "false", Kind: KindBool, Help: help,
		set: func(c *Config, raw string) (err error) { *field(c), err = parseBool(raw); return err }}
}

func number(flag, env string, def, lo, hi int, help string, field func(*Config) *int) Setting {
	return Setting{Flag: flag, Env: env, Default: fmt.Sprint(def), Kind: KindNumber, Help: help,
		set: func(c *Config, raw string) (err error) { *field(c), err = parseInt(raw, lo, hi); return err }}
}

// PrintSettings writes every setting for --help: variable, flag, default,
// meaning. A flag beats the variable, which beats the default.
func PrintSettings(w io.Writer) {
	fmt.Fprintln(w, "Settings: environment variables; the non-secret ones are flags too (a flag beats the")
	fmt.Fprintln(w, "variable, which beats the default; secrets come from the environment only):")
	for _, s := range Settings() {
		head := s.Env
		if s.Flag != "" {
			head += ", --" + s.Flag
		}
		if s.Secret {
			head += " (secret)"
		}
		def := ""
		if s.Default != "" {
			def = " Default: " + s.Default + "."
		}
		fmt.Fprintf(w, "  %s\n      %s%s\n", head, s.Help, def)
	}
}

// MarkdownTable renders the configuration table for the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| environment variable | flag | default | secret | meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range Settings() {
		flagName, def, sec := "", "", ""
		if s.Flag != "" {
			flagName = "`--" + s.Flag + "`"
		}
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		if s.Secret {
			sec = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Env, flagName, def, sec, strings.ReplaceAll(s.Help, "|", "\\|"))
	}
	return b.String()
}
