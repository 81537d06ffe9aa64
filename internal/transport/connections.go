package transport

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// capListener holds at most max connections open. At the cap a new
// connection takes the place of one that is not being served (idle, or
// still sending a request: half a header, a slow body): the one that has
// gone longest without completing a request, from the source holding the
// most connections. So one source holding hundreds of idle or slow
// connections cannot shut others out, and memory stays bounded. Only when
// every connection is being served is a new one answered 503 and closed.
//
// A connection is "served" from the moment its request is whole (headers,
// and the body read to its end) until the handler returns: a tool call, or
// a stream.
type capListener struct {
	net.Listener
	max int

	mu       sync.Mutex
	conns    map[*trackedConn]struct{}
	bySource map[netip.Prefix]int
	now      func() time.Time
}

func newCapListener(l net.Listener, max int) *capListener {
	return &capListener{Listener: l, max: max, conns: map[*trackedConn]struct{}{}, bySource: map[netip.Prefix]int{}, now: time.Now}
}

// tooMany is the answer past the cap, written before the connection closes.
const tooMany = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n\r\ntoo many connections (MCP_MAX_CONNECTIONS)\n"

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, l: l, source: sourceOf(c.RemoteAddr())}
		victim, ok := l.admit(tc)
		if victim != nil {
			_ = victim.Conn.Close()
		}
		if ok {
			return tc, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, tooMany)
		_ = c.Close()
	}
}

// admit takes tc in, making room if it must; victim is a connection it
// let go for it (the caller closes it), ok false when there was no room.
func (l *capListener) admit(tc *trackedConn) (victim *trackedConn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		victim = l.stalest()
		if victim == nil {
			return nil, false
		}
		l.forget(victim)
	}
	tc.since = l.now()
	l.conns[tc] = struct{}{}
	l.bySource[tc.source]++
	return victim, true
}

// stalest is the connection not being served that has gone longest
// without completing a request, of the source holding the most
// connections (among those that have such a one); nil when every
// connection is being served. l.mu is held.
func (l *capListener) stalest() *trackedConn {
	var pick *trackedConn
	for c := range l.conns {
		if c.serving > 0 {
			continue
		}
		switch {
		case pick == nil:
			pick = c
		case l.bySource[c.source] != l.bySource[pick.source]:
			if l.bySource[c.source] > l.bySource[pick.source] {
				pick = c
			}
		case c.since.Before(pick.since):
			pick = c
		}
	}
	return pick
}

func (l *capListener) forget(c *trackedConn) {
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	if l.bySource[c.source]--; l.bySource[c.source] <= 0 {
		delete(l.bySource, c.source)
	}
}

// count is how many connections are open.
func (l *capListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// sourceOf is who a connection comes from: its IPv4 address, or its IPv6
// /64 (one host's share of addresses).
func sourceOf(addr net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// trackedConn is a connection the listener counts.
type trackedConn struct {
	net.Conn
	l      *capListener
	source netip.Prefix
	// guarded by l.mu:
	since   time.Time // accepted, or the last request completed
	serving int       // requests whole and being answered
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

type connKey struct{}

// withConn puts the request's connection in its context (http.Server's
// ConnContext).
func withConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*trackedConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// served marks a request's connection as being served once the request is
// whole: at once for a request without a body, at the body's end for one
// with a body; and as having completed a request when the handler returns.
func served(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc, ok := r.Context().Value(connKey{}).(*trackedConn)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		req := &inFlight{conn: tc}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			req.whole()
		} else {
			r.Body = &wholeBody{ReadCloser: r.Body, req: req}
		}
		defer req.done()
		next.ServeHTTP(w, r)
	})
}

// inFlight is one request on a tracked connection: being read (0), whole
// and being served (1), or done (2).
type inFlight struct {
	conn  *trackedConn
	state atomic.Int32
}

func (q *inFlight) whole() {
	if q.state.CompareAndSwap(0, 1) {
		q.conn.l.mu.Lock()
		q.conn.serving++
		q.conn.l.mu.Unlock()
	}
}

func (q *inFlight) done() {
	was := q.state.Swap(2)
	q.conn.l.mu.Lock()
	defer q.conn.l.mu.Unlock()
	if was == 1 {
		q.conn.serving--
	}
	q.conn.since = q.conn.l.now()
}

// wholeBody tells its request when the body has been read to its end.
type wholeBody struct {
	io.ReadCloser
	req *inFlight
}

func (b *wholeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.req.whole()
	}
	return n, err
}
