package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

func TestSessions(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	s := New(rdb, prefix)
	ctx := context.Background()
	in := &auth.Session{UserID: 7, Email: "a@x.io", Role: auth.RoleAdmin, CSRF: auth.NewToken(), Pending: true, EnrollSecret: []byte{9}, Created: time.Now().Truncate(time.Second)}
	id, err := s.CreateSession(ctx, in)
	if err != nil || id == "" || in.ID != id || len(id) != 43 {
		t.Fatalf("CreateSession = %q, %v", id, err)
	}
	keys, _ := rdb.Keys(ctx, prefix+"portal:sess:*").Result()
	if len(keys) != 1 || strings.Contains(keys[0], id) {
		t.Fatalf("keys %q: want one session key that does not hold the ID", keys)
	}
	checkKeys(t, rdb, prefix, id)
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl < auth.SessionIdle-time.Minute || ttl > auth.SessionIdle {
		t.Fatalf("TTL %v; want %v", ttl, auth.SessionIdle)
	}
	rdb.Expire(ctx, keys[0], time.Minute)
	got, err := s.FindSession(ctx, id)
	if err != nil || got.ID != id || got.UserID != 7 || got.Email != "a@x.io" || got.Role != auth.RoleAdmin || got.CSRF != in.CSRF || !got.Pending || got.EnrollSecret[0] != 9 || !got.Created.Equal(in.Created) {
		t.Fatalf("FindSession = %+v, %v", got, err)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl < auth.SessionIdle-time.Minute {
		t.Fatalf("FindSession left TTL %v; want the idle time restarted", ttl)
	}
	got.Pending = false
	if err := s.UpdateSession(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.FindSession(ctx, id); again.Pending {
		t.Fatal("UpdateSession did not store")
	}
	if err := s.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	for name, err := range map[string]error{
		"find deleted": func() error { _, err := s.FindSession(ctx, id); return err }(),
		"find empty":   func() error { _, err := s.FindSession(ctx, ""); return err }(),
		"update gone":  s.UpdateSession(ctx, got),
	} {
		if radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Errorf("%s = %v; want ENOTFOUND", name, err)
		}
	}
	// A value it cannot decode is no session.
	id2, _ := s.CreateSession(ctx, &auth.Session{UserID: 1})
	rdb.Set(ctx, s.keys.session(id2), "{not json", time.Minute)
	if _, err := s.FindSession(ctx, id2); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("undecodable = %v", err)
	}
}

// checkKeys fails when a key under prefix has no TTL or holds one of secrets in clear.
func checkKeys(t *testing.T, rdb interface {
	Keys(ctx context.Context, pattern string) *goredis.StringSliceCmd
	TTL(ctx context.Context, key string) *goredis.DurationCmd
}, prefix string, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	keys, _ := rdb.Keys(ctx, prefix+"*").Result()
	for _, k := range keys {
		for _, secret := range secrets {
			if strings.Contains(strings.ToLower(k), strings.ToLower(secret)) {
				t.Fatalf("key %q holds %q", k, secret)
			}
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("key %q has no TTL", k)
		}
	}
}

