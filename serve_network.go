package main

import (
	"context"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"
)

// serveNetwork serves the SSE and Streamable HTTP transports.
func serveNetwork(ctx context.Context, cfg *config, s *server.MCPServer, logger *slog.Logger) error {
	return usagef("--transport %s is not available yet; use stdio", cfg.Transport)
}
