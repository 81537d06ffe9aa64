package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/transport"
)

const loginUsage = `Usage: bitrix24-chat-mcp login [--listen HOST:PORT] [--no-browser]
       bitrix24-chat-mcp logout

login signs you in to Bitrix24 with the configured OAuth application
(BITRIX24_CLIENT_ENDPOINT=https://PORTAL/rest/, BITRIX24_CLIENT_ID,
BITRIX24_CLIENT_SECRET) and saves the access and refresh tokens to
BITRIX24_TOKEN_FILE (default: tokens-PORTAL.json under your config
directory; mode 0600), where the server and check read them. No copying
tokens out of the portal by hand.

It opens Bitrix24's sign-in page in your browser (or prints its address).
Bitrix24 then sends the browser to the redirect URI in the application's
settings: set it to http://127.0.0.1:8765/callback (or --listen's address)
and login takes the code there. Otherwise paste the address the browser
ends on, or just its code, here. The code lives 30 seconds: login trades it
at once.

logout deletes the token file: the server on this machine no longer acts as
you. (Revoke the application in Bitrix24 to end its access everywhere.)

  --listen       where the redirect lands (default 127.0.0.1:8765; loopback only)
  --no-browser   print the address instead of opening a browser
`

// runLogin is `bitrix24-chat-mcp login`.
func runLogin(args []string, env Env) error {
	listen, browser := "127.0.0.1:8765", true
	for i := 0; i < len(args); i++ {
		flag, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case flag == "h" || flag == "help":
			fmt.Fprint(env.Stdout, loginUsage)
			return nil
		case flag == "no-browser":
			browser = false
		case flag == "listen" && hasValue:
			listen = value
		case flag == "listen" && i+1 < len(args):
			i++
			listen = args[i]
		default:
			return &app.UsageError{Msg: fmt.Sprintf("login: unknown argument %q (see login --help)", args[i])}
		}
	}
	o, file, err := oauthSettings(env)
	if err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(listen); err != nil || !transport.IsLoopback(host) {
		return &app.UsageError{Msg: fmt.Sprintf("login: --listen %s must be a loopback host:port (the code must not cross the network)", listen)}
	}
	state := randomHex(16)
	authURL, err := bitrix.AuthorizeURL(o.ClientEndpoint, o.ClientID, state)
	if err != nil {
		return &app.UsageError{Msg: err.Error()}
	}

	codes := make(chan string, 2)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "Could not listen on %s (%v): paste the code instead.\n", listen, err)
	} else {
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			code, err := codeFrom(r.URL, state)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				fmt.Fprintln(env.Stderr, "login:", err)
				return
			}
			fmt.Fprintln(w, "Signed in: you can close this page and go back to the terminal.")
			codes <- code
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	fmt.Fprintf(env.Stderr, "Sign in to Bitrix24 at:\n\n  %s\n\nWaiting for Bitrix24 to send the browser to http://%s/callback, or paste the address it ends on (or its code) here:\n", authURL, listen)
	if browser {
		openBrowser(authURL)
	}
	if env.Stdin != nil {
		go func() {
			sc := bufio.NewScanner(env.Stdin)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				if u, err := url.Parse(line); err == nil && u.RawQuery != "" {
					code, err := codeFrom(u, state)
					if err != nil {
						fmt.Fprintln(env.Stderr, "login:", err, "- paste it again")
						continue
					}
					codes <- code
					return
				}
				codes <- line // a bare code
				return
			}
		}()
	}
	var code string
	select {
	case code = <-codes:
	case <-time.After(10 * time.Minute):
		return errors.New("login: no code came within 10 minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	grant, err := bitrix.ExchangeCode(ctx, o, nil, bitrix.Secret(code))
	if err != nil {
		return fmt.Errorf("login: trading the code failed: %s", explain(err))
	}
	app := o
	app.SignIn = true
	if c, err := bitrix.New(bitrix.Config{OAuth: &app}); err == nil {
		if _, err := c.WhoSignedIn(ctx, grant); err != nil {
			fmt.Fprintln(env.Stderr, "login: could not tell who signed in (user.current):", explain(err))
		}
	}
	if err := bitrix.SaveGrant(ctx, file, grant); err != nil {
		return fmt.Errorf("login: saving the tokens to %s: %w", file, err)
	}
	portal := hostOf(o.ClientEndpoint)
	if err := writeAudit(env, audit.Entry{Event: audit.SignIn, Portal: portal, UserID: fmt.Sprint(grant.UserID), Outcome: "done", Reason: "login on this machine"}); err != nil {
		fmt.Fprintln(env.Stderr, "login: the audit log:", err)
	}
	fmt.Fprintf(env.Stdout, "Signed in to %s as user %d; the tokens are in %s (mode 0600).\n", portal, grant.UserID, file)
	return nil
}

// runLogout is `bitrix24-chat-mcp logout`.
func runLogout(args []string, env Env) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(env.Stdout, loginUsage)
		return nil
	}
	if len(args) > 0 {
		return &app.UsageError{Msg: fmt.Sprintf("logout: unknown argument %q (see logout --help)", args[0])}
	}
	o, file, err := oauthSettings(env)
	if err != nil {
		return err
	}
	removed, err := bitrix.RemoveGrant(file)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if !removed {
		fmt.Fprintf(env.Stdout, "Not signed in: %s does not exist.\n", file)
		return nil
	}
	if err := writeAudit(env, audit.Entry{Event: audit.SignOut, Portal: hostOf(o.ClientEndpoint), Outcome: "done", Reason: "logout on this machine"}); err != nil {
		fmt.Fprintln(env.Stderr, "logout: the audit log:", err)
	}
	fmt.Fprintf(env.Stdout, "Signed out: %s is deleted. Revoke the application in Bitrix24 to end its access everywhere.\n", file)
	return nil
}

