// Package bitrix is a small Bitrix24 REST client for the chat-membership
// methods this server wraps: one JSON call path, typed errors, a client-side
// leaky bucket matching the portal's, retries, and OAuth token rotation.
package bitrix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-retry"
)

// maxBody caps how much of an answer is read: a page of 200 users is ~200 KB.
const maxBody = 32 << 20

// Client calls Bitrix24 REST methods. It is safe for concurrent use.
type Client struct {
	cfg     Config
	hook    *webhook // nil with OAuth
	oauth   *oauthState
	bucket  limiter
	secrets redactor
	log     *slog.Logger

	pauses pauses // method -> OPERATION_TIME_LIMIT reset time

	batch batcher // calls queued for opportunistic batching

	// notify, when set, hears about waits (rate limits) worth telling a user.
	notify atomic.Pointer[func(ctx context.Context, msg string)]

	lastOK atomic.Int64 // unix nanoseconds of the last answer without an error

	shapes shapes // members that did not decode as documented (decode.go)

	parent *Client // the server's client a signed-in person's shares its limit with (ForUser)
}

// LastOK is when the portal last answered a request without an error (zero
// before the first).
func (c *Client) LastOK() time.Time {
	if n := c.lastOK.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// New builds a client. It makes no network call.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Shared != nil {
		cfg.Shared = observedState{cfg.Shared, cfg.Observer}
	}
	c := &Client{cfg: cfg, log: cfg.Logger}
	if cfg.Shared != nil {
		c.bucket = &sharedBucket{s: cfg.Shared, rate: cfg.RateLimit, burst: cfg.RateBurst}
		c.pauses = sharedPauses{cfg.Shared}
	} else {
		c.bucket = newLeakyBucket(cfg.RateLimit, cfg.RateBurst)
		c.pauses = &localPauses{paused: map[string]time.Time{}}
	}
	c.bucket = observedLimiter{c.bucket, cfg.Observer}
	c.secrets.add(cfg.BotToken.Reveal(), cfg.BotClientID.Reveal())
	switch {
	case cfg.WebhookURL != "" && cfg.OAuth != nil:
		return nil, errors.New("bitrix: configure either a webhook URL or OAuth, not both")
	case cfg.WebhookURL != "":
		c.secrets.add(cfg.WebhookURL.Reveal())
		h, err := parseWebhook(cfg.WebhookURL)
		if err != nil {
			return nil, fmt.Errorf("bitrix: %w", err)
		}
		c.secrets.add(h.code.Reveal())
		c.hook = &h
	case cfg.OAuth != nil:
		o, err := newOAuthState(*cfg.OAuth, &c.secrets, cfg.HTTPClient, c.log, cfg.Shared)
		if err != nil {
			return nil, err
		}
		o.observe = cfg.Observer.Refresh
		c.oauth = o
	default:
		return nil, errors.New("bitrix: no credentials: set a webhook URL or OAuth tokens")
	}
	return c, nil
}

// String names the portal and auth kind, never a secret.
func (c *Client) String() string {
	if c.hook != nil {
		return fmt.Sprintf("bitrix.Client{portal: %s, auth: webhook of user %s}", c.hook.portal, c.hook.userID)
	}
	return fmt.Sprintf("bitrix.Client{endpoint: %s, auth: oauth}", c.oauth.endpointHost())
}

// Webhook reports whether the client calls with an inbound webhook (else
// an OAuth pair).
func (c *Client) Webhook() bool { return c.hook != nil }

// Portal is the portal's host, for the audit trail.
func (c *Client) Portal() string {
	if c.hook != nil {
		return c.hook.portal
	}
	return c.oauth.endpointHost()
}

