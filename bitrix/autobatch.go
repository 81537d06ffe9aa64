package bitrix

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Opportunistic batching. When calls queue behind the rate limiter, the call
// that gets the next slot takes up to 50 queued calls along and sends them as
// one batch request (a batch costs one unit of the portal's limit); each
// result or error goes back to its own caller. A call that finds no queue
// goes out alone, exactly as it would without batching.
//
// Only reads ride along. A write (im.chat.user.add) always goes alone, so a
// batch that failed halfway can be re-sent whole without sending a write
// twice.

// autoBatchable are the read methods that may share a batch.
var autoBatchable = map[string]bool{
	strings.ToLower(MethodDialogUsersList): true,
	strings.ToLower(MethodBotChatUserList): true,
	strings.ToLower(MethodBotV2ChatUsers):  true,
	strings.ToLower(MethodBotV2ChatGet):    true,
	"scope":                                true,
	"user.current":                         true,
	strings.ToLower(MethodSearchUsers):     true,
	strings.ToLower(MethodUserSearch):      true,
	strings.ToLower(MethodUsersByID):       true,
	strings.ToLower(MethodSearchChats):     true,
	strings.ToLower(MethodRecent):          true,
	strings.ToLower(MethodDialogGet):       true,
	MethodDepartments:                      true,
	MethodDepartmentManagers:               true,
	MethodUserGet:                          true,
	MethodWorkgroups:                       true,
	MethodWorkgroupMembers:                 true,
}

// isWrite reports a method that changes the portal. Only reads are retried
// after a fault and only reads may share a batch; an unknown method counts
// as a write.
func isWrite(method string) bool {
	m := strings.ToLower(method)
	return !autoBatchable[m] && m != "imbot.bot.list" && m != MethodBatch
}

type outcome struct {
	resp *Response
	err  error
}

// queued is one call waiting for the bucket.
type queued struct {
	method      string
	params      Params
	done        chan outcome // buffered: the carrier never blocks on it
	stopWaiting context.CancelCauseFunc
	waiting     bool // it met a full bucket: only such calls are taken along
	taken       bool // guarded by batcher.mu
}

type batcher struct {
	mu    sync.Mutex
	queue []*queued
}

// errCarried stops a queued call's wait for the bucket: another call took it along.
var errCarried = errors.New("carried by another call's batch")

// carriedError is a whole-batch failure that the carrier already retried:
// the callers it carried must not retry it again.
type carriedError struct{ err error }

func (e *carriedError) Error() string { return e.err.Error() }
func (e *carriedError) Unwrap() error { return e.err }

// callQueued is one attempt of a batchable call.
func (c *Client) callQueued(ctx context.Context, method string, params Params, attempt int) (*Response, error) {
	acqCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	q := &queued{method: method, params: params, done: make(chan outcome, 1), stopWaiting: stop}
	c.batch.mu.Lock()
	c.batch.queue = append(c.batch.queue, q)
	c.batch.mu.Unlock()

	blocked := func() {
		c.batch.mu.Lock()
		q.waiting = true
		c.batch.mu.Unlock()
	}
	release, err := c.bucket.acquire(acqCtx, blocked, func(d time.Duration) { c.tellRateWait(ctx, method, d) })
	c.batch.mu.Lock()
	if err != nil || q.taken {
		if !q.taken { // our caller gave up, or the bucket failed, before anyone took us
			c.batch.remove(q)
			c.batch.mu.Unlock()
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, err
		}
		c.batch.mu.Unlock()
		if release != nil {
			release(false) // we won a slot just as we were taken: give it back
		}
		select {
		case out := <-q.done:
			return out.resp, out.err
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	group := c.batch.takeLocked(q)
	c.batch.mu.Unlock()

	if len(group) == 1 {
		return c.post(ctx, method, params, attempt, release)
	}
	// The batch runs for every caller in it, so one caller's cancellation
	// does not cut the others off; each caller still returns on its own ctx.
	go c.carry(context.WithoutCancel(ctx), group, release)
	select {
	case out := <-q.done:
		return out.resp, out.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// takeLocked marks q and up to 49 more queued calls (oldest first) as taken.
func (b *batcher) takeLocked(q *queued) []*queued {
	group := []*queued{q}
	q.taken = true
	rest := b.queue[:0]
	for _, other := range b.queue {
		switch {
		case other == q:
		case other.waiting && len(group) < MaxBatchCommands:
			other.taken = true
			other.stopWaiting(errCarried)
			group = append(group, other)
		default:
			rest = append(rest, other)
		}
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	return group
}

func (b *batcher) remove(q *queued) {
	for i, other := range b.queue {
		if other == q {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return
		}
	}
}

// carry sends a group as one batch, retried as a whole under the usual
// policy (all reads, so that is safe), and hands each caller its answer.
func (c *Client) carry(ctx context.Context, group []*queued, release func(used bool)) {
	cmds := make([]BatchCommand, len(group))
	for i, q := range group {
		cmds[i] = BatchCommand{Key: fmt.Sprintf("c%d", i), Method: q.method, Params: q.params}
	}
	params, err := batchParams(cmds, false)
	var res *BatchResult
	if err == nil {
		first := true
		err = c.withRetry(ctx, MethodBatch, func(ctx context.Context, attempt int) error {
			rel := release
			if !first {
				var aerr error
				if rel, aerr = c.bucket.acquire(ctx, nil, nil); aerr != nil {
					return aerr
				}
			}
			first = false
			resp, err := c.post(ctx, MethodBatch, params, attempt, rel)
			if err != nil {
				return err
			}
			res, err = c.decodeBatch(resp.Result)
			return err
		})
	} else {
		release(false)
	}
	c.log.Debug("bitrix24 batch of queued calls", "commands", len(group), "error", err)
	for i, q := range group {
		key := cmds[i].Key
		switch {
		case err != nil:
			q.done <- outcome{err: &carriedError{err}}
		case res.Errors[key] != nil:
			e := *res.Errors[key]
			e.Method = q.method
			q.done <- outcome{err: &e}
		case res.Results[key] != nil:
			q.done <- outcome{resp: res.Results[key]}
		default:
			q.done <- outcome{err: &Error{Method: q.method, Code: CodeBadResponse, Description: "the batch answer has no result for this call"}}
		}
	}
}
