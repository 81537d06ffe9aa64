package transport

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"
)

// ServeStdio serves one client over stdin/stdout until stdin ends or ctx is
// done. stdout carries only JSON-RPC; logs go to the logger (stderr).
func ServeStdio(ctx context.Context, s *server.MCPServer, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	stdio := server.NewStdioServer(s)
	stdio.SetErrorLogger(log.New(slogWriter{logger}, "", 0))
	// Agents fire bursts of calls; the default 5 workers would serialise them
	// behind the rate limiter's waits.
	server.WithWorkerPoolSize(64)(stdio)
	server.WithQueueSize(1000)(stdio)
	err := stdio.Listen(ctx, limitLines(stdin, maxStdioMessage), stdout)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// slogWriter adapts mcp-go's *log.Logger output to slog (stderr).
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	w.l.Error(string(p))
	return n, nil
}
