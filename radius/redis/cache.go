// Package redis is the Redis adapter of the radius domain: the account cache and the
// usage counters read on every Access-Request (GetAuth reads both in one round trip),
// and the live session index fed by accounting (Live). Accounts are stored as a compact
// versioned binary value, and concurrent requests are gathered into pipelines by a
// small batcher, so that many requests in flight share one round trip.
package redis

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
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
	// CodeKey keys the hash that names account entries: radius.AccountKey(u) is stored
	// under HMAC(CodeKey, u), so no user name, voucher code or MAC appears in a key. It
	// must be the key of radius.HashVoucherCode (seal.Sealer.Key), so that
	// radius.CodeKey(code hash) names the same entry as the code. Default: a random key
	// (entries are then private to this process).
	CodeKey []byte
	// RecordKey authenticates every stored account and negative marker (HMAC-SHA256
	// over the entry's name and value): a value written by anyone without the server key
	// reads as a miss and is counted. Default: a random key.
	RecordKey []byte
	// LocalSize bounds the in-process layer (StartLocal): how many accounts, and how
	// many users' usage, it keeps (default 100,000 each; an account and its usage cost about 800
	// bytes).
	LocalSize int
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

	names, tags hmacPool
	forged      atomic.Int64

	// local is the in-process layer (local.go), off until StartLocal; localPS is its
	// subscription, closed by StartLocal's stop.
	local   local
	localPS atomic.Pointer[redis.PubSub]
}

// hmacPool keeps HMAC-SHA256 states of one key, each with a scratch buffer, so the hot
// path hashes strings without allocating.
type hmacPool struct{ p *sync.Pool }

type hmacState struct {
	h   hash.Hash
	buf []byte
}

func newHMACPool(key []byte) hmacPool {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	key = append([]byte(nil), key...)
	return hmacPool{p: &sync.Pool{New: func() any { return &hmacState{h: hmac.New(sha256.New, key)} }}}
}

// sum appends HMAC(a ‖ b) to dst.
func (p hmacPool) sum(dst []byte, a, b string) []byte {
	st := p.p.Get().(*hmacState)
	st.h.Reset()
	st.buf = append(append(st.buf[:0], a...), b...)
	st.h.Write(st.buf)
	dst = st.h.Sum(dst)
	if cap(st.buf) <= 4096 {
		p.p.Put(st)
	}
	return dst
}

// Forged returns how many cached values failed their authentication check: written by
// someone without the server key (or by a process with another key).
func (c *Cache) Forged() int64 { return c.forged.Load() }

// accountName returns the Redis key of a radius.AccountKey, MACKey or CodeKey value: the
// prefix and the base64 of 16 bytes of its hash. A CodeKey carries the hash already.
func (c *Cache) accountName(k string) string {
	var sum [sha256.Size]byte
	var h []byte
	switch {
	case strings.HasPrefix(k, "h:") && len(k) >= 2+16:
		h = []byte(k[2:18])
	case strings.HasPrefix(k, "u:"):
		h = c.names.sum(sum[:0], k[2:], "")
	default:
		h = c.names.sum(sum[:0], k, "")
	}
	return c.keys.account(base64.RawURLEncoding.EncodeToString(h[:16]))
}

// tagSize is the length of the authentication tag every stored account value ends with.
const tagSize = 16

// expirySize is the length of the expiry (unix seconds, big-endian) every stored value
// carries between its body and its tag.
const expirySize = 8

// sealValue appends to body the time the value expires and the tag of name, body and
// that time. The expiry is authenticated so that a value copied back into Redis after
// it expired (an entry saved before a suspension, replayed after it) reads as a miss,
// whatever TTL the copier gave its key.
func (c *Cache) sealValue(name string, body []byte, expires time.Time) []byte {
	// Rounded up: the value is not judged expired before Redis drops its key.
	body = binary.BigEndian.AppendUint64(body, uint64(expires.Add(time.Second-1).Unix()))
	var sum [sha256.Size]byte
	tag := c.tags.sum(sum[:0], name, string(body))
	return append(body, tag[:tagSize]...)
}

// valueCheck is what checkValue found.
type valueCheck uint8

const (
	valueOK      valueCheck = iota
	valueForged             // the tag is wrong: written without the server key
	valueExpired            // authentic, but past its expiry: copied back, or a clock ahead
	valueLegacy             // too short for an expiry: a negative marker of the previous format
)

// checkValue returns the body of a stored value whose tag is right for name and that
// has not expired at now.
func (c *Cache) checkValue(name, val string, now time.Time) (string, valueCheck) {
	if len(val) < 1+tagSize {
		return "", valueForged
	}
	signed, tag := val[:len(val)-tagSize], val[len(val)-tagSize:]
	var sum [sha256.Size]byte
	if !hmac.Equal(c.tags.sum(sum[:0], name, signed)[:tagSize], []byte(tag)) {
		return "", valueForged
	}
	if len(signed) < 1+expirySize {
		return "", valueLegacy
	}
	var exp uint64
	for i := len(signed) - expirySize; i < len(signed); i++ {
		exp = exp<<8 | uint64(signed[i])
	}
	if now.Unix() >= int64(exp) {
		return "", valueExpired
	}
	return signed[:len(signed)-expirySize], valueOK
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
	c := &Cache{
		rdb:      rdb,
		keys:     keyspace(prefix),
		ttl:      opts.TTL,
		negTTL:   opts.NegativeTTL,
		usageTTL: opts.UsageTTL,
		b:        newBatcher(rdb, opts.Loops, keyspace(prefix).inval()),
		names:    newHMACPool(opts.CodeKey),
		tags:     newHMACPool(opts.RecordKey),
	}
	c.local.init(opts.LocalSize)
	return c
}

