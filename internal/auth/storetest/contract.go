// Package storetest is the contract every sign-in store (auth.Store) keeps,
// run against each of them by its own tests: the bbolt file (package auth)
// and Redis (package state).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
)

// Run checks the contract on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Run("values", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), context.Background()
		if v, err := s.Get(ctx, "k", "missing"); v != nil || err != nil {
			t.Fatalf("a missing value: %q %v", v, err)
		}
		if err := s.Put(ctx, "k", "a", []byte("one"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "other", "a", []byte("kinds apart"), 0); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Get(ctx, "k", "a"); string(v) != "one" {
			t.Fatalf("Get after Put: %q", v)
		}
		_ = s.Put(ctx, "k", "a", []byte("two"), 0)
		if v, _ := s.Get(ctx, "k", "a"); string(v) != "two" {
			t.Fatalf("Put replaces: %q", v)
		}
		if err := s.Delete(ctx, "k", "a"); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Get(ctx, "k", "a"); v != nil {
			t.Fatalf("after Delete: %q", v)
		}
		if v, _ := s.Get(ctx, "other", "a"); string(v) != "kinds apart" {
			t.Fatalf("another kind's value with the same key: %q", v)
		}
		if err := s.Delete(ctx, "k", "never"); err != nil {
			t.Fatalf("deleting what is not there: %v", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), context.Background()
		_ = s.Put(ctx, "k", "short", []byte("x"), 1200*time.Millisecond)
		_ = s.Put(ctx, "k", "long", []byte("y"), time.Hour)
		_ = s.Put(ctx, "k", "kept", []byte("z"), 0)
		if keys, _ := s.Keys(ctx, "k"); len(keys) != 3 {
			t.Fatalf("keys before expiry: %v", keys)
		}
		time.Sleep(2100 * time.Millisecond)
		if v, _ := s.Get(ctx, "k", "short"); v != nil {
			t.Fatalf("an expired value: %q", v)
		}
		if v, _ := s.Take(ctx, "k", "short"); v != nil {
			t.Fatalf("an expired value taken: %q", v)
		}
		keys, err := s.Keys(ctx, "k")
		slices.Sort(keys)
		if err != nil || !slices.Equal(keys, []string{"kept", "long"}) {
			t.Fatalf("Keys skips expired values: %v %v", keys, err)
		}
	})
	t.Run("take once", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), context.Background()
		for round := range 5 {
			key := fmt.Sprint("code", round)
			_ = s.Put(ctx, "code", key, []byte("v"), time.Minute)
			var got atomic.Int32
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if v, err := s.Take(ctx, "code", key); err == nil && v != nil {
						got.Add(1)
					}
				}()
			}
			wg.Wait()
			if got.Load() != 1 {
				t.Fatalf("a value taken %d times by 20 at once", got.Load())
			}
		}
	})
	t.Run("lock", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), context.Background()
		unlock, err := s.Lock(ctx, "user:1")
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.Lock(ctx, "user:2")
		if err != nil {
			t.Fatal("another name waits for nobody:", err)
		}
		other()
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := s.Lock(short, "user:1"); err == nil || !errors.Is(err, context.DeadlineExceeded) && time.Since(start) > 2*time.Second {
			t.Fatalf("a held lock with a context that ends: %v after %s", err, time.Since(start))
		}
		var inside, most atomic.Int32
		unlock()
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u, err := s.Lock(ctx, "user:1")
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n > most.Load() {
					most.Store(n)
				}
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				u()
			}()
		}
		wg.Wait()
		if most.Load() != 1 {
			t.Fatalf("%d holders at once", most.Load())
		}
	})
}
