package bitrix

import (
	"context"
	"math"
	"sync"
	"time"
)

// leakyBucket mirrors the portal's request-intensity limiter on our side, so
// that a burst of calls never meets QUERY_LIMIT_EXCEEDED in the first place.
// The portal adds one unit per request when the request ARRIVES and drains
// rate units a second; it refuses a request that would overflow burst.
//
// We cannot see arrival times, only that a request arrived somewhere between
// sending it and reading its answer. So the model is conservative: a request
// in flight counts as a full unit, and an answered one is added to the
// draining level when its answer comes back (the latest it can have arrived).
// That level is never below the portal's, whatever the network does.
type leakyBucket struct {
	mu       sync.Mutex
	rate     float64 // units drained per second
	burst    float64
	level    float64 // answered requests, draining
	inflight int
	waiting  int
	last     time.Time
	wake     chan struct{} // closed and replaced when a unit frees up
}

func newLeakyBucket(rate float64, burst int) *leakyBucket {
	return &leakyBucket{rate: rate, burst: float64(burst), wake: make(chan struct{})}
}

func (b *leakyBucket) drainLocked(now time.Time) {
	if !b.last.IsZero() {
		b.level = math.Max(0, b.level-now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

// limiter is the client's side of the portal's request limit: the in-process
// leakyBucket, or sharedBucket when replicas share one (SharedState).
type limiter interface {
	// acquire blocks until a request may go out (or ctx ends). The caller
	// must call release once: release(true) when the request was sent and
	// its answer (or failure) is in, release(false) to give the slot back
	// unused. blocked, when not nil, is told once that the caller has to
	// wait; onLongWait, when not nil, hears once about a wait of a second or
	// more.
	acquire(ctx context.Context, blocked func(), onLongWait func(time.Duration)) (release func(used bool), err error)
	// fill marks the bucket full: the portal said so.
	fill()
}

func (b *leakyBucket) acquire(ctx context.Context, blocked func(), onLongWait func(time.Duration)) (release func(used bool), err error) {
	b.mu.Lock()
	b.waiting++
	defer func() {
		b.waiting--
		b.mu.Unlock()
	}()
	for {
		b.drainLocked(time.Now())
		over := b.level + float64(b.inflight) + 1 - b.burst
		if over <= 1e-9 {
			b.inflight++
			return b.done, nil
		}
		// Draining frees a unit in over/rate; an answer may free one sooner.
		wait := time.Duration(over / b.rate * float64(time.Second))
		wake := b.wake
		var expected time.Duration
		if onLongWait != nil {
			// Callers queued ahead of us go first: about one unit each.
			expected = time.Duration((over + float64(b.waiting-1)) / b.rate * float64(time.Second))
		}
		b.mu.Unlock()
		if blocked != nil {
			blocked()
			blocked = nil
		}
		if expected >= time.Second {
			onLongWait(expected)
		}
		onLongWait = nil
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-t.C:
		case <-wake:
		case <-ctx.Done():
			t.Stop()
			b.mu.Lock()
			return nil, context.Cause(ctx)
		}
		t.Stop()
		b.mu.Lock()
	}
}

// done ends a slot: a sent request joins the draining level.
func (b *leakyBucket) done(used bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainLocked(time.Now())
	b.inflight--
	if used {
		b.level++
	}
	close(b.wake)
	b.wake = make(chan struct{})
}

// fill marks the bucket full: the portal said it was, so other clients share
// it with us and we must slow down as well.
func (b *leakyBucket) fill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainLocked(time.Now())
	b.level = math.Max(b.level, b.burst-float64(b.inflight))
}
