package transport

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// auth requires the bearer token (MCP_AUTH_TOKEN) when one is set, or with
// sign-in a token of the server's own authorization server. The
// probes answer without it: load balancers and orchestrators call them.
func (h *HTTP) auth(next http.Handler) http.Handler {
	if h.signin != nil {
		// Each person signs in: their token says who they are (package auth).
		authed := h.signin.Authenticate(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isProbe(r) {
				next.ServeHTTP(w, r)
				return
			}
			authed.ServeHTTP(w, r)
		})
	}
	token := []byte(h.cfg.AuthToken.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(token) == 0 || isProbe(r) || bearerMatches(r.Header.Get("Authorization"), token) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="bitrix24-chat-mcp"`)
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bitrix24-chat-mcp", error="invalid_token"`)
			h.log.Warn("refused a request with a wrong bearer token", "remote", r.RemoteAddr)
		}
		writeRefusal(w, r, refuse(http.StatusUnauthorized, "missing or wrong bearer token: send Authorization: Bearer <MCP_AUTH_TOKEN>"))
	})
}

// bearerMatches checks an Authorization header in constant time; the scheme
// is case-insensitive (RFC 7235).
func bearerMatches(header string, token []byte) bool {
	scheme, got, ok := strings.Cut(strings.TrimSpace(header), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), token) == 1
}

// isProbe: the liveness and readiness probes, which answer without a token.
func isProbe(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" }

// takesAToken answers a client that tries to sign in (dynamic client
// registration) to a server that takes a bearer token: it names what to
// send, where a client shows the error (Claude Code: "Dynamic Client
// Registration rejected (HTTP 400): ...").
func (h *HTTP) takesAToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"error": "invalid_request",
		"error_description": "this server does not sign people in: it takes the bearer token its operator set (MCP_AUTH_TOKEN). Add an Authorization header with the word Bearer and that token to this server's entry (claude mcp add ... --header)"})
}
