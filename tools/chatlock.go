package tools

import (
	"context"
	"sync"
)

// chatLocks lets one membership change of a chat at a time read, write
// and verify (membership.go), so that two calls adding the same person at
// once do not both read them missing, both send them and both find them
// there afterwards: the second reads them as a member. Entries live while
// a call holds or waits for them, so the table is bounded by the calls in
// flight.
type chatLocks struct {
	mu    sync.Mutex
	chats map[int]*chatLock
}

type chatLock struct {
	held chan struct{} // a token while someone holds the chat
	refs int           // holders and waiters
}

// lock waits for chat's turn, or for ctx to end; unlock gives it back.
func (l *chatLocks) lock(ctx context.Context, chat int) (unlock func(), err error) {
	l.mu.Lock()
	if l.chats == nil {
		l.chats = map[int]*chatLock{}
	}
	c := l.chats[chat]
	if c == nil {
		c = &chatLock{held: make(chan struct{}, 1)}
		l.chats[chat] = c
	}
	c.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if c.refs--; c.refs == 0 {
			delete(l.chats, chat)
		}
	}
	select {
	case c.held <- struct{}{}:
		return func() { <-c.held; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// size is how many chats have a holder or a waiter.
func (l *chatLocks) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.chats)
}
