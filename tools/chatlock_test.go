package tools

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A chat's lock is held by one call at a time, a waiter gives up with its
// context, and the table forgets a chat nobody holds or waits for.
func TestChatLocks(t *testing.T) {
	var l chatLocks
	unlock, err := l.lock(context.Background(), 2935)
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.lock(context.Background(), 2725)
	if err != nil {
		t.Fatal("another chat waits for nobody")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, 2935); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second holder of chat 2935: %v", err)
	}
	got := make(chan struct{})
	go func() {
		u, err := l.lock(context.Background(), 2935)
		if err == nil {
			u()
		}
		close(got)
	}()
	unlock()
	<-got
	other()
	if n := l.size(); n != 0 {
		t.Fatalf("%d chats left in the table", n)
	}
}
