package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

func mustUser(t *testing.T, s *Store, email string) *auth.User {
	t.Helper()
	u := &auth.User{Email: email, PasswordHash: auth.HashPassword("0123456789", auth.Params{Memory: 64, Time: 1, Threads: 1}), Role: auth.RoleAdmin}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUsers(t *testing.T) {
	pool := radiustest.MustDB(t)
	s := New(pool)
	ctx := context.Background()
	u := mustUser(t, s, "a@x.io")
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser left %+v", u)
	}
	if err := s.CreateUser(ctx, &auth.User{Email: "a@x.io", PasswordHash: u.PasswordHash, Role: auth.RoleAdmin}); radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("duplicate = %v", err)
	}
	// The schema holds the invariants even against a caller that skipped the service.
	for _, bad := range []*auth.User{
		{Email: "Upper@x.io", PasswordHash: u.PasswordHash, Role: auth.RoleAdmin},
		{Email: "b@x.io", PasswordHash: "plain", Role: auth.RoleAdmin},
		{Email: "b@x.io", PasswordHash: u.PasswordHash, Role: "root"},
		{Email: "b@x.io", PasswordHash: u.PasswordHash, Role: auth.RoleReseller},
		{Email: "b@x.io", PasswordHash: u.PasswordHash, Role: auth.RoleAdmin, ResellerName: "Shop"},
	} {
		if err := s.CreateUser(ctx, bad); err == nil || radius.ErrorCode(err) != radius.EINTERNAL {
			t.Errorf("CreateUser(%+v) = %v; want a constraint violation", bad, err)
		}
	}

	if err := s.SetTOTPSecret(ctx, u.ID, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTOTPRequired(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	for i, want := range []time.Time{{}, {}, until} {
		got, err := s.RecordLoginFailure(ctx, u.ID, 3, until)
		if err != nil || !got.Equal(want) {
			t.Fatalf("failure %d: lock %v, %v; want %v", i+1, got, err, want)
		}
	}
	got, err := s.FindUserByEmail(ctx, "a@x.io")
	if err != nil || string(got.TOTPSecret) != "\x01\x02\x03" || !got.TOTPRequired || got.FailedLogins != 0 || !got.LockedUntil.Equal(until) {
		t.Fatalf("FindUserByEmail = %+v, %v", got, err)
	}
	if err := s.ResetLoginFailures(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, err = s.FindUserByID(ctx, u.ID); err != nil || !got.LockedUntil.IsZero() {
		t.Fatalf("after reset: %+v, %v", got, err)
	}
	if err := s.SetTOTPSecret(ctx, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.FindUserByID(ctx, u.ID); got.HasTOTP() {
		t.Fatal("SetTOTPSecret(nil) kept the secret")
	}

	const missing = 424242
	for name, err := range map[string]error{
		"FindUserByEmail":    func() error { _, err := s.FindUserByEmail(ctx, "no@x.io"); return err }(),
		"FindUserByID":       func() error { _, err := s.FindUserByID(ctx, missing); return err }(),
		"RecordLoginFailure": func() error { _, err := s.RecordLoginFailure(ctx, missing, 5, until); return err }(),
		"ResetLoginFailures": s.ResetLoginFailures(ctx, missing),
		"SetTOTPSecret":      s.SetTOTPSecret(ctx, missing, nil),
		"SetTOTPRequired":    s.SetTOTPRequired(ctx, missing, true),
	} {
		if radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Errorf("%s(missing) = %v; want ENOTFOUND", name, err)
		}
	}
	mustUser(t, s, "0@x.io")
	list, err := s.FindUsers(ctx)
	if err != nil || len(list) != 2 || list[0].Email != "0@x.io" {
		t.Fatalf("FindUsers = %v, %v", list, err)
	}
}

func TestAudit(t *testing.T) {
	pool := radiustest.MustDB(t)
	s := New(pool)
	ctx := context.Background()
	for _, e := range []auth.AuditEntry{
		{Actor: "a@x.io", Action: "user.unlock", Target: "user:2", Detail: map[string]any{"n": 1}, IP: "192.0.2.7"},
		{Actor: "cli:root", Action: "user.create", IP: ""},
		{Actor: "b@x.io", Action: "login.failure", IP: "not an ip"},
	} {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Audit(ctx, auth.AuditEntry{Action: "x", Detail: map[string]any{"bad": func() {}}}); err == nil {
		t.Fatal("an unencodable detail was written")
	}
	rows, err := pool.Query(ctx, `SELECT actor, action, target, detail, coalesce(host(ip), ''), at FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actor, action, target, ip string
		var detail json.RawMessage
		var at time.Time
		if err := rows.Scan(&actor, &action, &target, &detail, &ip, &at); err != nil {
			t.Fatal(err)
		}
		if time.Since(at) > time.Minute {
			t.Errorf("at = %v", at)
		}
		got = append(got, actor+"|"+action+"|"+target+"|"+string(detail)+"|"+ip)
	}
	want := []string{`a@x.io|user.unlock|user:2|{"n": 1}|192.0.2.7`, `cli:root|user.create||{}|`, `b@x.io|login.failure||{}|`}
	if len(got) != len(want) {
		t.Fatalf("rows %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %q; want %q", i, got[i], want[i])
		}
	}
}

// TestPostgresDown: every method reports an unreachable database as an internal error.
func TestPostgresDown(t *testing.T) {
	s := New(radiustest.MustDB(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"CreateUser":         s.CreateUser(ctx, &auth.User{Email: "a@x.io"}),
		"FindUserByEmail":    func() error { _, err := s.FindUserByEmail(ctx, "a@x.io"); return err }(),
		"FindUserByID":       func() error { _, err := s.FindUserByID(ctx, 1); return err }(),
		"FindUsers":          func() error { _, err := s.FindUsers(ctx); return err }(),
		"RecordLoginFailure": func() error { _, err := s.RecordLoginFailure(ctx, 1, 5, time.Now()); return err }(),
		"ResetLoginFailures": s.ResetLoginFailures(ctx, 1),
		"Audit":              s.Audit(ctx, auth.AuditEntry{Action: "x"}),
	} {
		if err == nil || radius.ErrorCode(err) != radius.EINTERNAL {
			t.Errorf("%s = %v; want an internal error", name, err)
		}
	}
}
