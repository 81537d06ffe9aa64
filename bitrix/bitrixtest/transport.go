package bitrixtest

import (
	"net/http"
	"net/http/httptest"
)

// Transport serves requests in-process, with no listening socket: the demo
// mode's portal lives inside the server binary.
func (p *Portal) Transport() http.RoundTripper { return handlerTransport{p} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}
