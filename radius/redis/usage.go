package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

var _ radius.UsageCache = (*Cache)(nil)

// The fields of a usage hash (keyspace.usage).
const (
	fieldUptime = "uptime" // seconds
	fieldBytes  = "bytes"  // input + output octets
)

// setUsageScript fills a usage hash unless it exists (accounting may have added to it
// since the caller read Postgres, and what is there is at least as new), or the usage
// generation moved since the caller read it: a record applied while no hash existed
// may be missing from what the caller read in Postgres.
// KEYS: usage hash, usage generation. ARGV: uptime seconds, bytes, TTL in
// milliseconds, the generation the caller read.
var setUsageScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if (tonumber(redis.call('GET', KEYS[2])) or 0) ~= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], 'uptime', ARGV[1], 'bytes', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// SetUsage stores the uptime and bytes of u (read from Postgres) as username's usage,
// unless a usage hash is already there or the usage generation is no longer gen (see
// radius.UsageCache). u.Online is not stored: the live index counts it.
func (c *Cache) SetUsage(ctx context.Context, username string, u radius.Usage, gen int64) error {
	// Through the batching loop, with its message: a burst of fills (a cold start)
	// shares round trips. Every process holding the user's "no usage hash" forgets it.
	r := newRequest(opEval)
	r.script = setUsageScript
	r.keys = []string{c.keys.usage(username), c.keys.usageGen(username)}
	r.args = []any{int64(u.Uptime / time.Second), u.Bytes, c.usageTTL.Milliseconds(), gen}
	r.inval = invalLine(invalUser, username)
	c.local.drop(invalUser, username)
	if err := c.b.do(ctx, r); err != nil {
		return fmt.Errorf("redis: set usage of %q: %w", username, err)
	}
	err := r.eval.Err()
	r.release()
	if err != nil {
		return fmt.Errorf("redis: set usage of %q: %w", username, err)
	}
	return nil
}

// DeleteUsage drops the usage of usernames in one round trip, so the next read refills
// it from Postgres (after a plan change, when usage counts from the new validity).
func (c *Cache) DeleteUsage(ctx context.Context, usernames ...string) error {
	if len(usernames) == 0 {
		return nil
	}
	lines := make([]string, len(usernames))
	for i, u := range usernames {
		lines[i] = invalLine(invalUser, u)
	}
	c.local.dropLines(lines)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range usernames {
			p.Del(ctx, c.keys.usage(u))
		}
		publishInval(ctx, p, c.keys, lines)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: delete usage of %q: %w", usernames, err)
	}
	return nil
}

// readUsage interprets the reply to HMGET uptime bytes. ok is false when the hash is
// absent or unreadable, so the caller refills it.
func readUsage(vals []any) (u radius.Usage, ok bool) {
	if len(vals) != 2 || (vals[0] == nil && vals[1] == nil) {
		return u, false
	}
	up, ok1 := parseField(vals[0])
	by, ok2 := parseField(vals[1])
	if !ok1 || !ok2 {
		return radius.Usage{}, false
	}
	u.Uptime, u.Bytes = time.Duration(up)*time.Second, by
	return u, true
}

// parseField reads an integer field; a missing one counts as 0.
func parseField(v any) (int64, bool) {
	switch v := v.(type) {
	case nil:
		return 0, true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}
