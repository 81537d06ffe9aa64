// Package state keeps what replicas of the server share in Redis: the
// portal's request limit (a leaky bucket with in-flight accounting), the
// methods paused by OPERATION_TIME_LIMIT, and the OAuth pair under a lock.
// It implements bitrix.SharedState; each step is one Lua script, so it is
// atomic, and every time comes from the Redis server's clock, so replicas'
// clocks need not agree.
package state

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the shared state of one portal's replicas.
type Redis struct {
	rdb    *redis.Client
	prefix string      // keys of this portal: "b24mcp:{portal}:" (one hash slot)
	name   string      // redis://host:port/db, never the password
	aead   cipher.AEAD // seals the OAuth pair (seal.go); nil: kept as is
}

const (
	slotTTL = 2 * time.Minute // an in-flight slot a replica never released expires
	lockTTL = 60 * time.Second
	keyTTL  = time.Hour // the bucket's keys, refreshed on use
)

// NewRedis connects lazily to url (redis:// or rediss://) for the portal
// named portal. It makes no network call.
func NewRedis(url, portal string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("not a redis:// URL: %v", strings.ReplaceAll(err.Error(), url, "…"))
	}
	// Fail fast: a call waits on the store, and a store that does not answer
	// must not stall every tool call behind it.
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	opt.MaxRetries = 1
	scheme := "redis"
	if opt.TLSConfig != nil {
		scheme = "rediss"
	}
	return &Redis{rdb: redis.NewClient(opt), prefix: "b24mcp:{" + portal + "}:",
		name: fmt.Sprintf("%s://%s/%d", scheme, opt.Addr, opt.DB)}, nil
}

// String names the store without its password.
func (r *Redis) String() string { return r.name }

// Ping reports whether the store answers.
func (r *Redis) Ping(ctx context.Context) error { return r.rdb.Ping(ctx).Err() }

// Close closes the connections.
func (r *Redis) Close() error { return r.rdb.Close() }

func (r *Redis) key(name string) string { return r.prefix + name }

// nowMS in the scripts: the Redis server's clock, in milliseconds.
const nowMS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// drain brings the bucket's level down to now (KEYS[1] the bucket hash).
const drain = `local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or tostring(now))
level = math.max(0, level - (now - last) / 1000 * rate)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[2])
`

const save = `redis.call('HSET', KEYS[1], 'level', tostring(level), 'last', tostring(now))
redis.call('PEXPIRE', KEYS[1], ` + "3600000" + `)
`

// acquireScript: a slot when level + in flight + 1 fits the burst, else the
// milliseconds until it would. ARGV: rate, burst, slot id, slot TTL in ms.
var acquireScript = redis.NewScript(nowMS + `local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
` + drain + save + `local over = level + inflight + 1 - burst
if over <= 0.000000001 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[2], 3600000)
  return 0
end
return math.max(1, math.ceil(over / rate * 1000))
`)

// releaseScript ends a slot; a used one joins the draining level (even if
// it expired meanwhile: the request did reach the portal). ARGV: rate, slot, used.
var releaseScript = redis.NewScript(nowMS + `local rate = tonumber(ARGV[1])
` + drain + `redis.call('ZREM', KEYS[2], ARGV[2])
if ARGV[3] == '1' then level = level + 1 end
` + save + `return 1
`)

// fillScript marks the bucket full. ARGV: rate, burst.
var fillScript = redis.NewScript(nowMS + `local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
` + drain + `level = math.max(level, burst - inflight)
` + save + `return 1
`)

func (r *Redis) bucketKeys() []string { return []string{r.key("bucket"), r.key("inflight")} }

// TryAcquire implements bitrix.SharedState.
func (r *Redis) TryAcquire(ctx context.Context, rate float64, burst int) (string, time.Duration, error) {
	slot := randomID()
	wait, err := acquireScript.Run(ctx, r.rdb, r.bucketKeys(), rate, burst, slot, slotTTL.Milliseconds()).Int64()
	if err != nil {
		return "", 0, err
	}
	if wait > 0 {
		return "", time.Duration(wait) * time.Millisecond, nil
	}
	return slot, 0, nil
}

