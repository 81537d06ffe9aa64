package transport

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// With --auth bitrix24 the server is its own authorization server
// (package auth). Its endpoints (the metadata documents, /register,
// /authorize, /callback, /token, /revoke) pass only the drain and Host
// guards: Bitrix24 sends the browser to /callback from another site, and
// browser-based clients read the metadata and call /token from their own
// origin, so those (which use no cookie) answer any origin.

// oauthEndpoints serves the authorization server's endpoints.
func (h *HTTP) oauthEndpoints(srv *auth.Server) http.Handler {
	return h.draining(h.hostCheck(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/authorize", "/authorize/consent", "/callback":
			// Pages for the person's browser: no CORS.
		default:
			if r.Header.Get("Origin") != "" {
				w.Header().Set("Access-Control-Allow-Origin", "*")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Mcp-Protocol-Version")
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			}
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		srv.ServeHTTP(w, r)
	})))
}

// writeScope answers 403 insufficient_scope to a tools/call of a tool that
// changes chats when the token may only read: the client can ask the
// person for chat:write (step-up) instead of getting a tool error.
func (h *HTTP) writeScope(next http.Handler) http.Handler {
	if h.signin == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := auth.FromContext(r.Context()); id != nil && !id.CanWrite() {
			// Only a token that may not write pays for reading the tool's name.
			if msg, ok := messageFrom(r.Context()); ok && msg.Method == string(mcp.MethodToolsCall) {
				var call struct {
					Params struct {
						Name string `json:"name"`
					} `json:"params"`
				}
				if json.Unmarshal(msg.raw, &call) == nil && tools.Changes(call.Params.Name) {
					h.signin.InsufficientScope(w, r, call.Params.Name)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// publicHost is the public URL's host: a request for it is not a DNS
// rebinding even on a loopback listener (a reverse proxy on the machine).
func publicHost(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}
