package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/mark3labs/mcp-go/server"
)

const (
	// maxRequestBody bounds a JSON-RPC request: a tool call here is a few
	// hundred bytes; 1 MiB leaves room and stops memory abuse.
	maxRequestBody = 1 << 20
	// drainTimeout bounds how long shutdown waits for tool calls in flight.
	drainTimeout = 20 * time.Second
)

// network is the HTTP side of the server: Streamable HTTP at /mcp, the
// legacy SSE transport at /sse + /message, and /healthz.
type network struct {
	cfg        *app.Config
	log        *slog.Logger
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer
	handler    http.Handler
	draining   atomic.Bool
	inflight   sync.WaitGroup
}

func newNetwork(cfg *app.Config, s *server.MCPServer, logger *slog.Logger) *network {
	n := &network{cfg: cfg, log: logger}
	n.streamable = server.NewStreamableHTTPServer(s,
		server.WithEndpointPath("/mcp"),
		server.WithStateLess(cfg.Stateless),
		server.WithStreamableHTTPLogger(logger),
		server.WithHeartbeatInterval(25*time.Second),
	)
	n.sse = server.NewSSEServer(s,
		server.WithSSEEndpoint("/sse"),
		server.WithMessageEndpoint("/message"),
		server.WithKeepAlive(true),
		server.WithKeepAliveInterval(25*time.Second),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"draining"}`)
			return
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mcp := n.guard(n.streamable)
	switch cfg.Transport {
	case "http":
		mux.Handle("/mcp", mcp)
		// Older clients that only speak SSE can use the same server.
		mux.Handle("/sse", n.guard(n.sse.SSEHandler()))
		mux.Handle("/message", n.guard(n.sse.MessageHandler()))
	case "sse":
		mux.Handle("/sse", n.guard(n.sse.SSEHandler()))
		mux.Handle("/message", n.guard(n.sse.MessageHandler()))
	}
	n.handler = mux
	return n
}

// guard applies, in order: draining refusal, bearer-token auth, the body
// size limit, and tracking of requests in flight for graceful shutdown.
func (n *network) guard(next http.Handler) http.Handler {
	token := []byte(n.cfg.AuthToken.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.draining.Load() {
			w.Header().Set("Connection", "close")
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}
		if len(token) > 0 {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bitrix24-chat-mcp"`)
				http.Error(w, "missing bearer token: send Authorization: Bearer <MCP_AUTH_TOKEN>", http.StatusUnauthorized)
				return
			}
			if subtle.ConstantTimeCompare([]byte(got), token) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bitrix24-chat-mcp", error="invalid_token"`)
				http.Error(w, "invalid bearer token", http.StatusUnauthorized)
				n.log.Warn("refused a request with a wrong bearer token", "remote", r.RemoteAddr)
				return
			}
		}
		if r.ContentLength > maxRequestBody {
			http.Error(w, fmt.Sprintf("request body over %d bytes", maxRequestBody), http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		}
		// Long-lived GET streams are not calls in flight; POSTs are.
		if r.Method == http.MethodPost {
			n.inflight.Add(1)
			defer n.inflight.Done()
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a listen address only accepts local connections.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// serveNetwork serves SSE or Streamable HTTP until ctx ends, then drains.
func serveNetwork(ctx context.Context, cfg *app.Config, s *server.MCPServer, logger *slog.Logger) error {
	if cfg.AuthToken == "" && !isLoopback(cfg.Addr) {
		return &app.UsageError{Msg: fmt.Sprintf("refusing to listen on %s without MCP_AUTH_TOKEN: anyone who can reach it could use your Bitrix24 credentials. Set MCP_AUTH_TOKEN to a long random string (clients send it as Authorization: Bearer ...), or listen on 127.0.0.1", cfg.Addr)}
	}
	if cfg.AuthToken == "" {
		logger.Warn("no MCP_AUTH_TOKEN: any process on this machine can use the server and its Bitrix24 credentials")
	}
	n := newNetwork(cfg, s, logger)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: n.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	paths := "/mcp (Streamable HTTP), /sse + /message (legacy SSE)"
	if cfg.Transport == "sse" {
		paths = "/sse + /message (legacy SSE)"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "paths", paths, "auth", cfg.AuthToken != "", "stateless", cfg.Stateless)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return n.shutdown(srv)
}

// shutdown refuses new requests, waits (bounded) for calls in flight, then
// closes the streams and the listener.
func (n *network) shutdown(srv *http.Server) error {
	n.log.Info("shutting down: letting calls in flight finish", "timeout", drainTimeout)
	n.draining.Store(true)
	done := make(chan struct{})
	go func() { n.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		n.log.Warn("calls still in flight after the drain timeout; closing anyway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = n.streamable.Shutdown(ctx)
	_ = n.sse.Shutdown(ctx)
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	_ = srv.Close()
	n.log.Info("stopped")
	return nil
}
