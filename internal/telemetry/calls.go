package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// Calls is the tool middleware that sees every call end: it logs one line
// at info (tool, outcome, duration, portal requests, request id) and counts
// it in m (nil: no metrics).
func Calls(log *slog.Logger, m *Metrics) server.ToolHandlerMiddleware {
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id := hex.EncodeToString(b)
			ctx = audit.WithRequestID(ctx, id) // the same id in the audit lines
			ctx, report := tools.WithReport(ctx)
			ctx, requests := bitrix.CountRequests(ctx)
			began := time.Now()
			res, err := next(ctx, req)
			took := time.Since(began)
			outcome, code := report.Outcome, report.Code
			switch {
			case err != nil && ctx.Err() != nil:
				outcome = tools.OutcomeCancelled
			case err != nil:
				outcome = "error" // a JSON-RPC error: a refusal or a fault
			case outcome == "" && res != nil && res.IsError:
				outcome = tools.OutcomeToolError
			case outcome == "":
				outcome = tools.OutcomeOK
			}
			m.ToolCall(req.Params.Name, outcome, code, took)
			attrs := []any{"tool", req.Params.Name, "outcome", outcome, "duration", took.Round(time.Microsecond),
				"portal_requests", requests.Load(), "request_id", id}
			if code != "" {
				attrs = append(attrs, "code", code)
			}
			log.Info("tool call", attrs...)
			return res, err
		}
	}
}
