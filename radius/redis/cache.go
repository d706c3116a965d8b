// Package redis is the Redis adapter of the radius domain: the account cache and the
// usage counters read on every Access-Request (GetAuth reads both in one round trip),
// and the live session index fed by accounting (Live). Accounts are stored as a compact
// versioned binary value, and concurrent requests are gathered into pipelines by a
// small batcher, so that many requests in flight share one round trip.
package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

var _ radius.AccountCache = (*Cache)(nil)

// Options tune a Cache. Zero values take the defaults.
type Options struct {
	// TTL of a cached account (default 1h). Changes invalidate entries explicitly;
	// the TTL bounds how long a missed invalidation can last.
	TTL time.Duration
	// NegativeTTL of a "no such account" marker (default 10s), short so that a
	// new account works at once even if nobody invalidated the marker.
	NegativeTTL time.Duration
	// UsageTTL of a usage hash (default 10m). Accounting adds to it without refreshing
	// the TTL, and Postgres, the source of truth, refills it once it expired: the TTL
	// bounds any drift.
	UsageTTL time.Duration
	// Loops is the number of batching loops Start runs (default 1: one loop makes bigger
	// pipelines, and measured faster on two cores than two loops).
	Loops int
}

// Cache is the Redis account cache and usage counters the RADIUS path reads. It is safe
// for concurrent use. Start its batching loops with Start; without them every read is
// its own round trip.
type Cache struct {
	rdb      redis.UniversalClient
	keys     keyspace
	ttl      time.Duration
	negTTL   time.Duration
	usageTTL time.Duration
	b        batcher
}

// New returns a Cache whose keys start with prefix (e.g. "tollgate:"). The caller keeps
// ownership of rdb and closes it after the Cache.
func New(rdb redis.UniversalClient, prefix string, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = time.Hour
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 10 * time.Second
	}
	if opts.UsageTTL <= 0 {
		opts.UsageTTL = 10 * time.Minute
	}
	return &Cache{
		rdb:      rdb,
		keys:     keyspace(prefix),
		ttl:      opts.TTL,
		negTTL:   opts.NegativeTTL,
		usageTTL: opts.UsageTTL,
		b:        newBatcher(rdb, opts.Loops),
	}
}

// Start runs the batching loops. Calling it again, or after Close, does nothing.
func (c *Cache) Start() { c.b.start() }

// Close stops the batching loops after they answered every queued request; later reads
// are plain round trips. It does not close the Redis client. Calling it twice is safe.
func (c *Cache) Close() { c.b.close() }

// GetAccount returns the cached account (password sealed), an ENOTFOUND error for a
// negative entry, or radius.ErrCacheMiss, also for a value it cannot decode.
func (c *Cache) GetAccount(ctx context.Context, key string) (*radius.Account, error) {
	val, err := c.get(ctx, c.keys.account(key))
	return readAccount(key, val, err)
}

// readAccount interprets the reply to a GET of key's account.
func readAccount(key, val string, err error) (*radius.Account, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return nil, radius.ErrCacheMiss
	case err != nil:
		return nil, fmt.Errorf("redis: get account %q: %w", key, err)
	case len(val) == 1 && val[0] == formatNone:
		return nil, radius.Errorf(radius.ENOTFOUND, "account %q not found", key)
	}
	a := new(radius.Account)
	if err := decodeAccount(val, a); err != nil {
		return nil, fmt.Errorf("redis: decode account %q: %v: %w", key, err, radius.ErrCacheMiss)
	}
	return a, nil
}

// SetAccount caches a under key, or a negative marker with the shorter TTL when a is nil.
func (c *Cache) SetAccount(ctx context.Context, key string, a *radius.Account) error {
	val, ttl := negativeValue, c.negTTL
	if a != nil {
		val, ttl = appendAccount(make([]byte, 0, 256), a), c.ttl
	}
	if err := c.rdb.Set(ctx, c.keys.account(key), val, ttl).Err(); err != nil {
		return fmt.Errorf("redis: set account %q: %w", key, err)
	}
	return nil
}

// DeleteAccounts drops keys in one round trip. It pipelines one DEL per key rather than
// sending one multi-key DEL, which a Redis Cluster rejects across hash slots.
func (c *Cache) DeleteAccounts(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, c.keys.account(k))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: delete accounts %q: %w", keys, err)
	}
	return nil
}

// get returns the value of key, through a batching loop when they run.
func (c *Cache) get(ctx context.Context, key string) (string, error) {
	r := newRequest(opGet)
	r.key = key
	if err := c.b.do(ctx, r); err != nil {
		return "", err
	}
	val, err := r.get.Result()
	r.release()
	return val, err
}