// ActingUser is the Bitrix24 user whose credentials the client uses: the
// webhook's user, or the OAuth pair's when the token answer named it ("" if
// not known yet).
func (c *Client) ActingUser() string {
	if c.hook != nil {
		return c.hook.userID
	}
	c.oauth.mu.Lock()
	defer c.oauth.mu.Unlock()
	if c.oauth.userID > 0 {
		return strconv.Itoa(c.oauth.userID)
	}
	return ""
}

// OnWait registers a function told about waits on rate limits (for example to
// forward them to an MCP client as log notifications). The ctx is the caller's.
func (c *Client) OnWait(f func(ctx context.Context, msg string)) { c.notify.Store(&f) }

func (c *Client) tellWait(ctx context.Context, level slog.Level, msg string) {
	c.log.Log(ctx, level, msg)
	f := c.notify.Load()
	if f == nil && c.parent != nil {
		f = c.parent.notify.Load()
	}
	if f != nil {
		(*f)(ctx, msg)
	}
}

// Response is a decoded successful answer.
type Response struct {
	Result json.RawMessage
	Total  *int // present on offset-paged lists
	Next   *int // present when another page exists
	Time   Timing
}

// Timing is the answer's "time" section.
type Timing struct {
	Start            float64 `json:"start"`
	Finish           float64 `json:"finish"`
	Duration         float64 `json:"duration"`
	Processing       float64 `json:"processing"`
	Operating        float64 `json:"operating"`
	OperatingResetAt int64   `json:"operating_reset_at"`
}

