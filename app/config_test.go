package app

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	cfg, _, err := Load(Name, args, func(k string) string { return env[k] }, io.Discard)
	return cfg, err
}

const hook = "https://portal.example/rest/1/abcdefgh/"

func TestBooleansInAnySpelling(t *testing.T) {
	for raw, want := range map[string]bool{"yes": true, "YES": true, "On": true, "1": true, "true": true, "TRUE": true,
		"no": false, "off": false, "0": false, "False": false} {
		cfg, err := load(t, map[string]string{"BITRIX24_WEBHOOK_URL": hook, "BITRIX24_READ_ONLY": raw})
		if err != nil || cfg.Tools.ReadOnly != want {
			t.Errorf("BITRIX24_READ_ONLY=%s: read-only %v, err %v", raw, cfg != nil && cfg.Tools.ReadOnly, err)
		}
	}
	for _, raw := range []string{"maybe", "y", "2", "enabled"} {
		_, err := load(t, map[string]string{"BITRIX24_WEBHOOK_URL": hook, "BITRIX24_READ_ONLY": raw})
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "BITRIX24_READ_ONLY") || !strings.Contains(err.Error(), raw) {
			t.Errorf("BITRIX24_READ_ONLY=%s: want a usage error naming it, got %v", raw, err)
		}
	}
}

// A flag beats the environment, which beats the default; flags get the
// same parsing and range checks as the environment.
func TestPrecedenceAndRanges(t *testing.T) {
	env := map[string]string{"BITRIX24_WEBHOOK_URL": hook, "BITRIX24_MAX_INVITE": "7", "BITRIX24_READ_ONLY": "true"}
	cfg, err := load(t, env, "--max-invite", "5", "--read-only=false")
	if err != nil || cfg.Tools.MaxInvite != 5 || cfg.Tools.ReadOnly {
		t.Fatalf("flags: %+v %v", cfg, err)
	}
	cfg, err = load(t, env)
	if err != nil || cfg.Tools.MaxInvite != 7 || !cfg.Tools.ReadOnly {
		t.Fatalf("environment: %+v %v", cfg, err)
	}
	cfg, err = load(t, map[string]string{"BITRIX24_WEBHOOK_URL": hook}, "--read-only")
	if err != nil || cfg.Tools.MaxInvite != 100 || cfg.Bitrix.RateLimit != 2 || cfg.Bitrix.RateBurst != 50 || !cfg.Tools.ReadOnly ||
		cfg.Transport != "stdio" || cfg.Addr != "127.0.0.1:8080" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		name string
	}{
		{[]string{"--rate-burst", "-5"}, nil, "--rate-burst"},
		{[]string{"--rate-burst", "0"}, nil, "--rate-burst"},
		{[]string{"--rate-limit", "0"}, nil, "--rate-limit"},
		{nil, map[string]string{"BITRIX24_RATE_BURST": "-5"}, "BITRIX24_RATE_BURST"},
		{[]string{"--max-invite", "1001"}, nil, "--max-invite"},
		{[]string{"--bot-id", "x"}, nil, "--bot-id"},
		{[]string{"--transport", "websocket"}, nil, "--transport"},
		{nil, map[string]string{"MCP_TRANSPORT": "websocket"}, "MCP_TRANSPORT"},
		{[]string{"--allowed-chat-ids", "12,x"}, nil, "--allowed-chat-ids"},
		{nil, map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{[]string{"stray"}, nil, "stray"},
	} {
		e := map[string]string{"BITRIX24_WEBHOOK_URL": hook}
		for k, v := range tc.env {
			e[k] = v
		}
		_, err := load(t, e, tc.args...)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v %v: want a usage error naming %s, got %v", tc.args, tc.env, tc.name, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	if _, err := load(t, nil); err == nil || !strings.Contains(err.Error(), "--demo") {
		t.Fatalf("no credentials: %v", err)
	}
	_, err := load(t, map[string]string{"BITRIX24_WEBHOOK_URL": hook, "BITRIX24_CLIENT_ENDPOINT": "https://p.example/rest/"})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("both: %v", err)
	}
	cfg, err := load(t, map[string]string{"BITRIX24_CLIENT_ENDPOINT": "https://p.example/rest/", "BITRIX24_ACCESS_TOKEN": "a"})
	if err != nil || cfg.Bitrix.OAuth == nil || cfg.Bitrix.WebhookURL != "" || cfg.Bitrix.OAuth.TokenURL == "" {
		t.Fatalf("oauth: %+v %v", cfg, err)
	}
	if _, err := load(t, map[string]string{"BITRIX24_CLIENT_ENDPOINT": "https://p.example/rest/", "BITRIX24_REFRESH_TOKEN": "r"}); err == nil ||
		!strings.Contains(err.Error(), "BITRIX24_CLIENT_SECRET") {
		t.Fatalf("refresh without client: %v", err)
	}
	if _, err := load(t, nil, "--demo"); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	_, _, err := Load(Name, []string{"--help"}, func(string) string { return "" }, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	var out strings.Builder
	PrintSettings(&out)
	for _, s := range Settings() {
		if !strings.Contains(out.String(), s.Env) {
			t.Errorf("--help lacks %s", s.Env)
		}
	}
	if _, v, err := Load(Name, []string{"--version"}, func(string) string { return "" }, io.Discard); !v || err != nil {
		t.Fatalf("--version: %v %v", v, err)
	}
}

