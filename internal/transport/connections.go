package transport

import (
	"net"
	"sync"
	"time"
)

// capListener holds at most max connections open; one more is answered 503
// and closed at once rather than left waiting, so a flood of slow clients
// cannot exhaust file descriptors and a client at the cap hears why.
type capListener struct {
	net.Listener
	slots chan struct{}
}

func newCapListener(l net.Listener, max int) *capListener {
	return &capListener{Listener: l, slots: make(chan struct{}, max)}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n\r\ntoo many connections (MCP_MAX_CONNECTIONS)\n"))
			_ = c.Close()
		}
	}
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
