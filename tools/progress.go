package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

type callKey struct{}

// call is the call being handled: the request (its progress token, the
// answers to any input the tool asked for) and its validated arguments.
type call struct {
	req   mcp.CallToolRequest
	args  []byte
	creds credentials // whose credentials the call runs with
}

func withCall(ctx context.Context, d *Deps, req mcp.CallToolRequest, args []byte) context.Context {
	return context.WithValue(ctx, callKey{}, call{req, args, credentialsOf(ctx, d)})
}

func callFrom(ctx context.Context) call {
	c, _ := ctx.Value(callKey{}).(call)
	return c
}

// progressFrom returns a reporter that sends notifications/progress for the
// current call, or nil when the client asked for none.
func progressFrom(ctx context.Context) bitrix.Progress {
	req := callFrom(ctx).req
	srv := server.ServerFromContext(ctx)
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil || srv == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	return func(done, total int) {
		params := map[string]any{"progressToken": token, "progress": done}
		if total > 0 {
			params["total"] = total
		}
		// Best effort: a client that went away just misses the update.
		_ = srv.SendNotificationToClient(ctx, "notifications/progress", params)
	}
}