// oauthSettings reads what login and logout need: the application and
// where its tokens live.
func oauthSettings(env Env) (bitrix.OAuthConfig, string, error) {
	o := bitrix.OAuthConfig{ClientEndpoint: strings.TrimSpace(env.Getenv("BITRIX24_CLIENT_ENDPOINT")),
		ClientID: strings.TrimSpace(env.Getenv("BITRIX24_CLIENT_ID")), ClientSecret: bitrix.Secret(strings.TrimSpace(env.Getenv("BITRIX24_CLIENT_SECRET"))),
		TokenURL: strings.TrimSpace(env.Getenv("BITRIX24_OAUTH_TOKEN_URL"))}
	var missing []string
	for name, v := range map[string]string{"BITRIX24_CLIENT_ENDPOINT": o.ClientEndpoint, "BITRIX24_CLIENT_ID": o.ClientID, "BITRIX24_CLIENT_SECRET": o.ClientSecret.Reveal()} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return o, "", &app.UsageError{Msg: "login needs the OAuth application: set " + strings.Join(slices.Sorted(slices.Values(missing)), ", ") + " (see login --help)"}
	}
	if u, err := url.Parse(o.ClientEndpoint); err != nil || u.Host == "" || u.Scheme != "https" && !transport.IsLoopback(u.Hostname()) {
		return o, "", &app.UsageError{Msg: "BITRIX24_CLIENT_ENDPOINT must be https://PORTAL/rest/"}
	}
	file := strings.TrimSpace(env.Getenv("BITRIX24_TOKEN_FILE"))
	if file == "" {
		file = app.DefaultTokenFile(o.ClientEndpoint)
	}
	if file == "" {
		return o, "", &app.UsageError{Msg: "no config directory to keep the tokens in: set BITRIX24_TOKEN_FILE"}
	}
	return o, file, nil
}

// codeFrom takes the code from the redirect's query, checking the state.
func codeFrom(u *url.URL, state string) (string, error) {
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("Bitrix24 refused the sign-in: %s %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return "", errors.New("the address's state is not this sign-in's (an old or forged link): sign in again")
	}
	code := q.Get("code")
	if code == "" {
		return "", errors.New("the address has no code")
	}
	return code, nil
}

func writeAudit(env Env, e audit.Entry) error {
	trail, err := audit.Open(env.Getenv("MCP_AUDIT_LOG"))
	if err != nil {
		return err
	}
	defer trail.Close()
	return trail.Write(e)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// openBrowser asks the desktop to open u; where none answers, the printed
// address is the way.
func openBrowser(u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	_ = cmd.Start()
}
