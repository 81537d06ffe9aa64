package state

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is also the sign-in store of replicas (auth.Store): registrations,
// pending sign-ins, codes, refresh-token hashes and each person's sealed
// record, under "signin:" in the portal's keys. Values come sealed where
// they are secret; codes and pending sign-ins expire with Redis's TTL.

func (r *Redis) signinKey(kind, key string) string { return r.key("signin:" + kind + ":" + key) }

// Get implements auth.Store.
func (r *Redis) Get(ctx context.Context, kind, key string) ([]byte, error) {
	v, err := r.rdb.Get(ctx, r.signinKey(kind, key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

// Put implements auth.Store.
func (r *Redis) Put(ctx context.Context, kind, key string, value []byte, ttl time.Duration) error {
	return r.rdb.Set(ctx, r.signinKey(kind, key), value, ttl).Err()
}

// Take implements auth.Store: GETDEL, so a code is exchanged once however
// many replicas are asked at the same moment.
func (r *Redis) Take(ctx context.Context, kind, key string) ([]byte, error) {
	v, err := r.rdb.GetDel(ctx, r.signinKey(kind, key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

// Delete implements auth.Store.
func (r *Redis) Delete(ctx context.Context, kind, key string) error {
	return r.rdb.Del(ctx, r.signinKey(kind, key)).Err()
}

// Keys implements auth.Store with SCAN (never KEYS, which blocks Redis).
func (r *Redis) Keys(ctx context.Context, kind string) ([]string, error) {
	prefix := r.signinKey(kind, "")
	var keys []string
	iter := r.rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, strings.TrimPrefix(iter.Val(), prefix))
	}
	return keys, iter.Err()
}

// Lock implements auth.Store: the lock a person's record changes and their
// Bitrix24 pair refreshes under, whichever replica runs them.
func (r *Redis) Lock(ctx context.Context, name string) (func(), error) {
	return r.lock(ctx, r.signinKey("lock", name))
}
