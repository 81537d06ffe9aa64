// Package transport serves an assembled server (app.App) to MCP clients:
// over stdio (stdio.go), and over HTTP as Streamable HTTP at /mcp and the
// legacy SSE transport at /sse + /message, with /healthz for probes.
//
// Every HTTP request passes the guards in this order, each a net/http
// middleware in a file named for what it guards: drain.go (refused while
// shutting down), host.go (DNS rebinding), origin.go (browser pages and
// CORS), auth.go (the bearer token), body.go (a JSON body read once, under
// the deadline and size cap, decoded into one message), sessions.go
// (Streamable HTTP sessions: opened by initialize only, capped, owned). A refusal is a *refusal (refusal.go),
// rendered in one place. Tool calls pass calls.go, which counts them for the
// drain and holds each legacy SSE session to its share.
package transport

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
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
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

// HTTP is the server's HTTP side, an http.Handler for all its endpoints.
type HTTP struct {
	cfg        *app.Config
	log        *slog.Logger
	mcp        *server.MCPServer
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer
	sessions   *sessionStore
	calls      *callTracker
	store      stateStore   // the shared state store, or nil
	portal     *portalCheck // for /readyz
	signin     *auth.Server // with --auth bitrix24
	requests   activity     // HTTP requests in flight
	handler    http.Handler
}

// stateStore is what /healthz asks of the shared state store.
type stateStore interface {
	Ping(ctx context.Context) error
	String() string
}

// NewHTTP builds the HTTP handlers for an assembled server. It adds the
// call tracker to the server's tool middlewares.
func NewHTTP(a *app.App, logger *slog.Logger) *HTTP {
	cfg := a.Config
	h := &HTTP{cfg: cfg, log: logger, mcp: a.MCP, calls: newCallTracker(cfg.MaxSessionsPerPerson), sessions: newSessionStore(cfg.MaxSessions, cfg.MaxSessionsPerPerson, sessionIdleTTL), signin: a.Auth}
	if a.State != nil {
		h.store = a.State
	}
	h.portal = &portalCheck{lastOK: a.Client.LastOK, probe: func(ctx context.Context) error {
		_, err := a.Client.Scopes(ctx)
		return err
	}}
	if a.Auth != nil {
		// The server holds no Bitrix24 token of its own to probe the portal
		// with: readiness is the store's.
		h.portal = nil
	}
	// Behind a reverse proxy on this machine, requests name the public host.
	localOnly := a.Auth == nil || IsLoopback(publicHost(cfg.PublicURL))
	a.MCP.Use(h.calls.middleware)
	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath("/mcp"),
		server.WithStreamableHTTPLogger(logger),
		server.WithHeartbeatInterval(25 * time.Second),
		server.WithDisableLocalhostProtection(!localOnly), // host.go guards it, allowing the public host
	}
	if cfg.Stateless {
		opts = append(opts, server.WithStateLess(true))
	} else {
		// Our session store: mcp-go's default keeps every id it ever issued.
		opts = append(opts, server.WithSessionIdManagerResolver(h.sessions), server.WithSessionIdleTTL(sessionIdleTTL))
	}
	h.streamable = server.NewStreamableHTTPServer(a.MCP, opts...)
	h.sse = server.NewSSEServer(a.MCP,
		server.WithSSEEndpoint("/sse"),
		server.WithMessageEndpoint("/message"),
		server.WithKeepAlive(true),
		server.WithKeepAliveInterval(25*time.Second),
		server.WithSessionIDGenerator(h.calls.newSSESessionID),
		server.WithSSEDisableLocalhostProtection(!localOnly),
	)
	h.calls.send = h.sse.SendEventToSession

	guard := func(next http.Handler) http.Handler {
		return h.draining(h.hostCheck(h.origin(h.auth(h.jsonBody(h.writeScope(next))))))
	}
	mux := http.NewServeMux()
	if a.Auth != nil {
		oauth := h.oauthEndpoints(a.Auth)
		for _, p := range auth.Paths {
			mux.Handle(p, oauth)
		}
		// A bearer token is the proof here (no cookie): no JSON body needed.
		mux.Handle("/signout", h.draining(h.hostCheck(h.origin(h.auth(http.HandlerFunc(a.Auth.SignOut))))))
	}
	if a.Auth == nil && cfg.AuthToken != "" {
		// A client that meets the 401 without a token looks for sign-in and
		// falls back to registering at /register: say what to send instead.
		mux.Handle("/register", h.draining(h.hostCheck(http.HandlerFunc(h.takesAToken))))
	}
	mux.Handle("/healthz", guard(http.HandlerFunc(h.healthz)))
	mux.Handle("/readyz", guard(http.HandlerFunc(h.readyz)))
	if a.Metrics != nil {
		mux.Handle("/metrics", guard(a.Metrics.Handler()))
		a.Metrics.GaugeFunc("bitrix24_mcp_sessions", "Live Streamable HTTP sessions.", func() float64 { return float64(h.sessions.count()) })
		a.Metrics.GaugeFunc("bitrix24_mcp_sse_calls_in_flight", "Tool calls of legacy SSE sessions running or waiting for a slot.", h.calls.sseInFlight)
	}
	if cfg.Transport == "http" {
		mux.Handle("/mcp", guard(h.sessionGate(h.modernNotices(h.streamable))))
	}
	// Older clients that only speak SSE can use either transport setting.
	mux.Handle("/sse", guard(h.calls.trackSSEStream(h.sse.SSEHandler())))
	mux.Handle("/message", guard(h.calls.sseMessages(h.sse.MessageHandler())))
	h.handler = served(noWildcardCORS(mux))
	return h
}

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// IsLoopback reports whether a listen address only accepts local connections.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CheckListen refuses a network setting the server must not run with.
func CheckListen(cfg *app.Config) error {
	if cfg.AuthToken == "" && !cfg.SignIn() && !IsLoopback(cfg.Addr) {
		return &app.UsageError{Msg: fmt.Sprintf("refusing to listen on %s without MCP_AUTH_TOKEN: anyone who can reach it could use your Bitrix24 credentials. Set MCP_AUTH_TOKEN to a long random string (clients send it as Authorization: Bearer ...), or listen on 127.0.0.1", cfg.Addr)}
	}
	return nil
}