// The table itself: every default parses, secrets have no flag, names are unique.
func TestSettingsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings() {
		if s.Env == "" || s.Help == "" || s.set == nil || s.Kind == "" {
			t.Errorf("%+v: incomplete", s)
		}
		if s.Secret && s.Flag != "" {
			t.Errorf("%s: a secret must not be a flag (flags show in ps)", s.Env)
		}
		if seen[s.Env] || (s.Flag != "" && seen["--"+s.Flag]) {
			t.Errorf("%s: named twice", s.Env)
		}
		seen[s.Env], seen["--"+s.Flag] = true, true
		if err := s.set(&Config{}, s.Default); err != nil {
			t.Errorf("%s: default %q does not parse: %v", s.Env, s.Default, err)
		}
	}
}

// OAuth without BITRIX24_TOKEN_FILE keeps the pair in the user's config
// directory, one file per portal, so a restart or `check` finds it.
func TestDefaultTokenFile(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	cfg, err := load(t, map[string]string{"BITRIX24_CLIENT_ENDPOINT": "https://portal.example.com:8443/rest/", "BITRIX24_ACCESS_TOKEN": "a"})
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := os.UserConfigDir()
	want := filepath.Join(dir, "bitrix24-chat-mcp", "tokens-portal.example.com_8443.json")
	if cfg.Bitrix.OAuth.TokenFile != want {
		t.Fatalf("token file %q, want %q", cfg.Bitrix.OAuth.TokenFile, want)
	}
}

// MCP_LOG_FORMAT is the name; LOG_FORMAT, its older one, is still read, and
// a bad value under either stops start-up naming the variable.
func TestLogFormatAlias(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		env["BITRIX24_DEMO"] = "true"
		c, _, err := Load(Name, nil, func(k string) string { return env[k] }, io.Discard)
		return c, err
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "text"},
		{map[string]string{"LOG_FORMAT": "json"}, "json"},
		{map[string]string{"MCP_LOG_FORMAT": "json"}, "json"},
		{map[string]string{"MCP_LOG_FORMAT": "text", "LOG_FORMAT": "json"}, "text"},
	} {
		c, err := load(tc.env)
		if err != nil || c.LogFormat != tc.want {
			t.Fatalf("%v: %v %v", tc.env, err, c)
		}
	}
	if _, err := load(map[string]string{"LOG_FORMAT": "yaml"}); err == nil || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("a bad LOG_FORMAT: %v", err)
	}
}

