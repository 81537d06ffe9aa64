package tools

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Asking the human before a change. With a client that supports elicitation,
// a tool returns an input request (mcp-go turns it into elicitation/create for
// clients before 2026-07-28, and hands it to newer clients as the result, who
// call again with the answer). Without that support the tool goes ahead: the
// client's own approval of a destructive tool is the check there. A decline,
// a cancel, no answer, or a requestState that does not verify sends nothing;
// each is told apart, to the model and on the audit trail: a cancel means
// the person was not asked or did not answer (Claude Code run with -p
// cancels every question), which is not a person saying no.

const confirmKey = "confirm"

// confirmation is the outcome of asking.
type confirmation int

const (
	confirmed   confirmation = iota // accepted, or nobody can be asked
	declined                        // the human said no
	cancelled                       // the question was dismissed: the person was not asked, or did not answer
	unanswered                      // the client came back without an answer to it
	refused                         // the answer cannot be trusted, or the question not asked: the result says why
	askingFirst                     // return ask as the result, and wait for the answer
)

// confirmChange asks the human to confirm message, once per set of
// arguments: the answer counts only with the requestState this server gave
// for these very arguments, signed, and not older than stateTTL.
func confirmChange(ctx context.Context, d *Deps, message string) (confirmation, *mcp.CallToolResult) {
	c := callFrom(ctx)
	req := c.req
	key, err := d.confirmKey(ctx)
	if err != nil {
		// Never go ahead unasked because the question could not be signed.
		return refused, errorResult(fmt.Sprintf("Could not prepare the confirmation (%v); nothing was sent to Bitrix24. Try again once the shared state store answers.", err))
	}
	answer := server.ElicitationResponse(req.Params.InputResponses, confirmKey)
	if answer != nil || req.Params.RequestState != "" {
		if problem := verifyState(key, req.Params.Name, c.args, req.Params.RequestState, time.Now()); problem != "" {
			return refused, errorResult("The confirmation was refused: " + problem + ". Nothing was sent to Bitrix24; call the tool again without inputResponses and requestState to be asked anew.")
		}
		if answer == nil {
			return unanswered, nil
		}
		content, _ := answer.Content.(map[string]any)
		ok, _ := content["confirm"].(bool)
		switch answer.Action {
		case mcp.ElicitationResponseActionAccept:
			if ok {
				return confirmed, nil
			}
			return declined, nil // the person unticked "confirm"
		case mcp.ElicitationResponseActionCancel:
			return cancelled, nil
		}
		return declined, nil
	}
	if !clientCanElicit(ctx) {
		return confirmed, nil
	}
	ask := server.NewInputRequestBuilder(signState(key, req.Params.Name, c.args, time.Now())).Elicit(confirmKey, mcp.ElicitationParams{
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

// stateTTL bounds how long a confirmation's requestState is honoured: an
// answer replayed later asks anew.
const stateTTL = 10 * time.Minute

// signState is the requestState of a confirmation: it passes through the
// client, so it carries an HMAC (2026-07-28 asks that such state be
// integrity-protected) over the tool, the arguments and the time it was
// issued: "v1.UNIX.DIGEST.MAC".
func signState(key []byte, tool string, args []byte, now time.Time) string {
	body := fmt.Sprintf("v1.%d.%s", now.Unix(), argsDigest(args))
	return body + "." + stateMAC(key, tool, body)
}

// verifyState says what is wrong with a requestState, or "".
func verifyState(key []byte, tool string, args []byte, state string, now time.Time) string {
	parts := strings.Split(state, ".")
	if len(parts) != 4 || parts[0] != "v1" {
		return "its requestState is not one this server issued"
	}
	body := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(stateMAC(key, tool, body))) {
		return "its requestState does not verify (altered, or issued by another server or for another tool)"
	}
	if parts[2] != argsDigest(args) {
		return "it was given for other arguments"
	}
	issued, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Sub(time.Unix(issued, 0)) > stateTTL || time.Unix(issued, 0).After(now.Add(time.Minute)) {
		return fmt.Sprintf("it is older than %s", stateTTL)
	}
	return ""
}

func stateMAC(key []byte, tool, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tool + "\x00" + body))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func argsDigest(args []byte) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:12])
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
