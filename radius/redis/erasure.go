package redis

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

// forgetChunk bounds the commands of one pipeline of Forget.
const forgetChunk = 500

// Forget removes everything the live index holds about an erased user: its usage hash,
// its online zset and every session hash of it (those of sessions, given by the
// caller from Postgres, and those still listed in the zset), with their members in the
// NAS zsets. The usage and online keys hold the name in clear; the session hashes hold
// it and the MAC in their values. It is idempotent.
func (l *Live) Forget(ctx context.Context, username string, sessions []radius.SessionKey) error {
	online, err := l.rdb.ZRange(ctx, l.keys.online(username), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redis: forget %q: %w", username, err)
	}
	seen := map[string]bool{}
	var members []string
	for _, k := range sessions {
		m := sessionMember(k)
		if !seen[m] {
			seen[m] = true
			members = append(members, m)
		}
	}
	for _, m := range online {
		if !seen[m] {
			seen[m] = true
			members = append(members, m)
		}
	}
	for len(members) > 0 {
		n := min(forgetChunk, len(members))
		part := members[:n]
		members = members[n:]
		if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, m := range part {
				p.Del(ctx, l.keys.session(m))
				if k, ok := parseMember(m); ok {
					p.ZRem(ctx, l.keys.nasOnline(k.NASID), m)
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("redis: forget the sessions of %q: %w", username, err)
		}
	}
	if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, l.keys.online(username), l.keys.usage(username), l.keys.usageGen(username))
		publishInval(ctx, p, l.keys, []string{invalLine(invalUser, username)}) // every process forgets the name too
		return nil
	}); err != nil {
		return fmt.Errorf("redis: forget %q: %w", username, err)
	}
	return nil
}