type envelope struct {
	Result           json.RawMessage `json:"result"`
	Total            *int            `json:"total"`
	Next             *int            `json:"next"`
	Time             *Timing         `json:"time"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// Params are a method's parameters, sent as a JSON object.
type Params map[string]any

// Call invokes a REST method with retries, rate limiting and token refresh.
func (c *Client) Call(ctx context.Context, method string, params Params) (*Response, error) {
	send := c.send
	if !c.cfg.NoAutoBatch && autoBatchable[strings.ToLower(method)] {
		send = c.callQueued
	}
	var resp *Response
	err := c.withRetry(ctx, method, func(ctx context.Context, attempt int) error {
		r, err := send(ctx, method, params, attempt)
		resp = r
		return err
	})
	return resp, err
}

// withRetry runs one operation under the retry policy:
//   - QUERY_LIMIT_EXCEEDED, 500/502/503/504 and transport errors: retried with
//     exponential backoff and jitter, within MaxAttempts and MaxRetryTime;
//   - OPERATION_TIME_LIMIT: the method is paused until its reset time, and the
//     call waits for it when that fits the budget;
//   - expired_token: one shared refresh, then the call is repeated;
//   - anything else (OVERLOAD_LIMIT, auth, the method's own errors): returned at once.
func (c *Client) withRetry(ctx context.Context, method string, op func(ctx context.Context, attempt int) error) error {
	start := time.Now()
	deadline := start.Add(c.cfg.MaxRetryTime)
	// go-retry backoffs are stateful, so each operation gets its own.
	b := retry.NewExponential(c.cfg.RetryBase)
	b = retry.WithCappedDuration(5*time.Second, b)
	b = retry.WithJitterPercent(20, b)
	b = retry.WithMaxRetries(uint64(c.cfg.MaxAttempts-1), b)
	b = retry.WithMaxDuration(c.cfg.MaxRetryTime, b)

	refreshed := false
	attempt := 0
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		if err := c.waitOperating(ctx, method, deadline); err != nil {
			return err
		}
		attempt++
		err := op(ctx, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var carried *carriedError
		if errors.As(err, &carried) {
			return carried.err // the batch that carried this call was retried already
		}
		e, _ := AsError(err)
		switch {
		case e != nil && (e.Code == CodeExpiredToken || e.Code == CodeInvalidToken) && c.oauth != nil && !refreshed:
			refreshed = true
			if rerr := c.oauth.refresh(ctx, tokenOf(err)); rerr != nil {
				return rerr
			}
			return retry.RetryableError(err)
		case e != nil && e.Code == CodeOperationTimeLimit:
			c.pause(method, e.OperatingResetAt)
			if !e.OperatingResetAt.IsZero() && e.OperatingResetAt.Before(deadline) {
				return retry.RetryableError(err) // waitOperating sleeps next time round
			}
			return c.operatingError(method, e)
		case e != nil && e.Code == CodeQueryLimitExceeded:
			// Refused before it ran: safe to send again, write or not.
			c.bucket.fill()
			return retry.RetryableError(err)
		case isWrite(method):
			// A write that met a fault may have been applied: never resend it
			// blindly; the caller verifies (add_chat_users reads the membership).
			return err
		case IsTransient(err):
			return retry.RetryableError(err)
		}
		var te *TransportError
		if errors.As(err, &te) {
			return retry.RetryableError(err)
		}
		return err
	})
	var te *TransportError
	if errors.As(err, &te) {
		te.Attempts = attempt
	}
	return err
}

// operatingWindow is the portal's accounting window for a method's execution
// time: no block outlasts it, so a reset further out is not believed, and the
// method is probed again when the window has passed.
const operatingWindow = 10 * time.Minute

// pause remembers that method may not run until reset (OPERATION_TIME_LIMIT
// applies to one method; the others carry on).
func (c *Client) pause(method string, reset time.Time) {
	if reset.IsZero() {
		return
	}
	c.pauses.pause(method, capReset(reset))
}

func capReset(reset time.Time) time.Time {
	if limit := time.Now().Add(operatingWindow); reset.After(limit) {
		return limit
	}
	return reset
}

func (c *Client) pausedUntil(method string) time.Time {
	return c.pauses.pausedUntil(method)
}

func (c *Client) waitOperating(ctx context.Context, method string, deadline time.Time) error {
	until := c.pausedUntil(method)
	wait := time.Until(until)
	if wait <= 0 {
		return nil
	}
	if until.After(deadline) {
		return c.operatingError(method, &Error{Method: method, Code: CodeOperationTimeLimit, HTTPStatus: 429, OperatingResetAt: until})
	}
	c.tellWait(ctx, slog.LevelWarn, fmt.Sprintf("bitrix24 %s: method time limit reached; waiting %s for it to reset", method, wait.Round(time.Second)))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (c *Client) operatingError(method string, e *Error) error {
	out := *e
	out.Method = method
	if !e.OperatingResetAt.IsZero() {
		out.Description = fmt.Sprintf("method time limit exceeded; it resets in %s (at %s)",
			time.Until(e.OperatingResetAt).Round(time.Second), e.OperatingResetAt.UTC().Format(time.RFC3339))
	}
	return &out
}

// tokenError carries the access token a failed request used, so that many
// requests failing at once share one refresh.
type tokenError struct {
	err   *Error
	token Secret
}

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func tokenOf(err error) Secret {
	var te *tokenError
	if errors.As(err, &te) {
		return te.token
	}
	return ""
}

// send makes one HTTP request: wait for the bucket, then post.
func (c *Client) send(ctx context.Context, method string, params Params, attempt int) (*Response, error) {
	release, err := c.bucket.acquire(ctx, nil, func(d time.Duration) { c.tellRateWait(ctx, method, d) })
	if err != nil {
		return nil, err
	}
	return c.post(ctx, method, params, attempt, release)
}

func (c *Client) tellRateWait(ctx context.Context, method string, d time.Duration) {
	// Debug in our log (a burst would flood it); the MCP client still gets a warning.
	c.tellWait(ctx, slog.LevelDebug, fmt.Sprintf("bitrix24 %s: waiting about %s for the portal's rate limit (%g requests/s)", method, d.Round(100*time.Millisecond), c.cfg.RateLimit))
}

// post makes one HTTP request with a bucket slot already held (release
// gives it back once the answer is in): POST, decode.
func (c *Client) post(ctx context.Context, method string, params Params, attempt int, release func(used bool)) (resp *Response, err error) {
	defer release(true)
	countRequest(ctx)
	began := time.Now()
	defer func() {
		if err == nil {
			c.lastOK.Store(time.Now().UnixNano())
			if c.parent != nil {
				c.parent.lastOK.Store(time.Now().UnixNano())
			}
		}
		c.cfg.Observer.PortalRequest(method, requestOutcome(ctx, err), time.Since(began))
	}()
	body := make(map[string]any, len(params)+1)
	for k, v := range params {
		body[k] = v
	}
	var endpoint string
	var token Secret
	if c.hook != nil {
		endpoint = c.hook.base + c.hook.code.Reveal() + "/" + method
	} else {
		endpoint, token = c.oauth.current()
		endpoint += method
		body["auth"] = token.Reveal()
	}
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("bitrix %s: encoding parameters: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(buf))
	if err != nil {
		return nil, &TransportError{Method: method, Msg: "building request failed"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	httpResp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		c.log.Debug("bitrix24 call", "method", method, "error", c.secrets.scrub(err.Error()), "duration", time.Since(began), "attempt", attempt)
		return nil, &TransportError{Method: method, Msg: c.secrets.scrub(unwrapURLError(err).Error())}
	}
	defer httpResp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(httpResp.Body, maxBody))
	c.log.Debug("bitrix24 call", "method", method, "status", httpResp.StatusCode, "duration", time.Since(began), "attempt", attempt, "bytes", len(raw))
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, &TransportError{Method: method, Msg: "reading answer: " + c.secrets.scrub(err.Error())}
	}
	resp, err = c.decode(method, httpResp, raw)
	if err != nil {
		if e, ok := AsError(err); ok && (e.Code == CodeExpiredToken || e.Code == CodeInvalidToken) {
			return nil, &tokenError{err: e, token: token}
		}
		return nil, err
	}
	if resp.Time.OperatingResetAt > 0 && resp.Time.Operating > 0 {
		// The limiter is active for this method; nothing to do until it refuses.
		c.log.Debug("bitrix24 method time", "method", method, "operating", resp.Time.Operating)
	}
	return resp, nil
}

// unwrapURLError drops *url.Error's wrapping, which quotes the request URL
// (and so the webhook code); the cause is scrubbed by the caller as well.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) decode(method string, httpResp *http.Response, raw []byte) (*Response, error) {
	status := httpResp.StatusCode
	var env envelope
	mediaType, _, _ := mime.ParseMediaType(httpResp.Header.Get("Content-Type"))
	err := json.Unmarshal(raw, &env)
	// sonet_group.* name some errors only by their description ("error": "").
	failed := env.Error != "" || env.Result == nil && env.ErrorDescription != ""
	if err != nil || (env.Result == nil && !failed) {
		kind := mediaType
		if kind == "" {
			kind = "no content type"
		}
		return nil, &Error{Method: method, Code: CodeBadResponse, HTTPStatus: status,
			Description: fmt.Sprintf("the portal answered HTTP %d with %d bytes of %s instead of a REST answer", status, len(raw), kind)}
	}
	if failed {
		e := &Error{Method: method, Code: env.Error, Description: c.secrets.scrub(env.ErrorDescription), HTTPStatus: status}
		if env.Time != nil && env.Time.OperatingResetAt > 0 {
			// Whole seconds: the block may last until the end of that second.
			e.OperatingResetAt = capReset(time.Unix(env.Time.OperatingResetAt+1, 0))
		}
		if e.Code == CodeOperationTimeLimit && e.OperatingResetAt.IsZero() {
			e.OperatingResetAt = c.pausedUntil(method)
		}
		return nil, e
	}
	resp := &Response{Result: env.Result, Total: env.Total, Next: env.Next}
	if env.Time != nil {
		resp.Time = *env.Time
	}
	return resp, nil
}