func TestCounters(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	s := New(rdb, prefix)
	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		n, left, err := s.HitAddr(ctx, "192.0.2.1", time.Minute)
		if err != nil || n != i || left <= 50*time.Second || left > time.Minute {
			t.Fatalf("HitAddr #%d = %d, %v, %v", i, n, left, err)
		}
	}
	if n, _, _ := s.HitAddr(ctx, "192.0.2.2", time.Minute); n != 1 {
		t.Fatalf("another address = %d", n)
	}
	for i := int64(1); i <= 2; i++ {
		if n, left, err := s.Hit(ctx, "status:2001:db8::/64", time.Minute); err != nil || n != i || left <= 50*time.Second {
			t.Fatalf("Hit #%d = %d, %v, %v", i, n, left, err)
		}
	}

	const email = "Secret.Person@x.io"
	p := auth.DefaultPolicy
	const a, b = "192.0.2.1", "2001:db8:1:2::/64"
	for i := int64(1); i <= 3; i++ {
		c, err := s.CountFailure(ctx, email, a, p)
		if err != nil || c != (auth.FailCounts{Addr: i, Level: 0, Account: i, Addrs: 1}) {
			t.Fatalf("CountFailure #%d = %+v, %v", i, c, err)
		}
	}
	if c, _ := s.CountFailure(ctx, email, b, p); c != (auth.FailCounts{Addr: 1, Account: 4, Addrs: 2}) {
		t.Fatalf("from another address = %+v", c)
	}
	if st, err := s.Locks(ctx, email, a); err != nil || st != (auth.LockState{}) {
		t.Fatalf("Locks before any lock = %+v, %v", st, err)
	}
	if err := s.LockAddr(ctx, email, a, time.Hour, p); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Locks(ctx, email, a); st.Addr < 59*time.Minute || st.Account != 0 || st.Known {
		t.Fatalf("Locks at the locked address = %+v", st)
	}
	if st, _ := s.Locks(ctx, email, b); st != (auth.LockState{}) {
		t.Fatalf("Locks at another address = %+v; want none", st)
	}
	// The lock restarted the pair's count and raised its level.
	if c, _ := s.CountFailure(ctx, email, a, p); c.Addr != 1 || c.Level != 1 {
		t.Fatalf("after a lock = %+v; want count 1, level 1", c)
	}
	if err := s.LockAccount(ctx, email, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Locks(ctx, email, b); st.Account < 14*time.Minute || st.Addr != 0 {
		t.Fatalf("Locks after LockAccount = %+v", st)
	}
	if c, _ := s.CountFailure(ctx, email, b, p); c.Account != 1 || c.Addrs != 1 {
		t.Fatalf("account counts after LockAccount = %+v; want restarted", c)
	}
	// A success at b forgets b's failures and makes b known; the account lock stays.
	if err := s.Succeeded(ctx, email, b, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Locks(ctx, email, b); !st.Known || st.Account == 0 || st.Addr != 0 {
		t.Fatalf("Locks after a success = %+v", st)
	}
	if c, _ := s.CountFailure(ctx, email, b, p); c.Addr != 1 || c.Level != 0 {
		t.Fatalf("pair counts after a success = %+v; want restarted", c)
	}
	checkKeys(t, rdb, prefix, "secret", "192.0.2", "2001:db8")
	if err := s.ClearEmail(ctx, email); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{a, b} {
		if st, _ := s.Locks(ctx, email, addr); st.Addr != 0 || st.Account != 0 {
			t.Fatalf("Locks at %s after ClearEmail = %+v", addr, st)
		}
	}
	if c, _ := s.CountFailure(ctx, email, a, p); c != (auth.FailCounts{Addr: 1, Account: 1, Addrs: 1}) {
		t.Fatalf("counts after ClearEmail = %+v; want all restarted", c)
	}

	for i, want := range []bool{true, false} {
		if ok, err := s.UseTOTPStep(ctx, 5, 1000, time.Minute); err != nil || ok != want {
			t.Fatalf("UseTOTPStep #%d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	if ok, _ := s.UseTOTPStep(ctx, 5, 1001, time.Minute); !ok {
		t.Fatal("the next step's code was refused")
	}
	if ok, _ := s.UseTOTPStep(ctx, 6, 1000, time.Minute); !ok {
		t.Fatal("another user's code of the same step was refused")
	}
}

// TestEndUserSessions: the index of a user's sessions ends them all at once, and only
// theirs.
func TestEndUserSessions(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	s := New(rdb, prefix)
	ctx := context.Background()
	var mine []string
	for range 3 {
		id, err := s.CreateSession(ctx, &auth.Session{UserID: 7})
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, id)
	}
	other, _ := s.CreateSession(ctx, &auth.Session{UserID: 8})
	if err := s.DeleteSession(ctx, mine[0]); err != nil { // signed out: a stale index entry
		t.Fatal(err)
	}
	checkKeys(t, rdb, prefix, mine...)
	if n, err := s.EndUserSessions(ctx, 7); err != nil || n != 2 {
		t.Fatalf("EndUserSessions = %d, %v; want 2", n, err)
	}
	for _, id := range mine {
		if _, err := s.FindSession(ctx, id); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("session of user 7 survived: %v", err)
		}
	}
	if _, err := s.FindSession(ctx, other); err != nil {
		t.Fatalf("another user's session ended: %v", err)
	}
	if n, err := s.EndUserSessions(ctx, 7); err != nil || n != 0 {
		t.Fatalf("again = %d, %v", n, err)
	}
}

// TestRedisDown: every method reports a closed connection as an internal error.
func TestRedisDown(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	s := New(rdb, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"CreateSession":   func() error { _, err := s.CreateSession(ctx, &auth.Session{}); return err }(),
		"FindSession":     func() error { _, err := s.FindSession(ctx, "x"); return err }(),
		"UpdateSession":   s.UpdateSession(ctx, &auth.Session{ID: "x"}),
		"DeleteSession":   s.DeleteSession(ctx, "x"),
		"EndUserSessions": func() error { _, err := s.EndUserSessions(ctx, 1); return err }(),
		"Hit":             func() error { _, _, err := s.Hit(ctx, "x", time.Second); return err }(),
		"HitAddr":         func() error { _, _, err := s.HitAddr(ctx, "x", time.Second); return err }(),
		"Locks":           func() error { _, err := s.Locks(ctx, "x", "y"); return err }(),
		"CountFailure":    func() error { _, err := s.CountFailure(ctx, "x", "y", auth.DefaultPolicy); return err }(),
		"LockAddr":        s.LockAddr(ctx, "x", "y", time.Second, auth.DefaultPolicy),
		"LockAccount":     s.LockAccount(ctx, "x", time.Second),
		"Succeeded":       s.Succeeded(ctx, "x", "y", time.Second),
		"ClearEmail":      s.ClearEmail(ctx, "x"),
		"UseTOTPStep":     func() error { _, err := s.UseTOTPStep(ctx, 1, 1, time.Second); return err }(),
	} {
		if err == nil || radius.ErrorCode(err) != radius.EINTERNAL {
			t.Errorf("%s = %v; want an internal error", name, err)
		}
	}
}
