package redis

import (
	"context"
	"strings"
	"testing"
	"time"

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
	keys, _ := rdb.Keys(ctx, prefix+"*").Result()
	if len(keys) != 1 || strings.Contains(keys[0], id) || !strings.HasPrefix(keys[0], prefix+"portal:sess:") {
		t.Fatalf("keys %q: want one session key that does not hold the ID", keys)
	}
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

func TestCounters(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	s := New(rdb, prefix)
	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		n, left, err := s.HitIP(ctx, "192.0.2.1", time.Minute)
		if err != nil || n != i || left <= 50*time.Second || left > time.Minute {
			t.Fatalf("HitIP #%d = %d, %v, %v", i, n, left, err)
		}
	}
	if n, _, _ := s.HitIP(ctx, "192.0.2.2", time.Minute); n != 1 {
		t.Fatalf("another IP = %d", n)
	}

	const email = "Secret.Person@x.io"
	for i := range 2 {
		if d, err := s.FailEmail(ctx, email, 3, time.Hour); err != nil || d != 0 {
			t.Fatalf("FailEmail #%d = %v, %v", i+1, d, err)
		}
	}
	if d, _ := s.EmailLocked(ctx, email); d != 0 {
		t.Fatalf("locked after 2 of 3: %v", d)
	}
	if d, err := s.FailEmail(ctx, email, 3, time.Hour); err != nil || d != time.Hour {
		t.Fatalf("third failure = %v, %v; want the lock", d, err)
	}
	if d, err := s.EmailLocked(ctx, email); err != nil || d < 59*time.Minute {
		t.Fatalf("EmailLocked = %v, %v", d, err)
	}
	keys, _ := rdb.Keys(ctx, prefix+"*").Result()
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "secret") {
			t.Fatalf("key %q holds the email", k)
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("key %q has no TTL", k)
		}
	}
	if err := s.ClearEmail(ctx, email); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.EmailLocked(ctx, email); d != 0 {
		t.Fatalf("locked after ClearEmail: %v", d)
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

// TestRedisDown: every method reports a closed connection as an internal error.
func TestRedisDown(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	s := New(rdb, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"CreateSession": func() error { _, err := s.CreateSession(ctx, &auth.Session{}); return err }(),
		"FindSession":   func() error { _, err := s.FindSession(ctx, "x"); return err }(),
		"UpdateSession": s.UpdateSession(ctx, &auth.Session{ID: "x"}),
		"DeleteSession": s.DeleteSession(ctx, "x"),
		"HitIP":         func() error { _, _, err := s.HitIP(ctx, "x", time.Second); return err }(),
		"FailEmail":     func() error { _, err := s.FailEmail(ctx, "x", 1, time.Second); return err }(),
		"EmailLocked":   func() error { _, err := s.EmailLocked(ctx, "x"); return err }(),
		"ClearEmail":    s.ClearEmail(ctx, "x"),
		"UseTOTPStep":   func() error { _, err := s.UseTOTPStep(ctx, 1, 1, time.Second); return err }(),
	} {
		if err == nil || radius.ErrorCode(err) != radius.EINTERNAL {
			t.Errorf("%s = %v; want an internal error", name, err)
		}
	}
}
