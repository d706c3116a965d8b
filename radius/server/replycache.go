package server

import (
	"net/netip"
	"sync"
	"time"
)

// cacheKey identifies a request as RFC 5080 §2.2.2 says: source address and port,
// Identifier and Request Authenticator (the code tells the auth and accounting ports apart).
type cacheKey struct {
	src  netip.AddrPort
	code byte
	id   byte
	auth [16]byte
}

// cached is a reply, or nil while the request is still being handled.
type cached struct {
	reply []byte
}

const cacheShards = 32

// replyCache remembers replies for a few seconds so a retransmit gets the same answer and
// is never evaluated twice. Entries live in two generations rotated every ttl/2, so no
// per-entry timer or sweep is needed: an entry lives between ttl/2 and ttl.
type replyCache struct {
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu        sync.Mutex
	cur, prev map[cacheKey]*cached
	rotated   time.Time
}

func newReplyCache() *replyCache {
	c := &replyCache{}
	for i := range c.shards {
		c.shards[i].cur = make(map[cacheKey]*cached)
		c.shards[i].prev = make(map[cacheKey]*cached)
	}
	return c
}

func (c *replyCache) shard(k *cacheKey) *cacheShard {
	return &c.shards[(uint(k.auth[0])^uint(k.id)^uint(k.src.Port()))%cacheShards]
}

// begin returns the reply of a request already answered, or inFlight=true when the same
// request is still being handled; otherwise it marks k in flight and returns nothing.
func (c *replyCache) begin(k *cacheKey, now time.Time, ttl time.Duration) (reply []byte, inFlight bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := now.Sub(s.rotated); d >= ttl/2 {
		s.prev, s.cur, s.rotated = s.cur, make(map[cacheKey]*cached, len(s.cur)), now
		if d >= ttl {
			// The shard sat idle for a whole ttl, so the generation just retired is
			// older than ttl/2 already: drop it, or a replay after any idle time
			// would still get its stale reply.
			clear(s.prev)
		}
	}
	e, ok := s.cur[*k]
	if !ok {
		e, ok = s.prev[*k]
	}
	if ok {
		if e.reply == nil {
			return nil, true
		}
		return e.reply, false
	}
	s.cur[*k] = &cached{}
	return nil, false
}

// finish stores the reply of k; a nil reply forgets k, so a retransmit is handled anew
// (used when a request was dropped without an answer).
func (c *replyCache) finish(k *cacheKey, reply []byte) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if reply == nil {
		delete(s.cur, *k)
		delete(s.prev, *k)
		return
	}
	if e, ok := s.cur[*k]; ok {
		e.reply = reply
		return
	}
	if e, ok := s.prev[*k]; ok {
		e.reply = reply
	}
}
