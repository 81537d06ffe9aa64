package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Store keeps what sign-in needs between requests and restarts, and across
// replicas: client registrations, pending sign-ins, our codes, refresh
// tokens (by hash) and each person's record (their Bitrix24 pair, sealed).
// Values are opaque bytes; Server seals what is secret before it gets here.
// BoltStore is the one-file default; state.Redis is the replicas' store.
type Store interface {
	// Get returns the value, or nil when there is none or it expired.
	Get(ctx context.Context, kind, key string) ([]byte, error)
	// Put stores a value; ttl 0 keeps it until deleted.
	Put(ctx context.Context, kind, key string, value []byte, ttl time.Duration) error
	// Take returns the value and deletes it, atomically: codes work once.
	Take(ctx context.Context, kind, key string) ([]byte, error)
	Delete(ctx context.Context, kind, key string) error
	// Keys lists the keys of one kind (for the operator's signins command).
	Keys(ctx context.Context, kind string) ([]string, error)
	// Lock serializes changes of one person's record across every process
	// sharing the store.
	Lock(ctx context.Context, name string) (unlock func(), err error)
	String() string
}

// BoltStore is the embedded store: one bbolt file. bbolt is a single-file,
// transactional (ACID), pure-Go key/value store, maintained by etcd, with
// no server and no cgo; opening it maps the file instead of loading it, so
// start-up does not grow with the number of people signed in. It is one
// process's: the file is locked while open.
type BoltStore struct {
	db    *bolt.DB
	path  string
	now   func() time.Time
	mu    sync.Mutex
	locks map[string]*namedLock // held or awaited, so the table stays small
	stop  chan struct{}
	swept sync.WaitGroup
	close sync.Once
}

type namedLock struct {
	held chan struct{}
	refs int
}

// BoltOption sets up a BoltStore.
type BoltOption func(*BoltStore)

// WithClock makes the store judge expiry by now (tests move it).
func WithClock(now func() time.Time) BoltOption { return func(s *BoltStore) { s.now = now } }

var boltBucket = []byte("signin")

// OpenBolt opens (creating, mode 0600) the store file.
func OpenBolt(path string, opts ...BoltOption) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("the sign-in store %s is open in another process: give each server its own file, or share state through Redis (--state)", path)
		}
		return nil, fmt.Errorf("opening the sign-in store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	s := &BoltStore{db: db, path: path, now: time.Now, locks: map[string]*namedLock{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	// Expired values are dropped in the background, never holding up
	// start-up: reads skip them anyway.
	s.swept.Add(1)
	go s.sweeper()
	return s, nil
}

// sweepEvery: expired values are dropped often enough that abuse at the
// limits (a pending sign-in lives 10 minutes) keeps the file small.
const sweepEvery = time.Minute

func (s *BoltStore) sweeper() {
	defer s.swept.Done()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
			t.Reset(sweepEvery)
		}
	}
}

func (s *BoltStore) String() string { return s.path }

// Close stops the sweeper and closes the file.
func (s *BoltStore) Close() (err error) {
	s.close.Do(func() {
		close(s.stop)
		s.swept.Wait()
		err = s.db.Close()
	})
	return err
}

func boltKey(kind, key string) []byte { return []byte(kind + "\x00" + key) }

// A stored value starts with its expiry: 8 bytes of unix milliseconds, 0 = never.
func (s *BoltStore) withExpiry(value []byte, ttl time.Duration) []byte {
	var exp int64
	if ttl > 0 {
		exp = s.now().Add(ttl).UnixMilli()
	}
	out := make([]byte, 8, 8+len(value))
	for i := range 8 {
		out[i] = byte(exp >> (56 - 8*i))
	}
	return append(out, value...)
}

func (s *BoltStore) unexpired(stored []byte) []byte {
	if len(stored) < 8 {
		return nil
	}
	var exp int64
	for i := range 8 {
		exp = exp<<8 | int64(stored[i])
	}
	if exp != 0 && s.now().UnixMilli() >= exp {
		return nil
	}
	return append([]byte(nil), stored[8:]...)
}

func (s *BoltStore) Get(_ context.Context, kind, key string) (out []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		out = s.unexpired(tx.Bucket(boltBucket).Get(boltKey(kind, key)))
		return nil
	})
	return out, err
}

func (s *BoltStore) Put(_ context.Context, kind, key string, value []byte, ttl time.Duration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltBucket).Put(boltKey(kind, key), s.withExpiry(value, ttl))
	})
}

func (s *BoltStore) Take(_ context.Context, kind, key string) (out []byte, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		k := boltKey(kind, key)
		out = s.unexpired(b.Get(k))
		return b.Delete(k)
	})
	return out, err
}

func (s *BoltStore) Delete(_ context.Context, kind, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Delete(boltKey(kind, key)) })
}

func (s *BoltStore) Keys(_ context.Context, kind string) (keys []string, err error) {
	prefix := []byte(kind + "\x00")
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if s.unexpired(v) != nil {
				keys = append(keys, string(k[len(prefix):]))
			}
		}
		return nil
	})
	return keys, err
}

// Lock is a mutex of this process (the file is only ever open in one); a
// name's entry lives while it is held or awaited.
func (s *BoltStore) Lock(ctx context.Context, name string) (func(), error) {
	s.mu.Lock()
	l := s.locks[name]
	if l == nil {
		l = &namedLock{held: make(chan struct{}, 1)}
		s.locks[name] = l
	}
	l.refs++
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, name)
		}
	}
	select {
	case l.held <- struct{}{}:
		return func() { <-l.held; release() }, nil
	case <-ctx.Done():
		release()
		return nil, context.Cause(ctx)
	}
}

// lockCount is how many names are held or awaited.
func (s *BoltStore) lockCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.locks)
}

// sweep drops expired values (pending sign-ins, codes, old refresh tokens).
func (s *BoltStore) sweep() {
	_ = s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if s.unexpired(v) == nil {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
