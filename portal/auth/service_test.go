package auth_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/portal/auth"
	"tollgate/portal/auth/authtest"
	authpg "tollgate/portal/auth/postgres"
	authredis "tollgate/portal/auth/redis"
	"tollgate/radius"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc    *auth.Service
	faults *authtest.Faults
	pool   *pgxpool.Pool
	users  *authpg.Store
	clock  *clock
}

// mustService returns a Service on a fresh database and Redis prefix, with cheap hashing.
func mustService(t *testing.T) *env {
	t.Helper()
	pool := radiustest.MustDB(t)
	rdb, prefix := radiustest.MustRedis(t)
	s, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	users := authpg.New(pool)
	f := &authtest.Faults{}
	svc := auth.New(authtest.Users{UserStore: users, Faults: f}, authtest.Limits{Limiter: authredis.New(rdb, prefix), Faults: f}, authtest.Sealer{Sealer: s, Faults: f})
	svc.Params = auth.Params{Memory: 64, Time: 1, Threads: 1}
	c := &clock{t: time.Now()}
	svc.Now = c.Now
	return &env{svc: svc, faults: f, pool: pool, users: users, clock: c}
}

func (e *env) mustUser(t *testing.T, email string, role auth.Role) *auth.User {
	t.Helper()
	n := auth.NewUser{Email: email, Password: "password-" + email, Role: role}
	if role == auth.RoleReseller {
		n.ResellerName = "Shop " + email
	}
	u, err := e.svc.CreateUser(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCreateUser(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, auth.NewUser{Email: " Admin@Example.com", Password: "0123456789", Role: auth.RoleAdmin, TOTPRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.users.FindUserByEmail(ctx, "admin@example.com")
	if err != nil || got.ID != u.ID || got.Role != auth.RoleAdmin || !got.TOTPRequired || got.CreatedAt.IsZero() || got.ResellerName != "" {
		t.Fatalf("stored %+v, %v", got, err)
	}
	if ok, _ := auth.VerifyPassword("0123456789", got.PasswordHash); !ok {
		t.Fatal("stored hash does not verify")
	}
	for _, tc := range []struct {
		name string
		n    auth.NewUser
		code string
	}{
		{"taken, other case", auth.NewUser{Email: "ADMIN@example.com", Password: "0123456789", Role: auth.RoleAdmin}, radius.ECONFLICT},
		{"bad email", auth.NewUser{Email: "nobody", Password: "0123456789", Role: auth.RoleAdmin}, radius.EINVALID},
		{"short password", auth.NewUser{Email: "b@x.io", Password: "short", Role: auth.RoleAdmin}, radius.EINVALID},
		{"bad role", auth.NewUser{Email: "b@x.io", Password: "0123456789", Role: "root"}, radius.EINVALID},
		{"reseller without name", auth.NewUser{Email: "b@x.io", Password: "0123456789", Role: auth.RoleReseller}, radius.EINVALID},
		{"reseller name too long", auth.NewUser{Email: "b@x.io", Password: "0123456789", Role: auth.RoleReseller, ResellerName: string(bytes.Repeat([]byte("n"), 65))}, radius.EINVALID},
		{"admin with name", auth.NewUser{Email: "b@x.io", Password: "0123456789", Role: auth.RoleAdmin, ResellerName: "Shop"}, radius.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.CreateUser(ctx, tc.n); radius.ErrorCode(err) != tc.code {
				t.Fatalf("CreateUser = %v; want %s", err, tc.code)
			}
		})
	}
	r, err := e.svc.CreateUser(ctx, auth.NewUser{Email: "r@x.io", Password: "0123456789", Role: auth.RoleReseller, ResellerName: " Corner Shop "})
	if err != nil || r.ResellerName != "Corner Shop" {
		t.Fatalf("reseller: %+v, %v", r, err)
	}
	list, err := e.users.FindUsers(ctx)
	if err != nil || len(list) != 2 || list[0].Email != "admin@example.com" || list[1].ResellerName != "Corner Shop" {
		t.Fatalf("FindUsers = %v, %v", list, err)
	}
}

func TestLogin(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	got, err := e.svc.Login(ctx, "A@X.io", "password-a@x.io", "192.0.2.1")
	if err != nil || got.ID != u.ID {
		t.Fatalf("Login = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name, email, pw string
		want            error
		code            string
	}{
		{"wrong password", "a@x.io", "nope-nope-nope", auth.ErrBadCredentials, ""},
		{"unknown email", "b@x.io", "password-a@x.io", auth.ErrBadCredentials, ""},
		{"malformed email", "b@", "password-a@x.io", auth.ErrBadCredentials, ""},
		{"huge password", "a@x.io", string(bytes.Repeat([]byte("p"), auth.MaxPasswordLen+1)), auth.ErrBadCredentials, ""},
		{"empty email", " ", "x", nil, radius.EINVALID},
		{"empty password", "a@x.io", "", nil, radius.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Login(ctx, tc.email, tc.pw, "192.0.2.1")
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Login = %v; want %v", err, tc.want)
			}
			if tc.code != "" && radius.ErrorCode(err) != tc.code {
				t.Fatalf("Login = %v; want %s", err, tc.code)
			}
		})
	}
	// The wrong password counted against a@x.io; a success clears it.
	if u, _ = e.users.FindUserByID(ctx, u.ID); u.FailedLogins != 2 {
		t.Fatalf("failed_logins = %d; want 2 (wrong and huge password)", u.FailedLogins)
	}
	if _, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if u, _ = e.users.FindUserByID(ctx, u.ID); u.FailedLogins != 0 {
		t.Fatalf("failed_logins = %d after a success; want 0", u.FailedLogins)
	}
}

func TestLockout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		email string
		known bool
	}{{"known email", "a@x.io", true}, {"unknown email", "ghost@x.io", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustService(t)
			ctx := context.Background()
			u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
			for i := range 5 {
				// A new address each time: the lock is per email, not per IP.
				ip := "192.0.2." + string(rune('1'+i))
				if _, err := e.svc.Login(ctx, tc.email, "wrong-password", ip); !errors.Is(err, auth.ErrBadCredentials) {
					t.Fatalf("attempt %d: %v", i+1, err)
				}
			}
			_, err := e.svc.Login(ctx, tc.email, "password-a@x.io", "198.51.100.1")
			le, ok := auth.IsLimit(err)
			if !ok || !le.Locked || le.RetryAfter < 14*time.Minute || le.RetryAfter > 15*time.Minute {
				t.Fatalf("6th attempt = %v; want a 15-minute lock", err)
			}
			if radius.ErrorCode(err) != radius.EUNAUTHORIZED {
				t.Fatalf("code %q", radius.ErrorCode(err))
			}
			if !tc.known {
				// The lock of an unknown email reads exactly like a known one's.
				return
			}
			got, _ := e.users.FindUserByID(ctx, u.ID)
			if got.LockedUntil.Sub(e.clock.Now()) < 14*time.Minute || got.FailedLogins != 0 {
				t.Fatalf("locked_until %v, failed %d; want a lock 15 min ahead", got.LockedUntil, got.FailedLogins)
			}
			if err := e.svc.Unlock(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Login(ctx, tc.email, "password-a@x.io", "198.51.100.1"); err != nil {
				t.Fatalf("after Unlock: %v", err)
			}
			if err := e.svc.Unlock(ctx, 99999); radius.ErrorCode(err) != radius.ENOTFOUND {
				t.Fatalf("Unlock(missing) = %v", err)
			}
		})
	}
}

