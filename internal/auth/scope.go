package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"strings"
)

// Scopes a client may be granted.
const (
	ScopeRead  = "chat:read"  // the tools that read
	ScopeWrite = "chat:write" // add_chat_users and remove_chat_users too
)

var allScopes = []string{ScopeRead, ScopeWrite}

// The scope policy, in one place: what a request may name, what it is
// granted, how a refresh narrows it, and how the consent page words it.

// parseScopes reads a scope parameter: the chat scopes it names, in their
// canonical order. offline_access is welcome and means nothing here (refresh
// tokens are always issued); anything else is refused.
func parseScopes(raw string) ([]string, error) {
	var asked []string
	for _, sc := range strings.Fields(raw) {
		switch sc {
		case ScopeRead, ScopeWrite:
			asked = append(asked, sc)
		case "offline_access":
		default:
			return nil, invalidScope("scope %q is not one of %s", truncate(sc, 64), strings.Join(allScopes, ", "))
		}
	}
	return canonical(asked), nil
}

// grantedScopes is what an authorization request is granted: what it
// asked for; with no scope parameter at all, the documented default, every
// scope (a client that says nothing is asking for the server's tools); a
// parameter naming no chat scope (only offline_access), chat:read, the
// least that does anything. Writing needs the reads around it.
func grantedScopes(raw string, given bool) ([]string, error) {
	asked, err := parseScopes(raw)
	switch {
	case err != nil:
		return nil, err
	case !given || strings.TrimSpace(raw) == "":
		return allScopes, nil
	case len(asked) == 0:
		return []string{ScopeRead}, nil
	}
	if slices.Contains(asked, ScopeWrite) {
		asked = canonical(append(asked, ScopeRead))
	}
	return asked, nil
}

// narrowScopes is a refresh's scope: the grant's, or the part of it the
// client asked for; asking for more is refused.
func narrowScopes(granted, raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return granted, nil
	}
	asked, err := parseScopes(raw)
	if err != nil {
		return "", err
	}
	for _, sc := range asked {
		if !slices.Contains(strings.Fields(granted), sc) {
			return "", invalidScope("a refresh cannot widen the granted scope (%s)", granted)
		}
	}
	if len(asked) == 0 {
		return granted, nil
	}
	return strings.Join(asked, " "), nil
}

// consentWords says what each granted scope lets the client do.
func consentWords(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		switch sc {
		case ScopeRead:
			out = append(out, "see the chats and people you can see (chat:read)")
		case ScopeWrite:
			out = append(out, "add and remove people in chats you may change (chat:write)")
		}
	}
	return out
}

func canonical(scopes []string) []string {
	var out []string
	for _, sc := range allScopes {
		if slices.Contains(scopes, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// PKCE (RFC 7636), S256 only.

// checkChallenge refuses a code_challenge that is not the base64url
// SHA-256 of a verifier, or a method other than S256.
func checkChallenge(challenge, method string) error {
	if challenge == "" || method != "S256" {
		return invalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if len(challenge) != 43 || !unreserved(challenge, false) {
		return invalidRequest("code_challenge must be the base64url SHA-256 of a verifier (43 characters)")
	}
	return nil
}

// checkVerifier refuses a code_verifier that is not 43 to 128 unreserved
// characters, or that does not hash to the challenge.
func checkVerifier(verifier, challenge string) error {
	if len(verifier) < 43 || len(verifier) > 128 || !unreserved(verifier, true) {
		return invalidGrant("code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~ (RFC 7636)")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return invalidGrant("code_verifier does not match the code_challenge (PKCE)")
	}
	return nil
}

// unreserved reports whether s is made of RFC 3986's unreserved
// characters (with dotTilde; without, base64url's alphabet).
func unreserved(s string, dotTilde bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case dotTilde && (c == '.' || c == '~'):
		default:
			return false
		}
	}
	return true
}
