package redis

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

var _ radius.LiveSessions = (*Live)(nil)

// liveMargin is how long a session hash outlives its stale window, and an online zset
// its largest deadline: long enough for the reaper to find them, and for a retransmitted
// Stop to meet the Stop it repeats.
const liveMargin = 10 * time.Minute

// reapedTTL is how long the hash of a session the reaper closed is kept: its counters
// are the base from which a later Interim-Update or Stop adds growth, so that a router
// coming back after an outage of up to this long is not counted twice.
const reapedTTL = 24 * time.Hour

// The fields of a session hash (keyspace.session) that Go reads. updateScript also
// keeps time and bytes (the largest Acct-Session-Time and input + output octets seen),
// deadline (unix seconds), once stopped stop (the Stop's event time: a tombstone), and
// once reaped reaped (Remove's mark: off the online zsets, counters kept).
const (
	fieldUser    = "user"
	fieldIP      = "ip"
	fieldMAC     = "mac"
	fieldNASAddr = "nas"
	fieldReaped  = "reaped"
)

// updateScript applies one accounting record; see Live.Update.
//
// KEYS: 1 session hash, 2 on:<user>, 3 nason:<nas>, 4 use:<user>, 5 usegen:<user>.
// ARGV: 1 status (start, interim or stop), 2 member, 3 username, 4 framed IP, 5 MAC,
// 6 NAS address, 7 session time, 8 octets, 9 event time (unix s), 10 deadline (unix s),
// 11 session hash TTL (ms), 12 zset TTL (ms).
// Returns {usage hash existed (0/1), uptime, bytes, online count, usage generation}.
// A record applied while no usage hash exists bumps the usage generation, so that a
// fill that read Postgres before this record was there is not stored (SetUsage).
//
// Numbers handed back to Redis go through string.format('%d'), because Lua numbers
// are doubles that Redis might otherwise print with an exponent.
var updateScript = redis.NewScript(`
local sess, on, nason, use = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local status, member = ARGV[1], ARGV[2]
local t, b = tonumber(ARGV[7]), tonumber(ARGV[8])
local ev, dl = tonumber(ARGV[9]), tonumber(ARGV[10])

local last = redis.call('HMGET', sess, 'time', 'bytes', 'deadline', 'stop', 'reaped')
local lt, lb = tonumber(last[1]) or 0, tonumber(last[2]) or 0
local ld, stop, reaped = tonumber(last[3]), tonumber(last[4]), last[5]
if stop and status == 'start' and ev > stop then
  -- The NAS reused the id of a stopped session (after a reboot): a new session.
  redis.call('DEL', sess)
  lt, lb, ld, stop, reaped = 0, 0, nil, nil, false
end
local skip = stop -- a stopped session ignores replays
if reaped and not stop then
  -- The reaper closed it. A Stop completes it, a newer record reopens it; the
  -- counters kept are the base, so only the growth since is added.
  if status == 'stop' or not ld or dl > ld then
    redis.call('HDEL', sess, 'reaped')
  else
    skip = true
  end
end

local dt, db = 0, 0
if not skip then
  if t > lt then
    dt = t - lt
    redis.call('HSET', sess, 'time', ARGV[7])
  end
  if b > lb then
    db = b - lb
    redis.call('HSET', sess, 'bytes', ARGV[8])
  end
  if status == 'stop' then
    redis.call('HSET', sess, 'stop', ARGV[9])
    redis.call('PEXPIRE', sess, ARGV[11])
    redis.call('ZREM', on, member)
    redis.call('ZREM', nason, member)
  else
    for i, f in ipairs({'user', 'ip', 'mac', 'nas'}) do
      if ARGV[2 + i] ~= '' then
        redis.call('HSET', sess, f, ARGV[2 + i])
      end
    end
    if not ld or dl > ld then
      redis.call('HSET', sess, 'deadline', ARGV[10])
    end
    redis.call('PEXPIRE', sess, ARGV[11])
    local zttl = tonumber(ARGV[12])
    for _, z in ipairs({on, nason}) do
      redis.call('ZADD', z, 'GT', ARGV[10], member)
      if redis.call('PTTL', z) < zttl then
        redis.call('PEXPIRE', z, ARGV[12])
      end
    end
  end
end

local ok, up, by, gen = 0, 0, 0, 0
if redis.call('EXISTS', use) == 1 then
  ok = 1
  up = redis.call('HINCRBY', use, 'uptime', string.format('%d', dt))
  by = redis.call('HINCRBY', use, 'bytes', string.format('%d', db))
else
  gen = redis.call('INCR', KEYS[5])
  redis.call('PEXPIRE', KEYS[5], ARGV[11])
end
return {ok, up, by, redis.call('ZCOUNT', on, ARGV[9], '+inf'), gen}
`)

