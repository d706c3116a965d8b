// Package redis is the Redis adapter of the portal's account domain: sessions (JSON
// under a hash of their ID, living auth.SessionIdle after their last use, with an index
// per user), the sign-in counters and locks of auth.Policy, and the fixed-window rate
// limits of the portal's public pages (Hit). Every replica shares them.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/portal/auth"
	"tollgate/radius"
)

var (
	_ auth.SessionStore = (*Store)(nil)
	_ auth.Limiter      = (*Store)(nil)
)

// Store keeps portal sessions, sign-in counters and rate limits. It is safe for
// concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	keys keyspace
	// Idle is how long a session lives after its last use (auth.SessionIdle).
	Idle time.Duration
	// Max is a session's absolute lifetime (auth.DefaultSessionMax), which the portal
	// enforces; the index of a user's sessions lives Max + Idle after the last sign-in.
	Max time.Duration
}

// New returns a Store whose keys start with prefix. The caller keeps ownership of rdb.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, keys: keyspace(prefix), Idle: auth.SessionIdle, Max: auth.DefaultSessionMax}
}

// CreateSession stores s under a new random ID, adds it to the index of its user, sets
// s.ID and returns it.
func (s *Store) CreateSession(ctx context.Context, sess *auth.Session) (string, error) {
	b, err := json.Marshal(sess)
	if err != nil {
		return "", fmt.Errorf("redis: encode session: %w", err)
	}
	for range 3 {
		id := auth.NewToken()
		ok, err := s.rdb.SetNX(ctx, s.keys.session(id), b, s.Idle).Result()
		if err != nil {
			return "", fmt.Errorf("redis: create session: %w", err)
		}
		if !ok {
			continue
		}
		// The index may keep digests of sessions that ended: EndUserSessions deletes
		// what is there, and the set goes when the last session could have.
		idx := s.keys.userSessions(sess.UserID)
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.SAdd(ctx, idx, digest(id))
			p.Expire(ctx, idx, s.Max+s.Idle)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("redis: index session: %w", err)
		}
		sess.ID = id
		return id, nil
	}
	return "", errors.New("redis: create session: no free ID (is crypto/rand broken?)")
}

// EndUserSessions deletes every session of user id and returns how many there were.
func (s *Store) EndUserSessions(ctx context.Context, userID int64) (int, error) {
	idx := s.keys.userSessions(userID)
	ds, err := s.rdb.SMembers(ctx, idx).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: sessions of user %d: %w", userID, err)
	}
	keys := []string{idx}
	for _, d := range ds {
		keys = append(keys, s.keys.sessionByDigest(d))
	}
	n, err := s.rdb.Del(ctx, keys...).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: end sessions of user %d: %w", userID, err)
	}
	if len(ds) > 0 {
		n-- // the index itself
	}
	return int(n), nil
}

// FindSession returns the session and restarts its idle time, in one command. ENOTFOUND.
func (s *Store) FindSession(ctx context.Context, id string) (*auth.Session, error) {
	if id == "" {
		return nil, radius.Errorf(radius.ENOTFOUND, "no session")
	}
	b, err := s.rdb.GetEx(ctx, s.keys.session(id), s.Idle).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, radius.Errorf(radius.ENOTFOUND, "no session")
	case err != nil:
		return nil, fmt.Errorf("redis: find session: %w", err)
	}
	var sess auth.Session
	if err := json.Unmarshal(b, &sess); err != nil {
		// An undecodable value (an older format) is a signed-out session.
		return nil, radius.Errorf(radius.ENOTFOUND, "no session")
	}
	sess.ID = id
	return &sess, nil
}

// UpdateSession rewrites sess under sess.ID, restarting its idle time. ENOTFOUND when
// it expired meanwhile.
func (s *Store) UpdateSession(ctx context.Context, sess *auth.Session) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redis: encode session: %w", err)
	}
	ok, err := s.rdb.SetXX(ctx, s.keys.session(sess.ID), b, s.Idle).Result()
	if err != nil {
		return fmt.Errorf("redis: update session: %w", err)
	}
	if !ok {
		return radius.Errorf(radius.ENOTFOUND, "no session")
	}
	return nil
}

// DeleteSession removes the session; a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.keys.session(id)).Err(); err != nil {
		return fmt.Errorf("redis: delete session: %w", err)
	}
	return nil
}

// hit counts one event under key in a fixed window that starts with the first event, in
// one round trip, and returns the count and the time left in the window.
func (s *Store) hit(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	var incr *redis.IntCmd
	var ttl *redis.DurationCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.ExpireNX(ctx, key, window)
		ttl = p.PTTL(ctx, key)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return incr.Val(), max(ttl.Val(), 0), nil
}

// Hit counts one event of the rate limit name in its current window (which starts with
// the window's first event) and returns the count so far and the time until the window
// ends. name is the caller's, built from bounded parts ("status:192.0.2.1").
func (s *Store) Hit(ctx context.Context, name string, window time.Duration) (int64, time.Duration, error) {
	n, left, err := s.hit(ctx, s.keys.rate(name), window)
	if err != nil {
		return 0, 0, fmt.Errorf("redis: rate limit %s: %w", name, err)
	}
	return n, left, nil
}

