package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// codeHints say what to do about a Bitrix24 error code. A tool may pass
// overrides for codes that mean something specific to it.
var codeHints = map[string]string{
	bitrix.CodeQueryLimitExceeded: "The portal's request limit is exhausted even after retries; wait a few seconds and try again.",
	bitrix.CodeOperationTimeLimit: "This method used up its execution-time budget for the 10-minute window; wait for the reset time given and try again.",
	bitrix.CodeOverloadLimit:      "Bitrix24 support has blocked REST access for this portal; only support can lift it. Do not retry.",
	bitrix.CodeNoAuthFound:        "The webhook URL or access token is wrong or was deleted; check BITRIX24_WEBHOOK_URL (or the OAuth tokens) in the server's configuration.",
	bitrix.CodeExpiredToken:       "The OAuth access token expired and could not be refreshed; check BITRIX24_REFRESH_TOKEN.",
	bitrix.CodeInvalidGrant:       "The OAuth refresh token is no longer valid; re-authorize the application in Bitrix24 and configure the new tokens.",
	bitrix.CodeInvalidClient:      "The OAuth client id or secret is wrong; check BITRIX24_CLIENT_ID and BITRIX24_CLIENT_SECRET.",
	bitrix.CodeInsufficientScope:  "The webhook or application lacks a scope this tool needs (im for chats, imbot for bots); add it in Bitrix24 (Developer resources > the webhook > scopes) and try again.",
	bitrix.CodeInvalidCredentials: "The user behind the webhook or token lacks permission for this; use a webhook of a user who has it.",
	bitrix.CodeUserAccessError:    "The application is installed but this user may not use it; ask the portal administrator for access.",
	bitrix.CodeMethodNotFound:     "The portal does not offer this method (an older version or the module is off).",
	bitrix.CodeAccessError:        "The webhook's user has no access to this chat or may not change it; check that they are a member (and for adding, that the chat allows it).",
	bitrix.CodeAccessDeniedExtend: "Only the chat's owner or managers may add participants to this chat; use a webhook of one of them.",
	bitrix.CodeAccessDenied:       "Access denied by Bitrix24 (REST may be unavailable on the portal's plan, or the bot lacks access).",
	"DIALOG_ID_EMPTY":             "dialog_id must be chatN, sgN or a user id.",
	"CHAT_ID_EMPTY":               "chat_id must be the numeric id of a group chat.",
	"WRONG_REQUEST":               "Bitrix24 refused the request as malformed; check chat_id and user_ids.",
	"BOT_TOKEN_NOT_SPECIFIED":     "imbot.v2 methods on a webhook need the bot's token: set BITRIX24_BOT_TOKEN in the server's configuration.",
	"BOT_ID_REQUIRED":             "Pass bot_id, or set BITRIX24_BOT_ID in the server's configuration.",
	"BOT_NOT_FOUND":               "No bot has that id on this portal; check bot_id (or BITRIX24_BOT_ID).",
	"BOT_ID_ERROR":                "No bot has that id on this portal; check bot_id (or BITRIX24_BOT_ID).",
	"BOT_OWNERSHIP_ERROR":         "That bot was registered by another application (or the configured bot token is not its token); use a bot of this application.",
	"APP_ID_ERROR":                "That bot was installed by another application; check bot_id and BITRIX24_BOT_CLIENT_ID.",
	bitrix.CodeBadResponse:        "The portal (or a proxy in front of it) answered with something other than a REST answer; check the portal URL and try again later.",
	bitrix.CodeBadResult:          "Bitrix24 answered, but not in the shape its documentation gives (the method and member are named above); the address and credentials are fine and a retry will meet the same. Run `bitrix24-chat-mcp check --deep` and tell the server's maintainers.",
	bitrix.CodeStateStore:         "The server's shared state store (Redis, BITRIX24_STATE_URL) does not answer, and calls fail rather than risk the portal's limit; try again when it is back, or tell the server's operator.",
}

// credentials is whose credentials a call runs with: the hints say what to
// do in those words (a signed-in person cannot "use another webhook").
type credentials int

const (
	viaWebhook  credentials = iota // the server's inbound webhook
	viaOAuth                       // the server's OAuth pair (login, or configured tokens)
	viaSignedIn                    // the caller's own sign-in (--auth bitrix24)
)

func credentialsOf(ctx context.Context, d *Deps) credentials {
	switch c := d.client(ctx); {
	case c != d.Client:
		return viaSignedIn
	case c.Webhook():
		return viaWebhook
	}
	return viaOAuth
}

