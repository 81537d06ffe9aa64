package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// liveFor is how long a grant, once seen in the store, is taken as live
// without asking again: a revocation made on another replica reaches its
// access tokens within this (on this one, at once).
const liveFor = 10 * time.Second

type identityKey struct{}

// WithIdentity marks ctx with who the request acts as.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext is the request's Identity, or nil.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// errRevoked: the grant behind a token is gone.
var errRevoked = errors.New("the sign-in behind the token was revoked")

// Verify checks an access token: signature, expiry, audience, and that its
// grant is still live.
func (s *Server) Verify(ctx context.Context, token string) (*Identity, error) {
	c, err := s.parse(token)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if s.live.known(c.Grant, now) {
		return c.identity(), nil
	}
	rec, err := s.records.person(ctx, c.UserID)
	if errors.Is(err, errSealedElsewhere) {
		return nil, errRevoked
	}
	if err != nil {
		return nil, fmt.Errorf("the sign-in store did not answer: %w", err)
	}
	if rec == nil || rec.Grants[c.Grant] == nil {
		return nil, errRevoked
	}
	s.live.mark(c.Grant, now)
	return c.identity(), nil
}

// liveGrants are the grants seen live in the store lately, each for
// liveFor: a bounded table, swept as it is used.
type liveGrants struct {
	mu    sync.Mutex
	until map[string]time.Time
	swept time.Time
}

// maxLive bounds the table; past it, the next sweep makes room.
const maxLive = 100000

func (l *liveGrants) known(grant string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.until[grant]
	return ok && now.Before(until)
}

func (l *liveGrants) mark(grant string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until == nil {
		l.until = map[string]time.Time{}
	}
	if now.Sub(l.swept) > liveFor || len(l.until) >= maxLive {
		for g, until := range l.until {
			if !now.Before(until) {
				delete(l.until, g)
			}
		}
		l.swept = now
		if len(l.until) >= maxLive {
			clear(l.until) // all live: forgetting only costs a store read each
		}
	}
	l.until[grant] = now.Add(liveFor)
}

func (l *liveGrants) forget(grant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.until, grant)
}

func (l *liveGrants) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.until)
}

// Challenge answers a request without a valid token: 401 with where the
// protected-resource metadata is (RFC 9728 5.1), so a client can discover
// how to sign in.
func (s *Server) Challenge(w http.ResponseWriter, r *http.Request, err error) {
	s.event("unauthorized")
	h := fmt.Sprintf(`Bearer resource_metadata="%s", scope="%s"`, s.ResourceMetadataURL(r.URL.Path), strings.Join(allScopes, " "))
	if err != nil {
		h += fmt.Sprintf(`, error="invalid_token", error_description="%s"`, err.Error())
	}
	w.Header().Set("WWW-Authenticate", h)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": challengeText(err)})
}

func challengeText(err error) string {
	if err == nil {
		return "sign in: this server needs a bearer token from its authorization server (see WWW-Authenticate)"
	}
	return err.Error() + "; sign in again"
}

// InsufficientScope answers a write with a token that may only read: 403
// naming the scope to ask for (the client may step up).
func (s *Server) InsufficientScope(w http.ResponseWriter, r *http.Request, tool string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s %s", resource_metadata="%s", error_description="%s changes chats: it needs the %s scope"`,
		ScopeRead, ScopeWrite, s.ResourceMetadataURL(r.URL.Path), tool, ScopeWrite))
	writeJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope", "error_description": tool + " changes chats: sign in again granting " + ScopeWrite})
}

// Authenticate is the middleware in front of the MCP endpoints: a valid
// token puts its Identity in the request's context; anything else is 401.
func (s *Server) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			s.Challenge(w, r, nil)
			return
		}
		id, err := s.Verify(r.Context(), token)
		if err != nil {
			if !errors.Is(err, errNotOurs) && !errors.Is(err, errExpired) && !errors.Is(err, errOtherAudience) && !errors.Is(err, errRevoked) {
				s.writeError(w, r, unavailable(err))
				return
			}
			s.Challenge(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

func bearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}