// Live is the live session index and usage counters in Redis, fed by accounting: a hash
// per session (with the router address its accounting came from), a zset of live
// sessions per user and per NAS scored by their deadline,
// and the usage hash per user the Cache reads. It is safe for concurrent use. Start its
// batching loops with Start; without them every Update is its own round trip.
type Live struct {
	rdb  redis.UniversalClient
	keys keyspace
	b    batcher
}

// NewLive returns a Live whose keys start with prefix, which must be the Cache's so that
// GetAuth reads what Update writes. The caller keeps ownership of rdb.
func NewLive(rdb redis.UniversalClient, prefix string) *Live {
	return &Live{rdb: rdb, keys: keyspace(prefix), b: newBatcher(rdb, 2, keyspace(prefix).inval())}
}

// Start runs the batching loops that pipeline concurrent Updates. Calling it again, or
// after Close, does nothing.
func (l *Live) Start() { l.b.start() }

// Close stops the batching loops after they answered every queued Update. It does not
// close the Redis client. Calling it twice is safe.
func (l *Live) Close() { l.b.close() }

// Update applies a durable accounting record in one atomic script, pipelined with the
// other Updates in flight. The session's deadline is r.EventTime + staleAfter; Start
// and Interim-Update add the session to the online zsets of its user and NAS, and
// Stop removes it, leaving the hash as a tombstone until its TTL so that a
// retransmitted record changes nothing. A session Remove marked reaped is reopened by
// a record newer than its last one (back in the zsets), and completed by a Stop. The
// growth of the session's time and octets
// over the largest values seen (never below zero) is added to the usage hash, only if
// it exists: when it does not, Postgres already holds the record and refills it.
// Online is the number of the user's sessions with a deadline at or after
// r.EventTime. ok is false when no usage hash existed. EINVALID for a status other
// than Start, Interim-Update and Stop.
func (l *Live) Update(ctx context.Context, r *radius.AcctRecord, staleAfter time.Duration) (radius.Usage, int64, bool, error) {
	var status string
	switch r.Status {
	case radius.AcctStart:
		status = "start"
	case radius.AcctInterim:
		status = "interim"
	case radius.AcctStop:
		status = "stop"
	default:
		return radius.Usage{}, 0, false, radius.Errorf(radius.EINVALID, "live: cannot apply accounting status %s", r.Status)
	}
	ev := r.EventTime
	if ev.IsZero() {
		ev = time.Now()
	}
	deadline := ev.Add(staleAfter)
	// The zsets outlive their largest deadline, even when the NAS clock runs ahead.
	zttl := max(staleAfter, time.Until(deadline)) + liveMargin
	var ip, nas string
	if r.FramedIP.IsValid() {
		ip = r.FramedIP.String()
	}
	if r.NASAddr.IsValid() {
		nas = r.NASAddr.Unmap().String()
	}
	member := sessionMember(r.Key())

	q := newRequest(opEval)
	q.script = updateScript
	q.keys = []string{l.keys.session(member), l.keys.online(r.Username), l.keys.nasOnline(r.NASID), l.keys.usage(r.Username), l.keys.usageGen(r.Username)}
	q.args = []any{status, member, r.Username, ip, r.MAC, nas, r.SessionTime, r.InputOctets + r.OutputOctets,
		ev.Unix(), deadline.Unix(), (staleAfter + liveMargin).Milliseconds(), zttl.Milliseconds()}
	q.inval = invalLine(invalUser, r.Username)
	if err := l.b.do(ctx, q); err != nil {
		return radius.Usage{}, 0, false, fmt.Errorf("redis: live update %s of %d/%q: %w", r.Status, r.NASID, r.SessionID, err)
	}
	reply, err := q.eval.Int64Slice()
	q.release()
	if err == nil && len(reply) != 5 {
		err = fmt.Errorf("unexpected reply %v", reply)
	}
	if err != nil {
		return radius.Usage{}, 0, false, fmt.Errorf("redis: live update %s of %d/%q: %w", r.Status, r.NASID, r.SessionID, err)
	}
	u := radius.Usage{Online: int(reply[3])}
	if reply[0] == 0 {
		return u, reply[4], false, nil
	}
	u.Uptime, u.Bytes = time.Duration(reply[1])*time.Second, reply[2]
	return u, 0, true, nil
}

