package bitrix

import (
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// Secret holds a credential (webhook code, token, client secret). Every way
// of printing it (fmt's %v/%s/%#v, JSON, slog) shows a placeholder, so a
// Secret can sit in a struct that gets logged without leaking.
type Secret string

const redacted = "[REDACTED]"

func (s Secret) String() string   { return redactedOrEmpty(s) }
func (s Secret) GoString() string { return redactedOrEmpty(s) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedOrEmpty(s)) }

// MarshalText keeps encoding/json and friends from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redactedOrEmpty(s)), nil }

// Reveal returns the secret itself: only for putting it on the wire.
func (s Secret) Reveal() string { return string(s) }

func redactedOrEmpty(s Secret) string {
	if s == "" {
		return ""
	}
	return redacted
}

// redactor scrubs every secret the client knows of from free text (error
// messages from net/http carry URLs, and a webhook URL carries its code).
// It is the one place redaction happens; secrets are added as tokens rotate.
type redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first, so a secret containing another is masked whole
}

func (r *redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		// Very short values (a numeric bot id) would mask innocent text.
		if len(s) < 4 {
			continue
		}
		dup := false
		for _, have := range r.secrets {
			if have == s {
				dup = true
				break
			}
		}
		if !dup {
			r.secrets = append(r.secrets, s)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

func (r *redactor) scrub(text string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.secrets {
		if strings.Contains(text, s) {
			text = strings.ReplaceAll(text, s, redacted)
		}
	}
	return text
}