// Release implements bitrix.SharedState.
func (r *Redis) Release(ctx context.Context, slot string, rate float64, used bool) error {
	u := "0"
	if used {
		u = "1"
	}
	return releaseScript.Run(ctx, r.rdb, r.bucketKeys(), rate, slot, u).Err()
}

// Fill implements bitrix.SharedState.
func (r *Redis) Fill(ctx context.Context, rate float64, burst int) error {
	return fillScript.Run(ctx, r.rdb, r.bucketKeys(), rate, burst).Err()
}

// pauseScript keeps the later of two resets, expiring with it. ARGV: unix ms.
var pauseScript = redis.NewScript(`local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1]) end
return 1
`)

// Pause implements bitrix.SharedState.
func (r *Redis) Pause(ctx context.Context, method string, until time.Time) error {
	return pauseScript.Run(ctx, r.rdb, []string{r.key("pause:" + method)}, until.UnixMilli()).Err()
}

// PausedUntil implements bitrix.SharedState.
func (r *Redis) PausedUntil(ctx context.Context, method string) (time.Time, error) {
	ms, err := r.rdb.Get(ctx, r.key("pause:"+method)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

var unlockScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// LockTokens implements bitrix.SharedState: SET NX with an expiry, so a
// replica that dies holding it does not block the others for long.
func (r *Redis) LockTokens(ctx context.Context) (func(), error) {
	return r.lock(ctx, r.key("oauth:lock"))
}

func (r *Redis) lock(ctx context.Context, key string) (func(), error) {
	owner := randomID()
	for {
		ok, err := r.rdb.SetNX(ctx, key, owner, lockTTL).Result()
		if err != nil {
			return nil, err
		}
		if ok {
			return func() {
				uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = unlockScript.Run(uctx, r.rdb, []string{key}, owner).Err()
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// LoadTokens implements bitrix.SharedState.
func (r *Redis) LoadTokens(ctx context.Context) ([]byte, int64, error) {
	vals, err := r.rdb.HMGet(ctx, r.key("oauth"), "pair", "version").Result()
	if err != nil {
		return nil, 0, err
	}
	var version int64
	if v, ok := vals[1].(string); ok {
		version, _ = strconv.ParseInt(v, 10, 64)
	}
	pair, ok := vals[0].(string)
	if !ok {
		return nil, version, nil
	}
	plain, err := r.open([]byte(pair))
	return plain, version, err
}

// storeScript writes the pair only over the version the writer read.
var storeScript = redis.NewScript(`local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[2]) then return redis.error_reply('STALE the stored pair changed since it was read') end
redis.call('HSET', KEYS[1], 'pair', ARGV[1], 'version', v + 1)
return v + 1
`)

// StoreTokens implements bitrix.SharedState.
func (r *Redis) StoreTokens(ctx context.Context, pair []byte, version int64) error {
	sealed, err := r.seal(pair)
	if err != nil {
		return err
	}
	return storeScript.Run(ctx, r.rdb, []string{r.key("oauth")}, sealed, version).Err()
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SharedKey is a random 32-byte key, named name, that every replica of the
// portal reads alike: the first to ask makes it (SET NX), the rest read it.
// It never expires; deleting it only makes outstanding confirmations ask
// again.
func (r *Redis) SharedKey(ctx context.Context, name string) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	k := r.key("key:" + name)
	if err := r.rdb.SetNX(ctx, k, hex.EncodeToString(b), 0).Err(); err != nil {
		return nil, fmt.Errorf("the shared state store (%s) did not answer: %w", r, err)
	}
	v, err := r.rdb.Get(ctx, k).Result()
	if err != nil {
		return nil, fmt.Errorf("the shared state store (%s) did not answer: %w", r, err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("the shared key %s in %s is not 32 hex-encoded bytes", name, r)
	}
	return key, nil
}