// CloseNAS removes every live session of a NAS (Accounting-On/Off) from the online
// zsets, deletes their hashes and returns them. A session whose hash already expired
// comes back with its key and deadline only.
func (l *Live) CloseNAS(ctx context.Context, nasID int64) ([]radius.LiveSession, error) {
	nk := l.keys.nasOnline(nasID)
	zs, err := l.rdb.ZRangeWithScores(ctx, nk, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: close NAS %d: %w", nasID, err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	members := make([]string, len(zs))
	cmds := make([]*redis.SliceCmd, len(zs))
	_, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			members[i], _ = z.Member.(string)
			cmds[i] = p.HMGet(ctx, l.keys.session(members[i]), fieldUser, fieldIP, fieldMAC, fieldNASAddr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis: close NAS %d: read sessions: %w", nasID, err)
	}
	out := make([]radius.LiveSession, 0, len(zs))
	for i, z := range zs {
		key, ok := parseMember(members[i])
		if !ok {
			continue
		}
		s := liveSession(key, cmds[i].Val())
		s.Deadline = time.Unix(int64(z.Score), 0)
		out = append(out, s)
	}
	_, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		var lines []string
		for _, s := range out {
			m := sessionMember(s.Key)
			if s.Username != "" {
				p.ZRem(ctx, l.keys.online(s.Username), m)
				lines = append(lines, invalLine(invalUser, s.Username))
			}
			p.Del(ctx, l.keys.session(m))
		}
		// Only these members: a session that started meanwhile stays.
		p.ZRem(ctx, nk, anys(members)...)
		publishInval(ctx, p, l.keys, lines)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis: close NAS %d: remove sessions: %w", nasID, err)
	}
	return out, nil
}

// Remove takes sessions the reaper closed out of the online zsets, in one round trip;
// usernames[i] is the user of keys[i]. Their hashes stay, marked reaped, for reapedTTL:
// deleting them would make the next Interim-Update of a session that was only cut off
// from tollgate count its whole usage again. EINVALID when the lengths differ.
func (l *Live) Remove(ctx context.Context, keys []radius.SessionKey, usernames []string) error {
	if len(keys) != len(usernames) {
		return radius.Errorf(radius.EINVALID, "live: remove %d sessions with %d usernames", len(keys), len(usernames))
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			m := sessionMember(k)
			p.ZRem(ctx, l.keys.online(usernames[i]), m)
			p.ZRem(ctx, l.keys.nasOnline(k.NASID), m)
			// A hash that expired already comes back as the mark alone: the next
			// record then counts from zero, as for any session Redis does not know.
			p.HSet(ctx, l.keys.session(m), fieldReaped, "1")
			p.PExpire(ctx, l.keys.session(m), reapedTTL)
		}
		lines := make([]string, len(usernames))
		for i, u := range usernames {
			lines[i] = invalLine(invalUser, u)
		}
		publishInval(ctx, p, l.keys, lines)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: remove %d live sessions: %w", len(keys), err)
	}
	return nil
}

// Online returns username's live sessions with a deadline at or after now, with their
// framed IP and MAC: the zset, then the hashes in one pipeline.
func (l *Live) Online(ctx context.Context, username string, now time.Time) ([]radius.LiveSession, error) {
	zs, err := l.rdb.ZRangeByScoreWithScores(ctx, l.keys.online(username), &redis.ZRangeBy{
		Min: strconv.FormatInt(now.Unix(), 10),
		Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: online of %q: %w", username, err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(zs))
	_, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			m, _ := z.Member.(string)
			cmds[i] = p.HMGet(ctx, l.keys.session(m), fieldUser, fieldIP, fieldMAC, fieldNASAddr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis: online of %q: read sessions: %w", username, err)
	}
	out := make([]radius.LiveSession, 0, len(zs))
	for i, z := range zs {
		m, _ := z.Member.(string)
		key, ok := parseMember(m)
		if !ok {
			continue
		}
		s := liveSession(key, cmds[i].Val())
		s.Username = username
		s.Deadline = time.Unix(int64(z.Score), 0)
		out = append(out, s)
	}
	return out, nil
}

// liveSession builds a LiveSession from the reply to HMGET user ip mac nas (nils when
// the hash is gone).
func liveSession(key radius.SessionKey, vals []any) radius.LiveSession {
	s := radius.LiveSession{Key: key}
	if len(vals) != 4 {
		return s
	}
	s.Username, _ = vals[0].(string)
	if ip, ok := vals[1].(string); ok {
		s.FramedIP, _ = netip.ParseAddr(ip)
	}
	s.MAC, _ = vals[2].(string)
	if nas, ok := vals[3].(string); ok {
		s.NASAddr, _ = netip.ParseAddr(nas)
	}
	return s
}

// anys converts ss for a variadic command.
func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
