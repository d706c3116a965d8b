package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

var (
	_ radius.AuthCache         = (*Cache)(nil)
	_ radius.LocalAuthCache    = (*Cache)(nil)
	_ radius.LocalAccountCache = (*Cache)(nil)
)

// AuthSnapshot is what an Access-Request reads from Redis in one round trip: Account
// (password sealed) or AccountErr (radius.ErrCacheMiss, also for a value that does not
// decode, or ENOTFOUND for a cached "no such account"); Usage with Online always and
// Uptime and Bytes when UsageCached. It is the domain's type, so that Cache satisfies
// radius.AuthCache.
type AuthSnapshot = radius.AuthSnapshot

// GetAuth reads, in one pipeline shared with the other requests in flight, the account
// cached under key (a radius.AccountKey or radius.MACKey value), the usage of username,
// and how many of username's live sessions have a deadline at or after now. The error
// is only for a failed round trip (or ctx); a miss is reported in the snapshot.
func (c *Cache) GetAuth(ctx context.Context, key, username string, now time.Time) (AuthSnapshot, error) {
	if s, ok := c.local.get(key, username, now); ok {
		return s, nil
	}
	name := c.accountName(key)
	on := c.local.on.Load()
	var st stamp
	if on {
		st = c.local.stamp(name, username)
	}
	r := newRequest(opAuth)
	r.key = name
	r.usageKey = c.keys.usage(username)
	r.onlineKey = c.keys.online(username)
	r.genKey = c.keys.usageGen(username)
	r.min = strconv.FormatInt(now.Unix(), 10)
	r.scores = on
	if err := c.b.do(ctx, r); err != nil {
		return AuthSnapshot{}, fmt.Errorf("redis: get auth: %w", err)
	}
	defer r.release()
	val, getErr := r.get.Result()
	vals, hmErr := r.hm.Result()
	gen, genErr := r.gen.Int64()
	if errors.Is(genErr, redis.Nil) {
		genErr = nil
	}
	var online int64
	var deadlines []int64
	var zErr error
	if on {
		var zs []redis.Z
		zs, zErr = r.zs.Result()
		if len(zs) > 0 {
			deadlines = make([]int64, len(zs))
			for i, z := range zs {
				deadlines[i] = int64(z.Score)
			}
		}
		online = int64(len(zs))
	} else {
		online, zErr = r.zc.Result()
	}
	if getErr != nil && !errors.Is(getErr, redis.Nil) {
		return AuthSnapshot{}, fmt.Errorf("redis: get auth: %w", getErr)
	}
	for _, err := range [...]error{hmErr, zErr, genErr} {
		if err != nil {
			return AuthSnapshot{}, fmt.Errorf("redis: get auth usage of %q: %w", username, err)
		}
	}
	var s AuthSnapshot
	s.Account, s.AccountErr = c.readAccount(key, name, val, getErr)
	s.Usage, s.UsageCached = readUsage(vals)
	if !s.UsageCached {
		s.UsageGen = gen
	}
	s.Usage.Online = int(online)
	if on && !errors.Is(s.AccountErr, radius.ErrCacheMiss) {
		local := s
		if s.Account != nil {
			a := *s.Account // the caller opens the password of its copy in place
			local.Account = &a
		}
		c.local.put(st, key, name, username, local, deadlines, now)
	}
	return s, nil
}

// GetAuthLocal answers GetAuth from the in-process layer alone: false when it holds
// nothing current for key and username (or is off).
func (c *Cache) GetAuthLocal(key, username string, now time.Time) (AuthSnapshot, bool) {
	return c.local.get(key, username, now)
}
