package transport

import (
	"net/http"
	"net/url"
	"strings"
)

// origin keeps web pages from driving the server. A request that carries an
// Origin must come from an allowed one (MCP_ALLOWED_ORIGINS, or the server's
// own), and is answered with CORS headers naming it; a preflight ends here.
// A browser request without Origin (a no-cors GET, an iframe) still says
// Sec-Fetch-Site: cross-site or same-site is refused too, so no page can
// open SSE streams and exhaust the sessions.
func (h *HTTP) origin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
				h.log.Warn("refused a browser request from another site", "sec_fetch_site", site, "path", r.URL.Path)
				writeRefusal(w, r, refuse(http.StatusForbidden, "a page on another site may not use this server"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !h.originAllowed(origin, r.Host) {
			h.log.Warn("refused a cross-origin request", "origin", origin, "path", r.URL.Path)
			writeRefusal(w, r, refuse(http.StatusForbidden, "origin %s is not allowed: add it to MCP_ALLOWED_ORIGINS (--allowed-origins) if a page there should use this server", origin))
			return
		}
		w = &corsWriter{ResponseWriter: w, origin: origin}
		if r.Method == http.MethodOptions {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed matches an Origin header against MCP_ALLOWED_ORIGINS. The
// server's own origin (the Host the request was sent to) is allowed too: no
// other site's page carries it, and a rebinding page names its own host.
func (h *HTTP) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, allowed := range h.cfg.AllowedOrigins {
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
