package fakeportal

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// Transport serves requests in-process, with no listening socket: the demo
// mode's portal lives inside the server binary.
func (p *Portal) Transport() http.RoundTripper { return handlerTransport{p} }

// HTTPClient reaches the portal in-process, with no socket: a test using it
// can run inside a testing/synctest bubble, where time is fake.
func (p *Portal) HTTPClient() *http.Client {
	return &http.Client{Transport: p.Transport()}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &response{header: http.Header{}}
	if aborted := serve(t.h, w, r); aborted {
		return nil, errors.New("connection reset by peer") // as a real server's abort looks
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	resp := &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       r,
	}
	return resp, nil
}

// response collects what the handler writes, as the portal's HTTP answer.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *response) Header() http.Header { return w.header }
func (w *response) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *response) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
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