// HitAddr counts one sign-in attempt from addr and returns the count in the current
// window and the time until it ends.
func (s *Store) HitAddr(ctx context.Context, addr string, window time.Duration) (int64, time.Duration, error) {
	n, left, err := s.hit(ctx, s.keys.addrHits(addr), window)
	if err != nil {
		return 0, 0, fmt.Errorf("redis: count sign-in from %s: %w", addr, err)
	}
	return n, left, nil
}

// Locks reads the lock of email at addr, its account-wide lock and whether addr is
// known to it, in one round trip.
func (s *Store) Locks(ctx context.Context, email, addr string) (auth.LockState, error) {
	d := pair(email, addr)
	var at, acct *redis.DurationCmd
	var known *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		at = p.PTTL(ctx, s.keys.pairLock(d))
		acct = p.PTTL(ctx, s.keys.emailLock(email))
		known = p.Exists(ctx, s.keys.known(d))
		return nil
	})
	if err != nil {
		return auth.LockState{}, fmt.Errorf("redis: read sign-in locks: %w", err)
	}
	// PTTL is negative for a missing key.
	return auth.LockState{Addr: max(at.Val(), 0), Account: max(acct.Val(), 0), Known: known.Val() == 1}, nil
}

// CountFailure counts one failed sign-in of email from addr, in one round trip: for the
// pair within p.LockFor, for the email within p.AccountWindow with the set of addresses
// it came from, and the pair in the set an unlock clears (kept p.MaxLock).
func (s *Store) CountFailure(ctx context.Context, email, addr string, p auth.Policy) (auth.FailCounts, error) {
	d := pair(email, addr)
	var pairN, acctN, addrs *redis.IntCmd
	var levelS *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		pairN = tx.Incr(ctx, s.keys.pairFails(d))
		tx.ExpireNX(ctx, s.keys.pairFails(d), p.LockFor)
		levelS = tx.Get(ctx, s.keys.pairLevel(d))
		acctN = tx.Incr(ctx, s.keys.emailFails(email))
		tx.ExpireNX(ctx, s.keys.emailFails(email), p.AccountWindow)
		tx.SAdd(ctx, s.keys.emailAddrs(email), digest(addr))
		tx.ExpireNX(ctx, s.keys.emailAddrs(email), p.AccountWindow)
		addrs = tx.SCard(ctx, s.keys.emailAddrs(email))
		tx.SAdd(ctx, s.keys.pairs(email), d)
		tx.PExpire(ctx, s.keys.pairs(email), max(p.MaxLock, p.LockFor))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return auth.FailCounts{}, fmt.Errorf("redis: count sign-in failure: %w", err)
	}
	lv, _ := levelS.Int64() // no key: level 0
	return auth.FailCounts{Addr: pairN.Val(), Level: lv, Account: acctN.Val(), Addrs: addrs.Val()}, nil
}

// LockAddr locks email at addr for d, raises the pair's backoff level (kept p.MaxLock)
// and restarts the pair's failure count.
func (s *Store) LockAddr(ctx context.Context, email, addr string, d time.Duration, p auth.Policy) error {
	k := pair(email, addr)
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Set(ctx, s.keys.pairLock(k), 1, d)
		tx.Incr(ctx, s.keys.pairLevel(k))
		tx.PExpire(ctx, s.keys.pairLevel(k), max(p.MaxLock, d))
		tx.Del(ctx, s.keys.pairFails(k))
		tx.SAdd(ctx, s.keys.pairs(email), k)
		tx.PExpire(ctx, s.keys.pairs(email), max(p.MaxLock, d))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: lock sign-in at an address: %w", err)
	}
	return nil
}

// LockAccount locks email for d everywhere but its known addresses and restarts its
// account-wide counts.
func (s *Store) LockAccount(ctx context.Context, email string, d time.Duration) error {
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Set(ctx, s.keys.emailLock(email), 1, d)
		tx.Del(ctx, s.keys.emailFails(email), s.keys.emailAddrs(email))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: lock email: %w", err)
	}
	return nil
}

// Succeeded forgets the failures, lock and backoff of email at addr and remembers addr
// as known to email for knownFor. The account-wide lock stays.
func (s *Store) Succeeded(ctx context.Context, email, addr string, knownFor time.Duration) error {
	d := pair(email, addr)
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Del(ctx, s.keys.pairFails(d), s.keys.pairLock(d), s.keys.pairLevel(d))
		tx.SRem(ctx, s.keys.pairs(email), d)
		tx.Set(ctx, s.keys.known(d), 1, knownFor)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: record sign-in: %w", err)
	}
	return nil
}

// ClearEmail lifts every lock of email at every address and account-wide, and forgets
// its failures (known addresses stay known).
func (s *Store) ClearEmail(ctx context.Context, email string) error {
	ds, err := s.rdb.SMembers(ctx, s.keys.pairs(email)).Result()
	if err != nil {
		return fmt.Errorf("redis: clear email: %w", err)
	}
	keys := []string{s.keys.pairs(email), s.keys.emailFails(email), s.keys.emailAddrs(email), s.keys.emailLock(email)}
	for _, d := range ds {
		keys = append(keys, s.keys.pairFails(d), s.keys.pairLock(d), s.keys.pairLevel(d))
	}
	if err := s.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redis: clear email: %w", err)
	}
	return nil
}

// UseTOTPStep records the use of user id's code of step and reports false for a replay.
func (s *Store) UseTOTPStep(ctx context.Context, id, step int64, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.totpStep(id, step), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: record TOTP use: %w", err)
	}
	return ok, nil
}