// ListenAndServe serves SSE or Streamable HTTP on the configured address
// until ctx ends, then drains.
func ListenAndServe(ctx context.Context, a *app.App, logger *slog.Logger) error {
	cfg := a.Config
	if err := CheckListen(cfg); err != nil {
		return err
	}
	if cfg.AuthToken == "" && !cfg.SignIn() {
		logger.Warn("no MCP_AUTH_TOKEN: any process on this machine can use the server and its Bitrix24 credentials")
	}
	h := NewHTTP(a, logger)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := newHTTPServer(h, requestReadTimeout)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(newCapListener(ln, cfg.MaxConnections)) }()
	paths := "/mcp (Streamable HTTP), /sse + /message (legacy SSE)"
	if cfg.Transport == "sse" {
		paths = "/sse + /message (legacy SSE)"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "paths", paths, "auth", authKind(cfg), "stateless", cfg.Stateless,
		"allowed_origins", cfg.AllowedOrigins, "max_connections", cfg.MaxConnections)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return h.shutdown(srv)
}

func newHTTPServer(h http.Handler, readTimeout time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: min(10*time.Second, readTimeout), ReadTimeout: readTimeout,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ConnContext: withConn}
}

// shutdown refuses new requests, waits (bounded) for requests and tool
// calls in flight (SSE calls too, whose POST was answered 202 before they
// ran), then closes the streams and the listener.
func (h *HTTP) shutdown(srv *http.Server) error {
	h.log.Info("shutting down: letting calls in flight finish", "timeout", drainTimeout)
	deadline := time.Now().Add(drainTimeout)
	if !h.requests.drain(drainTimeout) || !h.calls.active.drain(time.Until(deadline)) {
		h.log.Warn("calls still in flight after the drain timeout; closing anyway")
	}
	// A finished SSE call's result is queued to its stream just after the
	// handler returns: give the streams a moment to carry it.
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = h.streamable.Shutdown(ctx)
	_ = h.sse.Shutdown(ctx)
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	_ = srv.Close()
	h.log.Info("stopped")
	return nil
}

func authKind(cfg *app.Config) string {
	switch {
	case cfg.SignIn():
		return "bitrix24 sign-in"
	case cfg.AuthToken != "":
		return "token"
	}
	return "none"
}
