package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/migrations"
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
	for _, lock := range []time.Time{{}, until, until.Add(-time.Minute), {}} {
		// A lock is set when given; an earlier one does not shorten it; none keeps it.
		if err := s.RecordLoginFailure(ctx, u.ID, lock); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FindUserByEmail(ctx, "a@x.io")
	if err != nil || string(got.TOTPSecret) != "\x01\x02\x03" || !got.TOTPRequired || got.FailedLogins != 4 || !got.LockedUntil.Equal(until) {
		t.Fatalf("FindUserByEmail = %+v, %v", got, err)
	}
	// A reset before the lock ends keeps the lock; one after it clears it.
	if err := s.ResetLoginFailures(ctx, u.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err = s.FindUserByID(ctx, u.ID); err != nil || got.FailedLogins != 0 || !got.LockedUntil.Equal(until) {
		t.Fatalf("after a reset inside the lock: %+v, %v", got, err)
	}
	if err := s.ResetLoginFailures(ctx, u.ID, until); err != nil {
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
		"RecordLoginFailure": s.RecordLoginFailure(ctx, missing, until),
		"ResetLoginFailures": s.ResetLoginFailures(ctx, missing, until),
		"SetTOTPSecret":      s.SetTOTPSecret(ctx, missing, nil),
		"SetTOTPRequired":    s.SetTOTPRequired(ctx, missing, true),
		"SetDisabled":        s.SetDisabled(ctx, missing, time.Now()),
		"SetRole":            s.SetRole(ctx, missing, auth.RoleAdmin, ""),
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
		"RecordLoginFailure": s.RecordLoginFailure(ctx, 1, time.Now()),
		"ResetLoginFailures": s.ResetLoginFailures(ctx, 1, time.Now()),
		"SetDisabled":        s.SetDisabled(ctx, 1, time.Now()),
		"SetRole":            s.SetRole(ctx, 1, auth.RoleAdmin, ""),
		"Audit":              s.Audit(ctx, auth.AuditEntry{Action: "x"}),
	} {
		if err == nil || radius.ErrorCode(err) != radius.EINTERNAL {
			t.Errorf("%s = %v; want an internal error", name, err)
		}
	}
}

// mustReseller adds a billing reseller with its wallet, as `tollgate reseller add` does.
func mustReseller(t *testing.T, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	var id int64
	err := pool.QueryRow(context.Background(), `WITH r AS (INSERT INTO resellers (name) VALUES ($1) RETURNING id, credit_limit_cents)
		INSERT INTO wallets (reseller_id, credit_limit_cents) SELECT id, credit_limit_cents FROM r RETURNING reseller_id`, name).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestResellerForeignKey: a reseller account names an existing reseller through a
// foreign key; an unknown name is refused clearly, the name is read through the key (so
// a renamed reseller is followed), and the schema refuses what the store would.
func TestResellerForeignKey(t *testing.T) {
	pool := radiustest.MustDB(t)
	s := New(pool)
	ctx := context.Background()
	shop := mustReseller(t, pool, "Corner Shop")
	hash := auth.HashPassword("0123456789", auth.Params{Memory: 64, Time: 1, Threads: 1})
	r := &auth.User{Email: "r@x.io", PasswordHash: hash, Role: auth.RoleReseller, ResellerName: "Corner Shop"}
	if err := s.CreateUser(ctx, r); err != nil || r.ResellerID != shop {
		t.Fatalf("CreateUser = %v; reseller id %d, want %d", err, r.ResellerID, shop)
	}
	err := s.CreateUser(ctx, &auth.User{Email: "g@x.io", PasswordHash: hash, Role: auth.RoleReseller, ResellerName: "Ghost Shop"})
	if radius.ErrorCode(err) != radius.EINVALID || radius.ErrorMessage(err) != `reseller: no reseller named "Ghost Shop" (add it first: tollgate reseller add --name "Ghost Shop")` {
		t.Fatalf("unknown reseller = %v", err)
	}
	if _, err := s.FindUserByEmail(ctx, "g@x.io"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("the refused account was stored: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE resellers SET name = 'Corner Shop Ltd' WHERE id = $1`, shop); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindUserByID(ctx, r.ID); err != nil || got.ResellerName != "Corner Shop Ltd" || got.ResellerID != shop {
		t.Fatalf("after the rename: %+v, %v", got, err)
	}
	// Role changes go through the same key.
	if err := s.SetRole(ctx, r.ID, auth.RoleReseller, "Nowhere"); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("SetRole to an unknown reseller = %v", err)
	}
	if err := s.SetRole(ctx, r.ID, auth.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindUserByID(ctx, r.ID); got.Role != auth.RoleAdmin || got.ResellerID != 0 || got.ResellerName != "" {
		t.Fatalf("after SetRole admin: %+v", got)
	}
	// The schema: no free text any more, no dangling key, no reseller without one.
	for _, sql := range []string{
		`INSERT INTO portal_users (email, password_hash, role, reseller_id) VALUES ('x@x.io', '$argon2id$x', 'reseller', 999999)`,
		`INSERT INTO portal_users (email, password_hash, role) VALUES ('y@x.io', '$argon2id$x', 'reseller')`,
		`INSERT INTO portal_users (email, password_hash, role, reseller_id) VALUES ('z@x.io', '$argon2id$x', 'admin', ` + itoa(shop) + `)`,
		`DELETE FROM resellers WHERE id = ` + itoa(shop),
	} {
		if _, err := pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s: accepted", sql)
		}
	}
	var cols int
	pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'portal_users' AND column_name = 'reseller_name'`).Scan(&cols)
	if cols != 0 {
		t.Error("portal_users still has the free-text reseller_name")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSessionGeneration: every change an open session relies on bumps the user's
// session generation in the same statement; sign-in bookkeeping does not.
func TestSessionGeneration(t *testing.T) {
	pool := radiustest.MustDB(t)
	s := New(pool)
	ctx := context.Background()
	mustReseller(t, pool, "Shop")
	u := mustUser(t, s, "a@x.io")
	if u.SessionGen != 1 {
		t.Fatalf("new user generation %d; want 1", u.SessionGen)
	}
	gen := func() int64 {
		t.Helper()
		got, err := s.FindUserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.SessionGen
	}
	now := time.Now().Truncate(time.Microsecond)
	want := int64(1)
	for _, tc := range []struct {
		name string
		do   func() error
		bump bool
	}{
		{"TOTP secret", func() error { return s.SetTOTPSecret(ctx, u.ID, []byte{1}) }, true},
		{"TOTP required", func() error { return s.SetTOTPRequired(ctx, u.ID, true) }, true},
		{"role", func() error { return s.SetRole(ctx, u.ID, auth.RoleReseller, "Shop") }, true},
		{"disabled", func() error { return s.SetDisabled(ctx, u.ID, now) }, true},
		{"enabled", func() error { return s.SetDisabled(ctx, u.ID, time.Time{}) }, true},
		{"login failure", func() error { return s.RecordLoginFailure(ctx, u.ID, time.Time{}) }, false},
		{"login reset", func() error { return s.ResetLoginFailures(ctx, u.ID, now) }, false},
	} {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.bump {
			want++
		}
		if g := gen(); g != want {
			t.Fatalf("after %s: generation %d; want %d", tc.name, g, want)
		}
	}
	if err := s.SetDisabled(ctx, u.ID, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindUserByID(ctx, u.ID); !got.Disabled() || !got.DisabledAt.Equal(now) {
		t.Fatalf("disabled_at = %v; want %v", got.DisabledAt, now)
	}
}

// TestAuditAppendOnly: audit_log refuses UPDATE, DELETE and TRUNCATE, like the ledger.
func TestAuditAppendOnly(t *testing.T) {
	pool := radiustest.MustDB(t)
	s := New(pool)
	ctx := context.Background()
	if err := s.Audit(ctx, auth.AuditEntry{Actor: "a@x.io", Action: "user.disable", Target: "user:2"}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE audit_log SET actor = 'someone else'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
	} {
		_, err := pool.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23001" || !strings.Contains(pe.Message, "audit_log is append-only") {
			t.Errorf("%s = %v; want refused as append-only", sql, err)
		}
	}
	var n int
	var actor string
	if err := pool.QueryRow(ctx, `SELECT count(*), min(actor) FROM audit_log`).Scan(&n, &actor); err != nil || n != 1 || actor != "a@x.io" {
		t.Fatalf("audit_log after the attempts: %d rows, actor %q, %v", n, actor, err)
	}
}

// TestMigrationLinksResellersByName: migration 0008 turns the free-text reseller names
// of existing accounts into the foreign key, matching by name; a name with no reseller
// gets one (with an empty wallet) so no account loses its pages.
func TestMigrationLinksResellersByName(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, radiustest.MustEmptyDBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The schema as 0007 left it.
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, name := range migrations.Names() {
		if name >= "0008" {
			break
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "migrations", name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
			t.Fatal(err)
		}
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO resellers (name) VALUES ('Corner Shop');
		INSERT INTO wallets (reseller_id) SELECT id FROM resellers;
		INSERT INTO portal_users (email, password_hash, role, reseller_name) VALUES
			('admin@x.io', '$argon2id$x', 'admin', NULL),
			('shop@x.io', '$argon2id$x', 'reseller', 'Corner Shop'),
			('kiosk@x.io', '$argon2id$x', 'reseller', 'Kiosk'),
			('kiosk2@x.io', '$argon2id$x', 'reseller', 'Kiosk')`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT u.email, coalesce(r.name, '-'), (w.reseller_id IS NOT NULL)
		FROM portal_users u LEFT JOIN resellers r ON r.id = u.reseller_id LEFT JOIN wallets w ON w.reseller_id = r.id ORDER BY u.email`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var email, name string
		var wallet bool
		if err := rows.Scan(&email, &name, &wallet); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s=%s/%v", email, name, wallet))
	}
	rows.Close()
	want := "admin@x.io=-/false kiosk2@x.io=Kiosk/true kiosk@x.io=Kiosk/true shop@x.io=Corner Shop/true"
	if strings.Join(got, " ") != want {
		t.Fatalf("after 0008: %s; want %s", strings.Join(got, " "), want)
	}
	var resellers int
	conn.QueryRow(ctx, `SELECT count(*) FROM resellers`).Scan(&resellers)
	if resellers != 2 {
		t.Fatalf("%d resellers; want 2 (Corner Shop and the Kiosk the migration added once)", resellers)
	}
}