// --auth bitrix24 starts only with what sign-in needs, and names what is
// missing or wrong.
func TestSignInSettings(t *testing.T) {
	key := strings.Repeat("ab", 32)
	good := func() map[string]string {
		return map[string]string{"MCP_AUTH": "bitrix24", "MCP_TRANSPORT": "http", "MCP_PUBLIC_URL": "https://mcp.example.com/",
			"BITRIX24_PORTAL_URL": "https://team.bitrix24.com", "BITRIX24_CLIENT_ID": "local.1", "BITRIX24_CLIENT_SECRET": "s3cret", "MCP_STATE_KEY": key}
	}
	cfg, err := load(t, good())
	if err != nil || !cfg.SignIn() || cfg.PublicURL != "https://mcp.example.com" || cfg.Bitrix.OAuth == nil || !cfg.Bitrix.OAuth.SignIn ||
		cfg.Bitrix.OAuth.ClientEndpoint != "https://team.bitrix24.com/rest/" || !strings.HasSuffix(cfg.AuthStore, "signin-team.bitrix24.com.db") {
		t.Fatalf("a good sign-in configuration: %+v %v", cfg, err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	_ = os.WriteFile(keyFile, []byte(key+"\n"), 0o644)
	for name, c := range map[string]struct {
		change map[string]string
		want   string
	}{
		"no key":              {map[string]string{"MCP_STATE_KEY": ""}, "MCP_STATE_KEY"},
		"a short key":         {map[string]string{"MCP_STATE_KEY": "abcd"}, "32-byte"},
		"a key file for all":  {map[string]string{"MCP_STATE_KEY": "", "MCP_STATE_KEY_FILE": keyFile}, "chmod 600"},
		"both key ways":       {map[string]string{"MCP_STATE_KEY_FILE": keyFile}, "not both"},
		"no public URL":       {map[string]string{"MCP_PUBLIC_URL": ""}, "MCP_PUBLIC_URL"},
		"http off loopback":   {map[string]string{"MCP_PUBLIC_URL": "http://mcp.example.com"}, "https"},
		"a path":              {map[string]string{"MCP_PUBLIC_URL": "https://mcp.example.com/b24"}, "has a path"},
		"stdio":               {map[string]string{"MCP_TRANSPORT": "stdio"}, "login"},
		"no secret":           {map[string]string{"BITRIX24_CLIENT_SECRET": ""}, "BITRIX24_CLIENT_SECRET"},
		"a webhook beside":    {map[string]string{"BITRIX24_WEBHOOK_URL": hook}, "BITRIX24_WEBHOOK_URL"},
		"a static token":      {map[string]string{"MCP_AUTH_TOKEN": "tok"}, "MCP_AUTH_TOKEN"},
		"no portal":           {map[string]string{"BITRIX24_PORTAL_URL": ""}, "BITRIX24_PORTAL_URL"},
		"two portals":         {map[string]string{"BITRIX24_CLIENT_ENDPOINT": "https://other.bitrix24.com/rest/"}, "different portals"},
		"the demo":            {map[string]string{"BITRIX24_DEMO": "true"}, "demo"},
		"an unknown auth way": {map[string]string{"MCP_AUTH": "oidc"}, "MCP_AUTH"},
	} {
		env := good()
		for k, v := range c.change {
			env[k] = v
		}
		_, err := load(t, env)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want a usage error naming %q", name, err, c.want)
		}
	}
	_ = os.Chmod(keyFile, 0o600)
	env := good()
	env["MCP_STATE_KEY"], env["MCP_STATE_KEY_FILE"] = "", keyFile
	if _, err := load(t, env); err != nil {
		t.Errorf("a private key file: %v", err)
	}
}

// The webhook URL may come from a file only its owner reads, so a client's
// configuration (which claude mcp get prints) holds only the path.
func TestWebhookURLFile(t *testing.T) {
	hook := "https://team.bitrix24.com/rest/1/secretcode123/"
	file := filepath.Join(t.TempDir(), "webhook")
	_ = os.WriteFile(file, []byte(hook+"\n"), 0o644)
	var ue *UsageError
	if _, err := load(t, map[string]string{"BITRIX24_WEBHOOK_URL_FILE": file}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "secretcode") {
		t.Errorf("a webhook file others may read: %v", err)
	}
	_ = os.Chmod(file, 0o600)
	if _, err := load(t, map[string]string{"BITRIX24_WEBHOOK_URL_FILE": file, "BITRIX24_WEBHOOK_URL": hook}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both ways: %v", err)
	}
	cfg, err := load(t, map[string]string{"BITRIX24_WEBHOOK_URL_FILE": file})
	if err != nil || cfg.Bitrix.WebhookURL.Reveal() != hook {
		t.Errorf("a private webhook file: %v", err)
	}
}
