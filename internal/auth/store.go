package auth

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// The kinds of value.
const (
	kindClient  = "client"  // DCR registration, by client_id
	kindPending = "pending" // a sign-in between consent and Bitrix24's callback, by its id
	kindCode    = "code"    // our authorization code, by hash
	kindUsed    = "used"    // a code already exchanged, by hash: its reuse revokes the grant
	kindRefresh = "refresh" // our refresh token, by hash
	kindUser    = "user"    // a person's record (sealed), by Bitrix24 user id
)

// BoltStore is the embedded store: one bbolt file. bbolt is a single-file,
// transactional (ACID), pure-Go key/value store, maintained by etcd, with
// no server and no cgo; opening it maps the file instead of loading it, so
// start-up does not grow with the number of people signed in. It is one
// process's: the file is locked while open.
type BoltStore struct {
	db    *bolt.DB
	path  string
	locks sync.Map // name -> *sync.Mutex
	stop  chan struct{}
	swept sync.WaitGroup
	close sync.Once
}

var boltBucket = []byte("signin")

// OpenBolt opens (creating, mode 0600) the store file.
func OpenBolt(path string) (*BoltStore, error) {
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
	s := &BoltStore{db: db, path: path, stop: make(chan struct{})}
	// Expired values are dropped in the background, never holding up
	// start-up: reads skip them anyway.
	s.swept.Add(1)
	go s.sweeper()
	return s, nil
}

const sweepEvery = time.Hour

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

// A stored value starts with its expiry: 8 bytes of unix seconds, 0 = never.
func withExpiry(value []byte, ttl time.Duration) []byte {
	var exp int64
	if ttl > 0 {
		exp = time.Now().Add(ttl).Unix()
	}
	out := make([]byte, 8, 8+len(value))
	for i := range 8 {
		out[i] = byte(exp >> (56 - 8*i))
	}
	return append(out, value...)
}

func unexpired(stored []byte) []byte {
	if len(stored) < 8 {
		return nil
	}
	var exp int64
	for i := range 8 {
		exp = exp<<8 | int64(stored[i])
	}
	if exp != 0 && time.Now().Unix() >= exp {
		return nil
	}
	return append([]byte(nil), stored[8:]...)
}

func (s *BoltStore) Get(_ context.Context, kind, key string) (out []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		out = unexpired(tx.Bucket(boltBucket).Get(boltKey(kind, key)))
		return nil
	})
	return out, err
}

func (s *BoltStore) Put(_ context.Context, kind, key string, value []byte, ttl time.Duration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltBucket).Put(boltKey(kind, key), withExpiry(value, ttl))
	})
}

func (s *BoltStore) Take(_ context.Context, kind, key string) (out []byte, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		k := boltKey(kind, key)
		out = unexpired(b.Get(k))
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
			if unexpired(v) != nil {
				keys = append(keys, string(k[len(prefix):]))
			}
		}
		return nil
	})
	return keys, err
}

// Lock is a mutex of this process: the file is only ever open in one.
func (s *BoltStore) Lock(ctx context.Context, name string) (func(), error) {
	m, _ := s.locks.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	if mu.TryLock() {
		return mu.Unlock, nil
	}
	got := make(chan struct{})
	go func() {
		mu.Lock()
		close(got)
	}()
	select {
	case <-got:
		return mu.Unlock, nil
	case <-ctx.Done():
		go func() { <-got; mu.Unlock() }()
		return nil, context.Cause(ctx)
	}
}

// sweep drops expired values (pending sign-ins, codes, old refresh tokens).
func (s *BoltStore) sweep() {
	_ = s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if unexpired(v) == nil {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// sealer seals a person's record with AES-256-GCM under a key derived from
// MCP_STATE_KEY, bound to where it is stored: a copy of the store (a backup,
// a curious admin) holds no Bitrix24 token, and a record moved to another
// key does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(derive(key, "sign-in records"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead}, nil
}

func (s *sealer) seal(plain []byte, where string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(where))
}

// errSealedElsewhere: a record sealed under another MCP_STATE_KEY (the key
// was changed, which signs everyone out).
var errSealedElsewhere = errors.New("a sign-in record does not open with MCP_STATE_KEY: another key sealed it")

func (s *sealer) open(sealed []byte, where string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("a sealed sign-in record is damaged")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(where))
	if err != nil {
		return nil, errSealedElsewhere
	}
	return plain, nil
}

// derive makes a key for one purpose from MCP_STATE_KEY.
func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bitrix24-chat-mcp " + purpose))
	return m.Sum(nil)
}

// digest is how codes and refresh tokens are looked up: by hash, so the
// store never holds one that works.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomToken is 32 random bytes, URL-safe.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
