package auth

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// What a client names itself (client_name, client_uri, redirect URIs) is
// shown to people: on the consent page, by the signins command, in logs.
// So it is refused when it carries control or bidirectional-formatting
// characters (which forge rows in a terminal, or reverse a name on a page),
// capped, and every host is shown in ASCII, an internationalised one said
// to be so (сlaude.ai with a Cyrillic с is xn--laude-0ye.ai).

// plainText refuses text with control characters, or with format
// characters (Unicode Cf: bidi overrides and isolates, marks, zero-width
// joiners), which can make a name read as another.
func plainText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%s holds the control or formatting character %U: use plain text", field, r)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// displayHost is how a host is shown to a person: in ASCII (punycode for
// an internationalised name), and whether it was one.
func displayHost(host string) (ascii string, international bool) {
	h := strings.ToLower(host)
	port := ""
	if i := strings.LastIndex(h, ":"); i >= 0 && !strings.Contains(h[i:], "]") {
		h, port = h[:i], h[i:]
	}
	for _, r := range h {
		if r >= utf8.RuneSelf {
			international = true
			break
		}
	}
	if a, err := idna.Lookup.ToASCII(h); err == nil {
		h = a
	} else if international {
		h = url.PathEscape(h) // not a name IDNA accepts: show its bytes
	}
	if strings.Contains(h, "xn--") {
		international = true
	}
	return h + port, international
}

// displayURI is a redirect URI's origin as a person should read it.
func displayURI(raw string) (shown string, international bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URI)", false
	}
	if u.Host == "" {
		return u.Scheme + ":", false
	}
	host, intl := displayHost(u.Host)
	return u.Scheme + "://" + host, intl
}

// escapeForTerminal quotes what a client named itself for a terminal:
// printable text as it is, anything else escaped.
func escapeForTerminal(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) && !unicode.Is(unicode.Cf, r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

// EscapeForTerminal is escapeForTerminal for the signins command.
func EscapeForTerminal(s string) string { return escapeForTerminal(s) }