// TestLockoutInPostgres: the lock in portal_users holds even when Redis forgot it.
func TestLockoutInPostgres(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	if _, err := e.users.RecordLoginFailure(ctx, u.ID, 1, e.clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.1")
	if le, ok := auth.IsLimit(err); !ok || !le.Locked || le.RetryAfter > 10*time.Minute {
		t.Fatalf("Login = %v; want locked ~10 min", err)
	}
	e.clock.Add(11 * time.Minute)
	if _, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.1"); err != nil {
		t.Fatalf("after the lock ran out: %v", err)
	}
	if got, _ := e.users.FindUserByID(ctx, u.ID); !got.LockedUntil.IsZero() {
		t.Fatalf("locked_until = %v after a success; want cleared", got.LockedUntil)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	e.mustUser(t, "a@x.io", auth.RoleAdmin)
	for i := range 10 {
		// Different emails: only the per-IP limit can trip.
		email := string(rune('a'+i)) + "x@x.io"
		if _, err := e.svc.Login(ctx, email, "wrong-password", "192.0.2.9"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	_, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.9")
	le, ok := auth.IsLimit(err)
	if !ok || le.Locked || le.RetryAfter <= 0 || le.RetryAfter > time.Minute {
		t.Fatalf("11th attempt = %v; want the per-IP limit", err)
	}
	if _, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.10"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if _, err := e.svc.LoginTOTP(ctx, 1, "000000", "192.0.2.9"); !isLimit(err) {
		t.Fatalf("the TOTP step counts too: %v", err)
	}
}

func isLimit(err error) bool { _, ok := auth.IsLimit(err); return ok }

func TestTOTPLogin(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	sealed, uri, err := e.svc.BeginEnroll(u)
	if err != nil || uri == "" {
		t.Fatal(err)
	}
	if again, err := e.svc.EnrollURI(u.Email, sealed); err != nil || again != uri {
		t.Fatalf("EnrollURI = %q, %v; want %q", again, err, uri)
	}
	secret := secretOf(t, e, sealed)
	if err := e.svc.FinishEnroll(ctx, u.ID, sealed, "000000"); radius.ErrorCode(err) != radius.EUNAUTHORIZED {
		t.Fatalf("FinishEnroll(wrong) = %v", err)
	}
	code, _ := auth.TOTPCode(secret, e.clock.Now())
	if err := e.svc.FinishEnroll(ctx, u.ID, sealed, code); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.1")
	if err != nil || !got.HasTOTP() {
		t.Fatalf("Login = %+v, %v; want a user with TOTP", got, err)
	}
	// The enrolment used this step's code: it cannot sign in.
	if _, err := e.svc.LoginTOTP(ctx, u.ID, code, "192.0.2.1"); radius.ErrorCode(err) != radius.EUNAUTHORIZED {
		t.Fatalf("replayed code = %v", err)
	}
	e.clock.Add(30 * time.Second)
	code, _ = auth.TOTPCode(secret, e.clock.Now())
	if _, err := e.svc.LoginTOTP(ctx, u.ID, code, "192.0.2.1"); err != nil {
		t.Fatalf("LoginTOTP = %v", err)
	}
	if got, _ := e.users.FindUserByID(ctx, u.ID); got.FailedLogins != 0 {
		t.Fatalf("failed_logins = %d after a complete sign-in", got.FailedLogins)
	}
	if _, err := e.svc.LoginTOTP(ctx, u.ID, code, "192.0.2.1"); radius.ErrorCode(err) != radius.EUNAUTHORIZED {
		t.Fatalf("second use of a code = %v", err)
	}
	// Wrong codes lock like wrong passwords (the replay above was the first failure).
	for range 4 {
		e.svc.LoginTOTP(ctx, u.ID, "000000", "192.0.2.3")
	}
	e.clock.Add(30 * time.Second)
	code, _ = auth.TOTPCode(secret, e.clock.Now())
	if _, err := e.svc.LoginTOTP(ctx, u.ID, code, "192.0.2.4"); !isLimit(err) {
		t.Fatalf("after 5 wrong codes = %v; want locked", err)
	}
	if _, err := e.svc.LoginTOTP(ctx, 99999, code, "192.0.2.4"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown user = %v", err)
	}
	plain := e.mustUser(t, "p@x.io", auth.RoleAdmin)
	if _, err := e.svc.LoginTOTP(ctx, plain.ID, code, "192.0.2.4"); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("user without TOTP = %v", err)
	}
}

func secretOf(t *testing.T, e *env, sealed []byte) string {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRequireTOTP(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "r@x.io", auth.RoleReseller)
	if err := e.svc.RequireTOTP(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.users.FindUserByID(ctx, u.ID); !got.TOTPRequired {
		t.Fatal("totp_required not set")
	}
	if err := e.svc.RequireTOTP(ctx, 99999, true); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("RequireTOTP(missing) = %v", err)
	}
}

// TestStoreFailures: a failing store is reported, never taken for a success or for a
// wrong password.
func TestStoreFailures(t *testing.T) {
	e := mustService(t)
	e.svc.Policy.IPAttempts = 1000 // every case from one address
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	sealed, _, err := e.svc.BeginEnroll(u)
	if err != nil {
		t.Fatal(err)
	}
	withTOTP := e.mustUser(t, "t@x.io", auth.RoleAdmin)
	tsealed, _, _ := e.svc.BeginEnroll(withTOTP)
	if err := e.users.SetTOTPSecret(ctx, withTOTP.ID, tsealed); err != nil {
		t.Fatal(err)
	}
	tsecret := secretOf(t, e, tsealed)
	code := func() string {
		e.clock.Add(30 * time.Second)
		c, _ := auth.TOTPCode(tsecret, e.clock.Now())
		return c
	}
	login := func(pw string) func() error {
		return func() error { _, err := e.svc.Login(ctx, "a@x.io", pw, "192.0.2.1"); return err }
	}
	loginTOTP := func(c func() string) func() error {
		return func() error { _, err := e.svc.LoginTOTP(ctx, withTOTP.ID, c(), "192.0.2.1"); return err }
	}
	wrong := func() string { return "000000" }
	for _, tc := range []struct {
		name string
		fail []string
		// prepare runs before the faults are on.
		prepare func()
		call    func() error
	}{
		{"create", []string{"CreateUser"}, nil, func() error {
			_, err := e.svc.CreateUser(ctx, auth.NewUser{Email: "n@x.io", Password: "0123456789", Role: auth.RoleAdmin})
			return err
		}},
		{"login: IP counter", []string{"HitIP"}, nil, login("password-a@x.io")},
		{"login: lookup", []string{"FindUserByEmail"}, nil, login("password-a@x.io")},
		{"login: lock", []string{"EmailLocked"}, nil, login("password-a@x.io")},
		{"login: failure counter", []string{"FailEmail"}, nil, login("wrong-password")},
		{"login: failure record", []string{"RecordLoginFailure"}, nil, login("wrong-password")},
		{"login: clear", []string{"ClearEmail"}, nil, login("password-a@x.io")},
		{"login: reset", []string{"ResetLoginFailures"}, func() { e.svc.Login(ctx, "a@x.io", "wrong-password", "192.0.2.1") }, login("password-a@x.io")},
		{"login: corrupt hash", nil, func() {
			e.pool.Exec(ctx, `UPDATE portal_users SET password_hash = '$argon2id$v=19$m=1,t=1,p=1$x$y' WHERE id = $1`, u.ID)
		}, login("password-a@x.io")},
		{"TOTP: IP counter", []string{"HitIP"}, nil, loginTOTP(code)},
		{"TOTP: lookup", []string{"FindUserByID"}, nil, loginTOTP(code)},
		{"TOTP: lock", []string{"EmailLocked"}, nil, loginTOTP(code)},
		{"TOTP: secret", []string{"Open"}, nil, loginTOTP(code)},
		{"TOTP: replay record", []string{"UseTOTPStep"}, nil, loginTOTP(code)},
		{"TOTP: failure counter", []string{"FailEmail"}, nil, loginTOTP(wrong)},
		{"TOTP: clear", []string{"ClearEmail"}, nil, loginTOTP(code)},
		{"enrol URI", []string{"Open"}, nil, func() error { _, err := e.svc.EnrollURI(u.Email, sealed); return err }},
		{"enrol finish", []string{"Open"}, nil, func() error { return e.svc.FinishEnroll(ctx, u.ID, sealed, "000000") }},
		{"unlock: lookup", []string{"FindUserByID"}, nil, func() error { return e.svc.Unlock(ctx, u.ID) }},
		{"unlock: reset", []string{"ResetLoginFailures"}, nil, func() error { return e.svc.Unlock(ctx, u.ID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prepare != nil {
				tc.prepare()
			}
			e.faults.Fail(tc.fail...)
			err := tc.call()
			e.faults.Heal()
			if err == nil || radius.ErrorCode(err) != radius.EINTERNAL || isLimit(err) {
				t.Fatalf("= %v; want an internal error", err)
			}
		})
	}
}
