package tools

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Asking the human before a change. With a client that supports elicitation,
// a tool returns an input request (mcp-go turns it into elicitation/create for
// clients before 2026-07-28, and hands it to newer clients as the result, who
// call again with the answer). Without that support the tool goes ahead: the
// client's own approval of a destructive tool is the check there.

const confirmKey = "confirm"

// confirmation is the outcome of asking.
type confirmation int

const (
	confirmed   confirmation = iota // accepted, or nobody can be asked
	declined                        // the human said no (or cancelled)
	askingFirst                     // return ask as the result, and wait for the answer
)

// confirmChange asks the human to confirm message, once per set of
// arguments: an answer given for other arguments does not count.
func confirmChange(ctx context.Context, message string) (confirmation, *mcp.CallToolResult) {
	c := callFrom(ctx)
	req := c.req
	state := argsDigest(c.args)
	if answer := server.ElicitationResponse(req.Params.InputResponses, confirmKey); answer != nil && req.Params.RequestState == state {
		content, _ := answer.Content.(map[string]any)
		if ok, _ := content["confirm"].(bool); answer.Action == mcp.ElicitationResponseActionAccept && ok {
			return confirmed, nil
		}
		return declined, nil
	}
	if !clientCanElicit(ctx) {
		return confirmed, nil
	}
	ask := server.NewInputRequestBuilder(state).Elicit(confirmKey, mcp.ElicitationParams{
		Mode:    mcp.ElicitationModeForm,
		Message: message,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Confirm", "description": "Go ahead with this change?"},
			},
			"required": []string{"confirm"},
		},
	}).ToolResult()
	return askingFirst, ask
}

func argsDigest(args []byte) string {
	sum := sha256.Sum256(args)
	return "args:" + hex.EncodeToString(sum[:12])
}

// clientCanElicit reports whether the client declared elicitation: per
// request from 2026-07-28 on, per session before.
func clientCanElicit(ctx context.Context) bool {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		return info.ClientCapabilities != nil && info.ClientCapabilities.Elicitation != nil
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		return s.GetClientCapabilities().Elicitation != nil
	}
	return false
}
