// Package redis is the Redis adapter of the radius domain: the account cache read on
// every Access-Request. Accounts are stored as a compact versioned binary value, and
// concurrent reads are gathered into pipelines by a small batcher, so that many
// requests in flight share one round trip.
package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	// Loops is the number of batching loops Start runs (default 2).
	Loops int
}

// maxBatch is the most GETs one pipeline carries.
const maxBatch = 128

// queueSize bounds the requests waiting for a batching loop; a full queue makes
// GetAccount wait (within its ctx) rather than grow memory.
const queueSize = 1024

// Cache is the Redis account cache. It is safe for concurrent use. Start its batching
// loops with Start; without them every GetAccount is a plain GET.
type Cache struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
	negTTL time.Duration
	loops  int

	// mu guards state; GetAccount holds it for reading while it enqueues, so that after
	// Close has taken it once no request can be left in the queue.
	mu    sync.RWMutex
	state int // stateNew, stateRunning or stateClosed
	queue chan *getRequest
	quit  chan struct{}
	wg    sync.WaitGroup
}

const (
	stateNew = iota
	stateRunning
	stateClosed
)

// New returns a Cache whose keys start with prefix (e.g. "tollgate:"). The caller keeps
// ownership of rdb and closes it after the Cache.
func New(rdb redis.UniversalClient, prefix string, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = time.Hour
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 10 * time.Second
	}
	if opts.Loops <= 0 {
		opts.Loops = 2
	}
	return &Cache{
		rdb:    rdb,
		prefix: prefix,
		ttl:    opts.TTL,
		negTTL: opts.NegativeTTL,
		loops:  opts.Loops,
		queue:  make(chan *getRequest, queueSize),
		quit:   make(chan struct{}),
	}
}

// Start runs the batching loops. Calling it again, or after Close, does nothing.
func (c *Cache) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateNew {
		return
	}
	c.state = stateRunning
	for range c.loops {
		c.wg.Add(1)
		go c.loop(c.rdb.Pipeline())
	}
}

// Close stops the batching loops after they answered every queued request; later reads
// are plain GETs. It does not close the Redis client. Calling it twice is safe.
func (c *Cache) Close() {
	c.mu.Lock()
	running := c.state == stateRunning
	c.state = stateClosed
	c.mu.Unlock()
	if running {
		close(c.quit)
	}
	c.wg.Wait()
}

// GetAccount returns the cached account (password sealed), an ENOTFOUND error for a
// negative entry, or radius.ErrCacheMiss, also for a value it cannot decode.
func (c *Cache) GetAccount(ctx context.Context, key string) (*radius.Account, error) {
	val, err := c.get(ctx, c.accountKey(key))
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
	if err := c.rdb.Set(ctx, c.accountKey(key), val, ttl).Err(); err != nil {
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
			p.Del(ctx, c.accountKey(k))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: delete accounts %q: %w", keys, err)
	}
	return nil
}

// getRequest is one GET waiting for a batching loop. Requests are pooled; one whose
// caller gave up is left to the garbage collector, since the loop may still answer it.
type getRequest struct {
	key  string
	val  string
	err  error
	done chan struct{} // capacity 1: the loop never blocks on an abandoned request
}

var requestPool = sync.Pool{New: func() any { return &getRequest{done: make(chan struct{}, 1)} }}

// get returns the value of key, through a batching loop when they run.
func (c *Cache) get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.RLock()
	if c.state != stateRunning {
		c.mu.RUnlock()
		return c.rdb.Get(ctx, key).Result()
	}
	r := requestPool.Get().(*getRequest)
	r.key = key
	select {
	case c.queue <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		r.key = ""
		requestPool.Put(r) // never queued: safe to reuse
		return "", ctx.Err()
	}
	select {
	case <-r.done:
		val, err := r.val, r.err
		*r = getRequest{done: r.done}
		requestPool.Put(r)
		return val, err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// loop answers queued requests: it takes the first, adds whatever else is already
// waiting (up to maxBatch) and sends them all as one pipeline. pipe is its own.
func (c *Cache) loop(pipe redis.Pipeliner) {
	defer c.wg.Done()
	batch := make([]*getRequest, 0, maxBatch)
	cmds := make([]*redis.StringCmd, 0, maxBatch)
	for {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		case <-c.quit:
			// No request can be queued any more (Close held mu): answer the rest.
			for {
				batch = drain(c.queue, batch)
				if len(batch) == 0 {
					return
				}
				cmds = c.run(pipe, batch, cmds)
				clear(batch)
				batch = batch[:0]
			}
		}
		batch = drain(c.queue, batch)
		cmds = c.run(pipe, batch, cmds)
		clear(batch)
		batch = batch[:0]
	}
}

// drain appends the requests already queued to batch, up to maxBatch.
func drain(queue <-chan *getRequest, batch []*getRequest) []*getRequest {
	for len(batch) < maxBatch {
		select {
		case r := <-queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// run sends one pipeline of GETs and answers each request. It returns cmds emptied, to
// be reused.
func (c *Cache) run(pipe redis.Pipeliner, batch []*getRequest, cmds []*redis.StringCmd) []*redis.StringCmd {
	// The loop's context: callers' deadlines are enforced where they wait, and the
	// client's read and write timeouts bound the round trip.
	ctx := context.Background()
	for _, r := range batch {
		cmds = append(cmds, pipe.Get(ctx, r.key))
	}
	// Exec reports the first failed command, redis.Nil included: read each instead.
	_, _ = pipe.Exec(ctx)
	for i, r := range batch {
		r.val, r.err = cmds[i].Result()
		r.done <- struct{}{}
	}
	clear(cmds)
	return cmds[:0]
}
