package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
)

// message is the part of a JSON-RPC message the guards look at; each POST
// body is decoded into it once.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	raw     json.RawMessage // the whole body
}

type messageKey struct{}

// messageFrom is the POST's decoded message; ok is false for other requests
// and for bodies that are not one JSON object (a batch, or malformed JSON,
// which the transports answer themselves).
func messageFrom(ctx context.Context) (message, bool) {
	m, ok := ctx.Value(messageKey{}).(message)
	return m, ok
}

// jsonBody requires POSTs to be application/json (a form or text/plain POST
// needs no CORS preflight, so refusing them keeps a page from slipping one
// past Origin-less browsers and proxies), reads the whole body under the
// server's read deadline and size cap, and decodes it once for the guards
// after it. The transport reads the same bytes again.
func (h *HTTP) jsonBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeRefusal(w, r, refuse(http.StatusUnsupportedMediaType, "POST bodies must be application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeRefusal(w, r, refuse(http.StatusRequestEntityTooLarge, "request body over %d bytes", maxRequestBody))
			return
		case err != nil: // the read deadline passed, or the client went away
			writeRefusal(w, r, refuse(http.StatusRequestTimeout, "could not read the request body in time"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		msg := message{raw: body}
		if json.Unmarshal(body, &msg) == nil {
			r = r.WithContext(context.WithValue(r.Context(), messageKey{}, msg))
		}
		next.ServeHTTP(w, r)
	})
}
