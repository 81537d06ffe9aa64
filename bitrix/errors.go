package bitrix

import (
	"errors"
	"fmt"
	"time"
)

// Error is an error answered by Bitrix24: {"error": CODE, "error_description": ...}.
// Callers branch on Code (the REST layer sometimes swaps codes and statuses,
// so the code is what counts, not the HTTP status).
type Error struct {
	Method      string // the REST method called, e.g. "im.chat.user.add"
	Code        string // e.g. "ACCESS_ERROR", "QUERY_LIMIT_EXCEEDED"
	Description string
	HTTPStatus  int // 0 inside a batch, where each command has no status of its own
	// OperatingResetAt is set for OPERATION_TIME_LIMIT when the portal said when
	// the method's time budget resets.
	OperatingResetAt time.Time
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("bitrix24 %s: %s", e.Method, e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	return msg
}

// Error codes this package or the tools treat specially.
const (
	CodeQueryLimitExceeded = "QUERY_LIMIT_EXCEEDED"
	CodeOperationTimeLimit = "OPERATION_TIME_LIMIT"
	CodeOverloadLimit      = "OVERLOAD_LIMIT"
	CodeInternalError      = "INTERNAL_SERVER_ERROR"
	CodeUnexpectedAnswer   = "ERROR_UNEXPECTED_ANSWER"
	CodeExpiredToken       = "expired_token"
	CodeInvalidToken       = "invalid_token"
	CodeNoAuthFound        = "NO_AUTH_FOUND"
	CodeInvalidCredentials = "INVALID_CREDENTIALS"
	CodeInsufficientScope  = "insufficient_scope"
	CodeUserAccessError    = "user_access_error"
	CodeInvalidGrant       = "invalid_grant"
	CodeInvalidClient      = "invalid_client"
	CodeAccessError        = "ACCESS_ERROR"
	CodeAccessDenied       = "ACCESS_DENIED"
	CodeAccessDeniedExtend = "ACCESS_DENIED_EXTEND"
	CodeAccessDeniedKick   = "ACCESS_DENIED_KICK"
	CodeMethodNotFound     = "ERROR_METHOD_NOT_FOUND"
	CodeBatchLength        = "ERROR_BATCH_LENGTH_EXCEEDED"

	// CodeTokenFileLock is ours: the token file's lock could not be taken.
	CodeTokenFileLock = "TOKEN_FILE_LOCK"
	// CodeOtherPortal is ours: a sign-in whose tokens are another portal's.
	CodeOtherPortal = "OTHER_PORTAL"

	// CodeBadResponse is ours, not Bitrix24's: the answer was not the JSON we
	// expected (an HTML page from a proxy, an empty 502, a truncated body).
	CodeBadResponse = "BAD_RESPONSE"
	// CodeBadResult is ours too: a REST answer whose result, or a member a
	// tool needs (an id), does not have its documented shape. Not the
	// address's fault, and a retry would meet the same.
	CodeBadResult = "BAD_RESULT"
)

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func hasCode(err error, codes ...string) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// IsRateLimited reports a request-intensity or method-time limit: waiting helps.
func IsRateLimited(err error) bool {
	return hasCode(err, CodeQueryLimitExceeded, CodeOperationTimeLimit)
}

// IsAuth reports that the credentials themselves are wrong, expired or
// lack a scope: retrying will not help, the configuration must change.
func IsAuth(err error) bool {
	return hasCode(err, CodeNoAuthFound, CodeExpiredToken, CodeInvalidToken, CodeInvalidCredentials,
		CodeInsufficientScope, CodeUserAccessError, CodeInvalidGrant, CodeInvalidClient)
}

// IsAccessDenied reports that the caller may not do this to that chat.
func IsAccessDenied(err error) bool {
	return hasCode(err, CodeAccessError, CodeAccessDenied, CodeAccessDeniedExtend)
}

// IsTransient reports a failure that a later attempt may not meet:
// server faults and malformed answers from a proxy in front of the portal.
func IsTransient(err error) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	switch e.Code {
	case CodeQueryLimitExceeded, CodeInternalError, CodeUnexpectedAnswer:
		return true
	case CodeBadResponse:
		return e.HTTPStatus >= 500 || e.HTTPStatus == 0
	}
	switch e.HTTPStatus {
	case 500, 502, 503, 504:
		return e.Code != CodeOverloadLimit && e.Code != "PORTAL_DELETED"
	}
	return false
}

// TransportError is a failure to get any answer: DNS, refused connection,
// timeout. Its message never carries the request URL (which holds secrets).
type TransportError struct {
	Method   string
	Msg      string
	Attempts int // requests tried, retries included
}

func (e *TransportError) Error() string { return "bitrix24 " + e.Method + ": " + e.Msg }
