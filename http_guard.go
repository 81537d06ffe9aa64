package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// guard is what every HTTP request passes before the MCP transports see it,
// in this order: draining refusal; Origin (a browser page may only drive the
// server from an allowed origin, and no wildcard CORS is ever sent); bearer
// auth; for POSTs a JSON content type and the whole body read under the
// server's read deadline and size cap; the per-session limits; and tracking
// of requests in flight for graceful shutdown.
func (n *network) guard(next http.Handler) http.Handler {
	token := []byte(n.cfg.AuthToken.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// POSTs are calls, counted for the drain; GET streams are not.
		if r.Method == http.MethodPost && n.requests.begin() {
			defer n.requests.end()
		} else if n.requests.isDraining() {
			w.Header().Set("Connection", "close")
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}

		origin := r.Header.Get("Origin")
		if origin != "" {
			if !n.originAllowed(origin, r.Host) {
				n.log.Warn("refused a cross-origin request", "origin", origin, "path", r.URL.Path)
				http.Error(w, "origin "+origin+" is not allowed: add it to MCP_ALLOWED_ORIGINS (--allowed-origins) if a page there should use this server", http.StatusForbidden)
				return
			}
			w = &corsWriter{ResponseWriter: w, origin: origin}
			if r.Method == http.MethodOptions {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}

		// /healthz answers without a token: load balancers probe it.
		if len(token) > 0 && r.URL.Path != "/healthz" && !bearerMatches(r.Header.Get("Authorization"), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bitrix24-chat-mcp"`)
			if r.Header.Get("Authorization") != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bitrix24-chat-mcp", error="invalid_token"`)
				n.log.Warn("refused a request with a wrong bearer token", "remote", r.RemoteAddr)
			}
			http.Error(w, "missing or wrong bearer token: send Authorization: Bearer <MCP_AUTH_TOKEN>", http.StatusUnauthorized)
			return
		}

		if r.Method == http.MethodPost {
			// A form or text/plain POST needs no CORS preflight: refusing
			// anything but JSON keeps a page from slipping one past Origin-less
			// browsers and proxies.
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				http.Error(w, "POST bodies must be application/json", http.StatusUnsupportedMediaType)
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				http.Error(w, fmt.Sprintf("request body over %d bytes", maxRequestBody), http.StatusRequestEntityTooLarge)
				return
			case err != nil: // the read deadline passed, or the client went away
				http.Error(w, "could not read the request body in time", http.StatusRequestTimeout)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if refused := n.limits(r, body); refused != "" {
				writeRPCError(w, body, refused)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bearerMatches checks an Authorization header in constant time; the scheme
// is case-insensitive (RFC 7235).
func bearerMatches(header string, token []byte) bool {
	scheme, got, ok := strings.Cut(strings.TrimSpace(header), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), token) == 1
}

// originAllowed matches an Origin header against MCP_ALLOWED_ORIGINS. The
// server's own origin (the Host the request was sent to) is allowed too: no
// other site's page carries it, and a rebinding page names its own host.
func (n *network) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, allowed := range n.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(allowed, "/"), u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}

// corsWriter answers an allowed origin by name, and drops the wildcard
// Access-Control-Allow-Origin that the SSE transport sets by default.
type corsWriter struct {
	http.ResponseWriter
	origin string
	done   bool
}

func (c *corsWriter) decorate() {
	if c.done {
		return
	}
	c.done = true
	h := c.Header()
	h.Set("Access-Control-Allow-Origin", c.origin)
	h.Set("Access-Control-Expose-Headers", "Mcp-Session-Id")
	h.Add("Vary", "Origin")
}

func (c *corsWriter) WriteHeader(status int) { c.decorate(); c.ResponseWriter.WriteHeader(status) }
func (c *corsWriter) Write(p []byte) (int, error) {
	c.decorate()
	return c.ResponseWriter.Write(p)
}
func (c *corsWriter) Flush() {
	c.decorate()
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (c *corsWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// noWildcardCORS removes a wildcard Access-Control-Allow-Origin from every
// response that no allowed origin asked for.
func noWildcardCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			w = &stripWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

type stripWriter struct{ http.ResponseWriter }

func (s *stripWriter) strip() {
	if s.Header().Get("Access-Control-Allow-Origin") == "*" {
		s.Header().Del("Access-Control-Allow-Origin")
	}
}
func (s *stripWriter) WriteHeader(status int) { s.strip(); s.ResponseWriter.WriteHeader(status) }
func (s *stripWriter) Write(p []byte) (int, error) {
	s.strip()
	return s.ResponseWriter.Write(p)
}
func (s *stripWriter) Flush() {
	s.strip()
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (s *stripWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// rpcMessage is the part of a JSON-RPC message the limits look at.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// writeRPCError refuses a message at once with a JSON-RPC error (HTTP 429 or
// 503), carrying the request's id so the client matches it to its call.
func writeRPCError(w http.ResponseWriter, body []byte, refusal string) {
	var msg rpcMessage
	_ = json.Unmarshal(body, &msg)
	id := msg.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	status, text, _ := strings.Cut(refusal, " ")
	code := http.StatusTooManyRequests
	if status == "503" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":%q}}`+"\n", id, text)
}
