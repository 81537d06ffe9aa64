package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
)

// ListenMetrics opens the metrics listener (MCP_METRICS_ADDR) before the
// server starts, so that an address in use stops start-up.
func ListenMetrics(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("MCP_METRICS_ADDR: listening on %s: %w", addr, err)
	}
	return ln, nil
}

// ServeMetrics serves /metrics, unauthenticated, on a listener of its own
// (for stdio, or a private port) until ctx ends.
func ServeMetrics(ctx context.Context, ln net.Listener, m *telemetry.Metrics, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
