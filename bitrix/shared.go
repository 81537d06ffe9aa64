package bitrix

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// SharedState is what several replicas of the server must agree on, kept
// outside any one process: the portal's request limit (per portal and
// source address, shared by everything that calls it), the methods paused by
// OPERATION_TIME_LIMIT, and the OAuth pair (Bitrix24 rotates it on every
// refresh, so only one replica may refresh). Package state has the Redis
// one. Without it a client keeps all of this in its own memory.
type SharedState interface {
	// String names the store for messages, never with a password.
	String() string
	// TryAcquire takes a slot of the portal's leaky bucket (draining rate a
	// second, holding burst), counted in flight until Release; or it says
	// how long to wait before trying again.
	TryAcquire(ctx context.Context, rate float64, burst int) (slot string, wait time.Duration, err error)
	// Release ends a slot; a used one joins the draining level.
	Release(ctx context.Context, slot string, rate float64, used bool) error
	// Fill marks the bucket full: the portal said it was.
	Fill(ctx context.Context, rate float64, burst int) error
	// Pause and PausedUntil share OPERATION_TIME_LIMIT pauses by method.
	Pause(ctx context.Context, method string, until time.Time) error
	PausedUntil(ctx context.Context, method string) (time.Time, error)
	// LockTokens takes the lock (with an expiry) under which one replica
	// refreshes the OAuth pair.
	LockTokens(ctx context.Context) (unlock func(), err error)
	// LoadTokens reads the stored pair (nil when none) and its version.
	LoadTokens(ctx context.Context) (pair []byte, version int64, err error)
	// StoreTokens writes a pair if the stored version is still version, so a
	// stale writer cannot overwrite a newer pair.
	StoreTokens(ctx context.Context, pair []byte, version int64) error
}

// CodeStateStore is ours: the shared state store did not answer. Calls fail
// fast rather than risk exceeding the portal's limit unseen.
const CodeStateStore = "STATE_STORE_UNAVAILABLE"

// stateTimeout bounds one round trip to the shared store.
const stateTimeout = 2 * time.Second

func storeError(s SharedState, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := AsError(err); ok {
		return e
	}
	return &Error{Method: "state", Code: CodeStateStore,
		Description: fmt.Sprintf("the shared state store (%s) did not answer (%v); calls fail until it is back", s, err)}
}

// sharedBucket is the limiter when replicas share the bucket: each attempt
// asks the store, and waits as long as the store says.
type sharedBucket struct {
	s     SharedState
	rate  float64
	burst int
}

func (b *sharedBucket) acquire(ctx context.Context, blocked func(), onLongWait func(time.Duration)) (func(used bool), error) {
	for {
		tctx, cancel := context.WithTimeout(ctx, stateTimeout)
		slot, wait, err := b.s.TryAcquire(tctx, b.rate, b.burst)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, storeError(b.s, err)
		}
		if slot != "" {
			var once sync.Once
			return func(used bool) {
				once.Do(func() {
					rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
					defer cancel()
					// A slot the store never hears about expires there on its own.
					_ = b.s.Release(rctx, slot, b.rate, used)
				})
			}, nil
		}
		if blocked != nil {
			blocked()
			blocked = nil
		}
		if onLongWait != nil && wait >= time.Second {
			onLongWait(wait)
		}
		onLongWait = nil
		// Replicas poll rather than queue: spread them so they do not step in time.
		wait = max(wait, 5*time.Millisecond)
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1))
		t := time.NewTimer(min(wait, time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		}
	}
}

func (b *sharedBucket) fill() {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	_ = b.s.Fill(ctx, b.rate, b.burst)
}

// pauses remembers OPERATION_TIME_LIMIT resets by method: in memory, or in
// the shared store.
type pauses interface {
	pause(method string, until time.Time)
	pausedUntil(method string) time.Time
}

type localPauses struct {
	mu     sync.Mutex
	paused map[string]time.Time // lower-case method -> reset time
}

func (p *localPauses) pause(method string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := strings.ToLower(method)
	if until.After(p.paused[key]) {
		p.paused[key] = until
	}
}

func (p *localPauses) pausedUntil(method string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused[strings.ToLower(method)]
}

type sharedPauses struct{ s SharedState }

func (p sharedPauses) pause(method string, until time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	_ = p.s.Pause(ctx, strings.ToLower(method), until)
}

// pausedUntil reads the shared pause; when the store is down the call's
// next step (the bucket) fails fast anyway.
func (p sharedPauses) pausedUntil(method string) time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	t, _ := p.s.PausedUntil(ctx, strings.ToLower(method))
	return t
}
