package auth

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// oauthError is how every refusal of the authorization server is told:
// the HTTP status, the RFC's error code, a description for the person or
// the client, and the cause, which is logged and never shown. The handlers
// return errors; one renderer per channel turns them into answers (writeError
// for the JSON endpoints, fail for the browser's). Any other error is a
// fault: 500, logged, its text never shown.
type oauthError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
	cause      error
}

func (e *oauthError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.desc + ": " + e.cause.Error()
	}
	return e.code + ": " + e.desc
}

func (e *oauthError) Unwrap() error { return e.cause }

func refusal(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, desc: fmt.Sprintf(format, args...)}
}

// The errors of RFC 6749 (5.2 and 4.1.2.1), RFC 7591 (3.2.2), RFC 8707 and
// RFC 7009, as this server uses them.
func invalidRequest(format string, args ...any) *oauthError {
	return refusal(http.StatusBadRequest, "invalid_request", format, args...)
}
func invalidGrant(format string, args ...any) *oauthError {
	return refusal(http.StatusBadRequest, "invalid_grant", format, args...)
}
func invalidClient(format string, args ...any) *oauthError {
	return refusal(http.StatusUnauthorized, "invalid_client", format, args...)
}
func invalidScope(format string, args ...any) *oauthError {
	return refusal(http.StatusBadRequest, "invalid_scope", format, args...)
}
func invalidTarget(format string, args ...any) *oauthError {
	return refusal(http.StatusBadRequest, "invalid_target", format, args...)
}
func invalidClientMetadata(format string, args ...any) *oauthError {
	return refusal(http.StatusBadRequest, "invalid_client_metadata", format, args...)
}
func invalidRedirectURI(format string, args ...any) *oauthError {
	return refusal(http.StatusBadRequest, "invalid_redirect_uri", format, args...)
}
func accessDenied(format string, args ...any) *oauthError {
	return refusal(http.StatusForbidden, "access_denied", format, args...)
}

// tooMany refuses a request over a limit, saying when to try again.
func tooMany(what string, after time.Duration) *oauthError {
	e := refusal(http.StatusTooManyRequests, "temporarily_unavailable", "too many %s; try again in %s", what, after.Round(time.Second))
	e.retryAfter = after
	return e
}

// unavailable is a store (or Bitrix24) that did not answer: try again.
func unavailable(cause error) *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		desc: "the sign-in service could not finish this just now; try again in a moment", cause: cause}
}

// shown is what an error tells the client: an oauthError as it is (its
// cause logged), anything else a 500 whose text is only logged.
func (s *Server) shown(r *http.Request, err error) *oauthError {
	var e *oauthError
	if !errors.As(err, &e) {
		s.log.Error("sign-in: unexpected failure", "path", r.URL.Path, "error", err)
		return &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "the server could not finish this request"}
	}
	if e.cause != nil {
		level := s.log.Warn
		if e.status >= 500 {
			level = s.log.Error
		}
		level("sign-in refused", "path", r.URL.Path, "error", e.code, "cause", e.cause)
	}
	return e
}

// writeError answers the JSON endpoints (/token, /register, /revoke).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := s.shown(r, err)
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Round(time.Second).Seconds())))
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

// backTo is where a browser's error may go: the client's redirect URI,
// once it can be trusted.
type backTo struct {
	uri   string
	state string
}

// fail answers the browser. Back to the client with the error when its
// redirect URI is trusted; before that (a client nobody has consented to,
// or one not yet known), a page of ours: an error redirect to an unverified
// URI would make this server a redirector for phishing (RFC 9700 4.11.2).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, to *backTo, err error) {
	e := s.shown(r, err)
	if to != nil && e.status != http.StatusTooManyRequests {
		s.redirectTo(w, r, to.uri, url.Values{"error": {e.code}, "error_description": {e.desc}, "state": {to.state}})
		return
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Round(time.Second).Seconds())))
	}
	s.page(w, e.status, pageTitle(e), e.desc+" ("+e.code+")")
}

func pageTitle(e *oauthError) string {
	switch {
	case e.status == http.StatusTooManyRequests:
		return "Too many sign-ins at once"
	case e.status >= 500:
		return "Sign-in is unavailable"
	case e.code == "invalid_client" || e.code == "invalid_request" || e.code == "unauthorized_client":
		return "This sign-in link is not valid"
	}
	return "This sign-in cannot go on"
}

var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font:16px system-ui,sans-serif;max-width:36em;margin:3em auto"><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>`))
})

func (s *Server) page(w http.ResponseWriter, status int, title, text string) {
	noFrames(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl().Execute(w, map[string]string{"Title": title, "Text": text})
}

// noFrames keeps the pages out of other sites' frames (clickjacking).
func noFrames(w http.ResponseWriter) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}
