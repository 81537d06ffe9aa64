package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

const (
	// maxRequestBody bounds a JSON-RPC request: a tool call here is a few
	// hundred bytes; 1 MiB leaves room and stops memory abuse.
	maxRequestBody = 1 << 20
	// requestReadTimeout bounds reading a request, headers and body: a
	// client that sends headers and then nothing is cut off. (net/http lifts
	// the deadline once the body is read, so long streams are unaffected.)
	requestReadTimeout = 30 * time.Second
	// drainTimeout bounds how long shutdown waits for tool calls in flight.
	drainTimeout = 20 * time.Second
)

// network is the HTTP side of the server: Streamable HTTP at /mcp, the
// legacy SSE transport at /sse + /message, and /healthz; guard (http_guard.go)
// and the limits (http_limits.go) stand in front of all of them.
type network struct {
	cfg        *app.Config
	log        *slog.Logger
	mcp        *server.MCPServer
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer
	sessions   *sessionManager
	calls      *callTracker
	store      stateStore // the shared state store, or nil
	requests   activity   // HTTP requests in flight
	handler    http.Handler
}

// stateStore is what /healthz asks of the shared state store.
type stateStore interface {
	Ping(ctx context.Context) error
	String() string
}

// newNetwork builds the HTTP handlers for an assembled server whose MCP
// server has calls.middleware among its tool handler middlewares.
func newNetwork(cfg *app.Config, a *app.App, logger *slog.Logger, calls *callTracker) *network {
	s := a.MCP
	n := &network{cfg: cfg, log: logger, mcp: s, calls: calls, sessions: newSessionManager(cfg.MaxSessions, sessionIdleTTL)}
	if a.State != nil {
		n.store = a.State
	}
	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath("/mcp"),
		server.WithStreamableHTTPLogger(logger),
		server.WithHeartbeatInterval(25 * time.Second),
	}
	if cfg.Stateless {
		opts = append(opts, server.WithStateLess(true))
	} else {
		// Our session store: mcp-go's default keeps every id it ever issued.
		opts = append(opts, server.WithSessionIdManager(n.sessions), server.WithSessionIdleTTL(sessionIdleTTL))
	}
	n.streamable = server.NewStreamableHTTPServer(s, opts...)
	n.sse = server.NewSSEServer(s,
		server.WithSSEEndpoint("/sse"),
		server.WithMessageEndpoint("/message"),
		server.WithKeepAlive(true),
		server.WithKeepAliveInterval(25*time.Second),
		server.WithSessionIDGenerator(calls.newSSESessionID),
	)
	mux := http.NewServeMux()
	mux.Handle("/healthz", n.guard(http.HandlerFunc(n.healthz)))
	if cfg.Transport == "http" {
		mux.Handle("/mcp", n.guard(n.streamable))
	}
	// Older clients that only speak SSE can use either transport setting.
	mux.Handle("/sse", n.guard(calls.trackSSEStream(n.sse.SSEHandler())))
	mux.Handle("/message", n.guard(n.sse.MessageHandler()))
	n.handler = noWildcardCORS(mux)
	return n
}

func (n *network) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if n.requests.isDraining() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"draining"}`)
		return
	}
	store := ""
	if n.store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := n.store.Ping(ctx); err != nil {
			// Calls fail while the store is away: send traffic elsewhere.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"status":"state store unreachable","state":%q}`+"\n", n.store.String())
			return
		}
		store = fmt.Sprintf(`,"state":%q`, n.store.String()+" ok")
	}
	fmt.Fprintf(w, `{"status":"ok","sessions":%d%s}`+"\n", n.sessions.count(), store)
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

// checkNetwork refuses a network setting the server must not run with.
func checkNetwork(cfg *app.Config) error {
	if cfg.AuthToken == "" && !isLoopback(cfg.Addr) {
		return &app.UsageError{Msg: fmt.Sprintf("refusing to listen on %s without MCP_AUTH_TOKEN: anyone who can reach it could use your Bitrix24 credentials. Set MCP_AUTH_TOKEN to a long random string (clients send it as Authorization: Bearer ...), or listen on 127.0.0.1", cfg.Addr)}
	}
	return nil
}

// serveNetwork serves SSE or Streamable HTTP until ctx ends, then drains.
func serveNetwork(ctx context.Context, cfg *app.Config, a *app.App, logger *slog.Logger, calls *callTracker) error {
	if err := checkNetwork(cfg); err != nil {
		return err
	}
	if cfg.AuthToken == "" {
		logger.Warn("no MCP_AUTH_TOKEN: any process on this machine can use the server and its Bitrix24 credentials")
	}
	n := newNetwork(cfg, a, logger, calls)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := newHTTPServer(n.handler, requestReadTimeout)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(newCapListener(ln, cfg.MaxConnections)) }()
	paths := "/mcp (Streamable HTTP), /sse + /message (legacy SSE)"
	if cfg.Transport == "sse" {
		paths = "/sse + /message (legacy SSE)"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "paths", paths, "auth", cfg.AuthToken != "", "stateless", cfg.Stateless,
		"allowed_origins", cfg.AllowedOrigins, "max_connections", cfg.MaxConnections)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return n.shutdown(srv)
}

func newHTTPServer(h http.Handler, readTimeout time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: min(10*time.Second, readTimeout), ReadTimeout: readTimeout,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// shutdown refuses new requests, waits (bounded) for requests and tool
// calls in flight (SSE calls too, whose POST was answered 202 before they
// ran), then closes the streams and the listener.
func (n *network) shutdown(srv *http.Server) error {
	n.log.Info("shutting down: letting calls in flight finish", "timeout", drainTimeout)
	deadline := time.Now().Add(drainTimeout)
	if !n.requests.drain(drainTimeout) || !n.calls.active.drain(time.Until(deadline)) {
		n.log.Warn("calls still in flight after the drain timeout; closing anyway")
	}
	// A finished SSE call's result is queued to its stream just after the
	// handler returns: give the streams a moment to carry it.
	time.Sleep(200 * time.Millisecond)
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
