// Package redis is the Redis adapter of the portal's account domain: sessions (JSON
// under a hash of their ID, living auth.SessionIdle after their last use) and the
// sign-in counters of the rate limit and the lockout.
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

// Store keeps portal sessions and sign-in counters. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	keys keyspace
	// Idle is how long a session lives after its last use (auth.SessionIdle).
	Idle time.Duration
}

// New returns a Store whose keys start with prefix. The caller keeps ownership of rdb.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, keys: keyspace(prefix), Idle: auth.SessionIdle}
}

// CreateSession stores s under a new random ID, sets s.ID and returns it.
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
		if ok {
			sess.ID = id
			return id, nil
		}
	}
	return "", errors.New("redis: create session: no free ID (is crypto/rand broken?)")
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

// HitIP counts one sign-in attempt from ip and returns the count in the current window
// and the time until it ends.
func (s *Store) HitIP(ctx context.Context, ip string, window time.Duration) (int64, time.Duration, error) {
	n, left, err := s.hit(ctx, s.keys.ipHits(ip), window)
	if err != nil {
		return 0, 0, fmt.Errorf("redis: count sign-in from %s: %w", ip, err)
	}
	return n, left, nil
}

// FailEmail counts one failure for email within window; the max-th locks the email for
// window and restarts the count. It returns the lock's length, 0 when none was set.
func (s *Store) FailEmail(ctx context.Context, email string, max int64, window time.Duration) (time.Duration, error) {
	fails := s.keys.emailFails(email)
	n, _, err := s.hit(ctx, fails, window)
	if err != nil {
		return 0, fmt.Errorf("redis: count sign-in failure: %w", err)
	}
	if n < max {
		return 0, nil
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.keys.emailLock(email), 1, window)
		p.Del(ctx, fails)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redis: lock email: %w", err)
	}
	return window, nil
}

// EmailLocked returns how long email stays locked (0: not locked).
func (s *Store) EmailLocked(ctx context.Context, email string) (time.Duration, error) {
	d, err := s.rdb.PTTL(ctx, s.keys.emailLock(email)).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: read email lock: %w", err)
	}
	return max(d, 0), nil // -2: no key
}

// ClearEmail forgets the failures and the lock of email.
func (s *Store) ClearEmail(ctx context.Context, email string) error {
	if err := s.rdb.Del(ctx, s.keys.emailFails(email), s.keys.emailLock(email)).Err(); err != nil {
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
