package bitrix

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Observer hears what the client does, for metrics. Its methods are called
// on the request path: they must be quick and must not block. method is
// one the client calls (a fixed set); outcome is "ok", a Bitrix24 error
// code, "transport_error" or "cancelled".
type Observer interface {
	PortalRequest(method, outcome string, took time.Duration)
	// RateWait is how long a request waited for the rate limit.
	RateWait(took time.Duration)
	// Refresh is one OAuth refresh and its outcome (nil: refreshed).
	Refresh(err error)
	// StateError is a shared state store call that failed.
	StateError()
}

type nopObserver struct{}

func (nopObserver) PortalRequest(string, string, time.Duration) {}
func (nopObserver) RateWait(time.Duration)                      {}
func (nopObserver) Refresh(error)                               {}
func (nopObserver) StateError()                                 {}

// requestOutcome names how a request ended, for an Observer.
func requestOutcome(ctx context.Context, err error) string {
	var te *TransportError
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case errors.As(err, &te):
		return "transport_error"
	}
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return "error"
}

type requestCountKey struct{}

// CountRequests returns a context under which every HTTP request the client
// sends for the caller is counted in n (a tool call's "portal requests").
func CountRequests(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, requestCountKey{}, n), n
}

func countRequest(ctx context.Context) {
	if n, ok := ctx.Value(requestCountKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

// observedLimiter times each wait for the rate limit.
type observedLimiter struct {
	limiter
	obs Observer
}

func (l observedLimiter) acquire(ctx context.Context, blocked func(), onLongWait func(time.Duration)) (func(used bool), error) {
	began := time.Now()
	release, err := l.limiter.acquire(ctx, blocked, onLongWait)
	if err == nil {
		l.obs.RateWait(time.Since(began))
	}
	return release, err
}

// observedState counts the shared store's failures.
type observedState struct {
	SharedState
	obs Observer
}

func (s observedState) seen(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil {
		s.obs.StateError()
	}
	return err
}

func (s observedState) TryAcquire(ctx context.Context, rate float64, burst int) (string, time.Duration, error) {
	slot, wait, err := s.SharedState.TryAcquire(ctx, rate, burst)
	return slot, wait, s.seen(ctx, err)
}

func (s observedState) Release(ctx context.Context, slot string, rate float64, used bool) error {
	return s.seen(ctx, s.SharedState.Release(ctx, slot, rate, used))
}

func (s observedState) Fill(ctx context.Context, rate float64, burst int) error {
	return s.seen(ctx, s.SharedState.Fill(ctx, rate, burst))
}

func (s observedState) Pause(ctx context.Context, method string, until time.Time) error {
	return s.seen(ctx, s.SharedState.Pause(ctx, method, until))
}

func (s observedState) PausedUntil(ctx context.Context, method string) (time.Time, error) {
	t, err := s.SharedState.PausedUntil(ctx, method)
	return t, s.seen(ctx, err)
}

func (s observedState) LockTokens(ctx context.Context) (func(), error) {
	unlock, err := s.SharedState.LockTokens(ctx)
	return unlock, s.seen(ctx, err)
}

func (s observedState) LoadTokens(ctx context.Context) ([]byte, int64, error) {
	pair, v, err := s.SharedState.LoadTokens(ctx)
	return pair, v, s.seen(ctx, err)
}

func (s observedState) StoreTokens(ctx context.Context, pair []byte, version int64) error {
	return s.seen(ctx, s.SharedState.StoreTokens(ctx, pair, version))
}

// BucketLevel is how full this process's view of the portal's bucket is, in
// requests (answered and draining, plus in flight), and the burst it holds;
// ok is false when replicas share the bucket (it lives in the store).
func (c *Client) BucketLevel() (level, burst float64, ok bool) {
	b, isLocal := unobserved(c.bucket).(*leakyBucket)
	if !isLocal {
		return 0, 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainLocked(time.Now())
	return b.level + float64(b.inflight), b.burst, true
}

func unobserved(l limiter) limiter {
	if o, ok := l.(observedLimiter); ok {
		return o.limiter
	}
	return l
}
