package bitrixtest

import (
	"errors"
	"net/http"
	"net/http/httptest"
)

// Transport serves requests in-process, with no listening socket: the demo
// mode's portal lives inside the server binary.
func (p *Portal) Transport() http.RoundTripper { return handlerTransport{p} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if aborted := serve(t.h, rec, r); aborted {
		return nil, errors.New("connection reset by peer") // as a real server's abort looks
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// serve runs the handler, reporting an http.ErrAbortHandler panic as an abort.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}