// Start runs the batching loops. Calling it again, or after Close, does nothing.
func (c *Cache) Start() { c.b.start() }

// Close stops the batching loops after they answered every queued request; later reads
// are plain round trips. It does not close the Redis client. Calling it twice is safe.
func (c *Cache) Close() { c.b.close() }

// GetAccount returns the cached account (password sealed), an ENOTFOUND error for a
// negative entry, or radius.ErrCacheMiss, also for a value it cannot decode or whose
// authentication fails.
func (c *Cache) GetAccount(ctx context.Context, key string) (*radius.Account, error) {
	if a, ok, err := c.local.getAccount(key, time.Now()); ok {
		return a, err
	}
	name := c.accountName(key)
	on := c.local.on.Load()
	var st stamp
	if on {
		st = c.local.stampAccount(name)
	}
	val, err := c.get(ctx, name)
	a, err := c.readAccount(key, name, val, err)
	if on && (err == nil || radius.ErrorCode(err) == radius.ENOTFOUND) {
		var held *radius.Account
		if a != nil {
			cp := *a // the caller opens the password of its copy in place
			held = &cp
		}
		c.local.putAccount(st, key, name, held, time.Now())
	}
	return a, err
}

// GetAccountLocal answers GetAccount from the in-process layer alone: false when it
// holds nothing current for key (or is off).
func (c *Cache) GetAccountLocal(key string) (*radius.Account, bool, error) {
	return c.local.getAccount(key, time.Now())
}

// readAccount interprets the reply to a GET of key's account, stored under name.
func (c *Cache) readAccount(key, name, val string, err error) (*radius.Account, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return nil, radius.ErrCacheMiss
	case err != nil:
		return nil, fmt.Errorf("redis: get account: %w", err)
	}
	body, check := c.checkValue(name, val, time.Now())
	switch {
	case check == valueForged:
		c.forged.Add(1)
		return nil, fmt.Errorf("redis: account entry fails authentication: %w", radius.ErrCacheMiss)
	case check != valueOK:
		return nil, fmt.Errorf("redis: account entry expired: %w", radius.ErrCacheMiss)
	case len(body) == 1 && body[0] == formatNone:
		return nil, radius.Errorf(radius.ENOTFOUND, "account not found")
	}
	a := new(radius.Account)
	if err := decodeAccount(body, a); err != nil {
		return nil, fmt.Errorf("redis: decode account: %v: %w", err, radius.ErrCacheMiss)
	}
	return a, nil
}

// SetAccount caches a under key, or a negative marker with the shorter TTL when a is nil
// (or short is set), each value authenticated with RecordKey.
func (c *Cache) SetAccount(ctx context.Context, key string, a *radius.Account, short bool) error {
	name := c.accountName(key)
	body, ttl := []byte{formatNone}, c.negTTL
	if a != nil {
		body = appendAccount(make([]byte, 0, 256+expirySize+tagSize), a)
		if !short {
			ttl = c.ttl
		}
	}
	// Through the batching loop: a burst of misses (a cold start) shares round trips.
	r := newRequest(opSet)
	r.key, r.val, r.ttl = name, c.sealValue(name, body, time.Now().Add(ttl)), ttl
	if err := c.b.do(ctx, r); err != nil {
		return fmt.Errorf("redis: set account: %w", err)
	}
	err := r.set.Err()
	r.release()
	if err != nil {
		return fmt.Errorf("redis: set account: %w", err)
	}
	return nil
}

// DeleteAccounts drops keys in one round trip. It pipelines one DEL per key rather than
// sending one multi-key DEL, which a Redis Cluster rejects across hash slots.
func (c *Cache) DeleteAccounts(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	names := make([]string, len(keys))
	lines := make([]string, len(keys))
	for i, k := range keys {
		names[i] = c.accountName(k)
		lines[i] = invalLine(invalAccount, names[i])
	}
	c.local.dropLines(lines) // this process at once, the others by the message
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, n := range names {
			p.Del(ctx, n)
		}
		publishInval(ctx, p, c.keys, lines)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: delete %d accounts: %w", len(keys), err)
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

// DropAll deletes every cached account (and negative marker) and every usage hash under
// the prefix, so the next reads refill them from Postgres; it returns how many keys it
// deleted. Accounts.CacheBack calls it once Redis answers again after an outage, since
// invalidations and additions to usage may have failed meanwhile. The live session
// index is kept: Postgres does not refill it, and the next interim updates correct it.
// The in-process layer is emptied too. On a Redis Cluster it walks every master.
func (c *Cache) DropAll(ctx context.Context) (int64, error) {
	var n atomic.Int64
	drop := func(ctx context.Context, rdb redis.UniversalClient) error {
		for _, pattern := range []string{c.keys.account("*"), c.keys.usage("*")} {
			iter := rdb.Scan(ctx, 0, escapeGlob(string(c.keys))+pattern[len(c.keys):], 1000).Iterator()
			batch := make([]string, 0, 1000)
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				// One UNLINK per key: a multi-key command is refused across Cluster slots.
				cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range batch {
						p.Unlink(ctx, k)
					}
					return nil
				})
				for _, cmd := range cmds {
					n.Add(cmd.(*redis.IntCmd).Val())
				}
				batch = batch[:0]
				return err
			}
			for iter.Next(ctx) {
				if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := iter.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return drop(ctx, m) })
	} else {
		err = drop(ctx, c.rdb)
	}
	if err != nil {
		return n.Load(), fmt.Errorf("redis: drop cached accounts and usage: %w", err)
	}
	// What this process read from Redis before the drop (the first answers after the
	// outage) goes too.
	c.local.flush()
	return n.Load(), nil
}

// escapeGlob escapes the characters SCAN's MATCH treats as a pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