// oauthHints replace codeHints when the server calls with an OAuth pair.
var oauthHints = map[string]string{
	bitrix.CodeNoAuthFound:        "The OAuth access token is wrong or was revoked; sign the server in again (bitrix24-chat-mcp login) or configure fresh tokens.",
	bitrix.CodeInsufficientScope:  "The OAuth application lacks a scope this tool needs (im for chats, imbot for bots); add it in the application's settings in Bitrix24 and sign the server in again.",
	bitrix.CodeInvalidCredentials: "The Bitrix24 user the server is signed in as lacks permission for this; sign it in (bitrix24-chat-mcp login) as a user who has it.",
	bitrix.CodeAccessError:        "The Bitrix24 user the server is signed in as has no access to this chat or may not change it; check that they are a member (and for adding, that the chat allows it).",
	bitrix.CodeAccessDeniedExtend: "Only the chat's owner or managers may add participants to this chat; sign the server in (bitrix24-chat-mcp login) as one of them.",
}

// signedInHints replace codeHints when the caller signed in as themselves
// (--auth bitrix24): then the credentials are theirs, not the server's.
var signedInHints = map[string]string{
	bitrix.CodeNoAuthFound:        "Bitrix24 no longer accepts your sign-in; sign in again (your MCP client asks you to).",
	bitrix.CodeInvalidGrant:       "Bitrix24 no longer accepts your sign-in; sign in again (your MCP client asks you to).",
	bitrix.CodeInvalidCredentials: "Your Bitrix24 user lacks permission for this; ask someone who has it.",
	bitrix.CodeAccessError:        "You have no access to this chat in Bitrix24, or may not change it: you must be a member (and for adding, the chat must allow you to add).",
	bitrix.CodeAccessDeniedExtend: "Only the chat's owner or managers may add participants to this chat; ask one of them.",
	bitrix.CodeInsufficientScope:  "The server's Bitrix24 application lacks a scope this tool needs (im, imbot); tell the server's operator.",
}

// byCredentials are the hints for whose credentials the call runs with.
func byCredentials(ctx context.Context) map[string]string {
	switch callFrom(ctx).creds {
	case viaSignedIn:
		return signedInHints
	case viaOAuth:
		return oauthHints
	}
	return nil
}

// ErrorCodes are the Bitrix24 error codes the tools know: a fixed set, so
// that a metric labelled with a code cannot grow without bound.
func ErrorCodes() []string {
	codes := make([]string, 0, len(codeHints)+8)
	for c := range codeHints {
		codes = append(codes, c)
	}
	return append(codes, bitrix.CodeAccessDeniedKick, bitrix.CodeInvalidToken, bitrix.CodeTokenFileLock,
		"USER_NOT_FOUND", "INTERNAL_SERVER_ERROR", "ERROR_BATCH_LENGTH_EXCEEDED", "ERROR_UNEXPECTED_ANSWER")
}

// systemAccessDenied tells the portal-wide ACCESS_DENIED (REST only on paid
// plans) from a method's own (a bot not in the chat): same code, so the
// description decides, and a tool's hint for its own does not apply.
func systemAccessDenied(e *bitrix.Error) bool {
	return e.Code == bitrix.CodeAccessDenied && strings.Contains(e.Description, "REST API")
}

// bitrixErrorResult turns an error from the client into an isError result
// with the code, the description and a hint. Only programming faults would
// be worth a Go error, and the client returns none of those.
func bitrixErrorResult(ctx context.Context, err error, overrides map[string]string) *mcp.CallToolResult {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		report(ctx, OutcomeCancelled, "")
		return errorResult("The call was cancelled or timed out before Bitrix24 answered; nothing further was sent.")
	}
	var te *bitrix.TransportError
	if errors.As(err, &te) {
		report(ctx, OutcomeToolError, "transport_error")
		return errorResult(fmt.Sprintf("Could not reach Bitrix24 (%s; %d attempt(s)).\nHint: check the portal address and the network, then try again.", te.Msg, te.Attempts))
	}
	e, ok := bitrix.AsError(err)
	if !ok {
		report(ctx, OutcomeToolError, "")
		return errorResult("Bitrix24 call failed: " + err.Error())
	}
	report(ctx, OutcomeToolError, e.Code)
	hint := overrides[e.Code]
	if hint == "" || systemAccessDenied(e) {
		hint = codeHints[e.Code]
	}
	if h := byCredentials(ctx)[e.Code]; h != "" {
		hint = h
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Bitrix24 error %s from %s", e.Code, e.Method)
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if hint != "" {
		b.WriteString("\nHint: " + hint)
	}
	return errorResult(b.String())
}
