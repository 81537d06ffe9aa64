package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

type progressKey struct{}

// withProgress remembers the call's progressToken, if it carried one.
func withProgress(ctx context.Context, req mcp.CallToolRequest) context.Context {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, req.Params.Meta.ProgressToken)
}

// progressFrom returns a reporter that sends notifications/progress for the
// current call, or nil when the client asked for none.
func progressFrom(ctx context.Context) bitrix.Progress {
	token := ctx.Value(progressKey{})
	srv := server.ServerFromContext(ctx)
	if token == nil || srv == nil {
		return nil
	}
	return func(done, total int) {
		params := map[string]any{"progressToken": token, "progress": done}
		if total > 0 {
			params["total"] = total
		}
		// Best effort: a client that went away just misses the update.
		_ = srv.SendNotificationToClient(ctx, "notifications/progress", params)
	}
}
