package auth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

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
	svc      *auth.Service
	faults   *authtest.Faults
	pool     *pgxpool.Pool
	rdb      *goredis.Client
	prefix   string
	users    *authpg.Store
	sessions *authredis.Store
	clock    *clock
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
	rd := authredis.New(rdb, prefix)
	f := &authtest.Faults{}
	svc := auth.New(authtest.Users{UserStore: users, Faults: f}, authtest.Limits{Limiter: rd, Faults: f}, authtest.Sealer{Sealer: s, Faults: f})
	svc.Sessions = authtest.Sessions{SessionStore: rd, Faults: f}
	svc.Params = auth.Params{Memory: 64, Time: 1, Threads: 1}
	c := &clock{t: time.Now()}
	svc.Now = c.Now
	return &env{svc: svc, faults: f, pool: pool, rdb: rdb, prefix: prefix, users: users, sessions: rd, clock: c}
}

// mustReseller adds a billing reseller named name with its wallet, as `tollgate reseller
// add` does: a reseller account must name one.
func (e *env) mustReseller(t *testing.T, name string) {
	t.Helper()
	_, err := e.pool.Exec(context.Background(), `WITH r AS (INSERT INTO resellers (name) VALUES ($1) RETURNING id, credit_limit_cents)
		INSERT INTO wallets (reseller_id, credit_limit_cents) SELECT id, credit_limit_cents FROM r`, name)
	if err != nil {
		t.Fatal(err)
	}
}

// expire ends the Redis keys of pattern (under the env's prefix) as their TTL would: the
// limiter's windows and locks run on Redis's clock, not the injected one.
func (e *env) expire(t *testing.T, pattern string) {
	t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, e.prefix+pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		e.rdb.Del(ctx, keys...)
	}
}

func (e *env) mustUser(t *testing.T, email string, role auth.Role) *auth.User {
	t.Helper()
	n := auth.NewUser{Email: email, Password: "password-" + email, Role: role}
	if role == auth.RoleReseller {
		n.ResellerName = "Shop " + email
		e.mustReseller(t, n.ResellerName)
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
		{"unknown reseller", auth.NewUser{Email: "b@x.io", Password: "0123456789", Role: auth.RoleReseller, ResellerName: "Ghost Shop"}, radius.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.CreateUser(ctx, tc.n); radius.ErrorCode(err) != tc.code {
				t.Fatalf("CreateUser = %v; want %s", err, tc.code)
			}
		})
	}
	e.mustReseller(t, "Corner Shop")
	r, err := e.svc.CreateUser(ctx, auth.NewUser{Email: "r@x.io", Password: "0123456789", Role: auth.RoleReseller, ResellerName: " Corner Shop "})
	if err != nil || r.ResellerName != "Corner Shop" || r.ResellerID == 0 {
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

// TestLockoutPerAddress: five failures for an email from one address lock that email at
// that address only, known email or not, and the next lock of the pair lasts twice as
// long; the right password from another address still signs in.
func TestLockoutPerAddress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		email string
		known bool
	}{{"known email", "a@x.io", true}, {"unknown email", "ghost@x.io", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustService(t)
			ctx := context.Background()
			u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
			attack := func() {
				t.Helper()
				for i := range 5 {
					if _, err := e.svc.Login(ctx, tc.email, "wrong-password", "192.0.2.66"); !errors.Is(err, auth.ErrBadCredentials) {
						t.Fatalf("attempt %d: %v", i+1, err)
					}
				}
			}
			attack()
			_, err := e.svc.Login(ctx, tc.email, "password-a@x.io", "192.0.2.66")
			le, ok := auth.IsLimit(err)
			if !ok || !le.Locked || le.RetryAfter < 14*time.Minute || le.RetryAfter > 15*time.Minute {
				t.Fatalf("6th attempt from the same address = %v; want a 15-minute lock", err)
			}
			if radius.ErrorCode(err) != radius.EUNAUTHORIZED {
				t.Fatalf("code %q", radius.ErrorCode(err))
			}
			if !tc.known {
				// The lock of an unknown email reads exactly like a known one's.
				return
			}
			if _, err := e.svc.Login(ctx, tc.email, "password-a@x.io", "198.51.100.1"); err != nil {
				t.Fatalf("the right password from another address: %v", err)
			}
			if got, _ := e.users.FindUserByID(ctx, u.ID); !got.LockedUntil.IsZero() {
				t.Fatalf("locked_until %v: one address locked the account", got.LockedUntil)
			}
			// The lock and the minute run out; the next five failures lock the address for
			// 30 minutes.
			e.expire(t, "portal:plock:*")
			e.expire(t, "portal:ip:*")
			attack()
			_, err = e.svc.Login(ctx, tc.email, "password-a@x.io", "192.0.2.66")
			if le, ok := auth.IsLimit(err); !ok || le.RetryAfter < 29*time.Minute || le.RetryAfter > 30*time.Minute {
				t.Fatalf("second lock = %v; want 30 minutes", err)
			}
			if err := e.svc.Unlock(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Login(ctx, tc.email, "password-a@x.io", "192.0.2.66"); err != nil {
				t.Fatalf("after Unlock: %v", err)
			}
			if err := e.svc.Unlock(ctx, 99999); radius.ErrorCode(err) != radius.ENOTFOUND {
				t.Fatalf("Unlock(missing) = %v", err)
			}
		})
	}
}

// TestAttackerCannotLockAdminOut is the lockout design's promise: an attacker who keeps
// sending wrong passwords for the admin's email from one address (an IPv4 address, or
// any addresses of one IPv6 /64), for as long as he likes, never stops the admin
// signing in from another address, and never sets the account-wide lock.
func TestAttackerCannotLockAdminOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source func(i int) string
	}{
		{"one IPv4 address", func(int) string { return "203.0.113.9" }},
		{"every address of one IPv6 /64", func(i int) string { return fmt.Sprintf("2001:db8:bad:1::%x", i+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustService(t)
			ctx := context.Background()
			u := e.mustUser(t, "admin@x.io", auth.RoleAdmin)
			sent := 0
			for round := range 8 {
				// Each round the attacker sends more than the policy allows; then the
				// windows and locks of his address run out, as they would in 15 minutes
				// to a day, and he starts again.
				for range 12 {
					_, err := e.svc.Login(ctx, u.Email, fmt.Sprintf("guess-%d", sent), tc.source(sent))
					sent++
					if err == nil {
						t.Fatal("a guess signed in")
					}
				}
				if _, err := e.svc.Login(ctx, u.Email, "password-admin@x.io", "198.51.100.20"); err != nil {
					t.Fatalf("round %d: the admin at another address = %v", round+1, err)
				}
				e.expire(t, "portal:plock:*")
				e.expire(t, "portal:ip:*")
			}
			if got, _ := e.users.FindUserByID(ctx, u.ID); !got.LockedUntil.IsZero() {
				t.Fatalf("locked_until %v: one source set the account-wide lock", got.LockedUntil)
			}
			// Meanwhile the attacker's source was held longer each round: the backoff
			// is at its day-long maximum now.
			for range 5 {
				e.svc.Login(ctx, u.Email, "guess", tc.source(sent))
				sent++
			}
			_, err := e.svc.Login(ctx, u.Email, "password-admin@x.io", tc.source(sent))
			if le, ok := auth.IsLimit(err); !ok || le.RetryAfter < 23*time.Hour {
				t.Fatalf("the attacker's source after 8 rounds = %v; want held for a day", err)
			}
		})
	}
}

// TestAccountLockNeedsSpreadFailures: failures from several addresses (a distributed
// guess) lock the account everywhere but where it signed in before; an admin can lift it.
func TestAccountLockNeedsSpreadFailures(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "admin@x.io", auth.RoleAdmin)
	const home = "198.51.100.20"
	if _, err := e.svc.Login(ctx, u.Email, "password-admin@x.io", home); err != nil {
		t.Fatal(err)
	}
	// 20 failures from 5 addresses, 4 each: no address reaches its own lock.
	for i := range 20 {
		ip := fmt.Sprintf("203.0.113.%d", i%5+1)
		if _, err := e.svc.Login(ctx, u.Email, "wrong-password", ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err := e.svc.Login(ctx, u.Email, "password-admin@x.io", "192.0.2.200")
	if le, ok := auth.IsLimit(err); !ok || !le.Locked || le.RetryAfter > 15*time.Minute {
		t.Fatalf("a new address during the account lock = %v; want locked", err)
	}
	got, _ := e.users.FindUserByID(ctx, u.ID)
	if d := got.LockedUntil.Sub(e.clock.Now()); d < 14*time.Minute || d > 15*time.Minute {
		t.Fatalf("locked_until %v; want 15 min ahead", got.LockedUntil)
	}
	if _, err := e.svc.Login(ctx, u.Email, "password-admin@x.io", home); err != nil {
		t.Fatalf("the admin's known address during the account lock = %v", err)
	}
	if err := e.svc.Unlock(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, u.Email, "password-admin@x.io", "192.0.2.200"); err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
}

func TestAfterFailure(t *testing.T) {
	p := auth.DefaultPolicy
	for _, tc := range []struct {
		name          string
		c             auth.FailCounts
		addr, account time.Duration
	}{
		{"first failure", auth.FailCounts{Addr: 1, Account: 1, Addrs: 1}, 0, 0},
		{"fifth at one address", auth.FailCounts{Addr: 5, Account: 5, Addrs: 1}, 15 * time.Minute, 0},
		{"second lock doubles", auth.FailCounts{Addr: 5, Level: 1, Account: 10, Addrs: 1}, 30 * time.Minute, 0},
		{"fourth lock", auth.FailCounts{Addr: 5, Level: 3, Account: 20, Addrs: 1}, 2 * time.Hour, 0},
		{"capped at a day", auth.FailCounts{Addr: 5, Level: 40, Account: 1000, Addrs: 1}, 24 * time.Hour, 0},
		{"many failures, one address: no account lock", auth.FailCounts{Addr: 4, Account: 500, Addrs: 1}, 0, 0},
		{"spread below the count", auth.FailCounts{Addr: 1, Account: 19, Addrs: 10}, 0, 0},
		{"spread over two addresses", auth.FailCounts{Addr: 1, Account: 20, Addrs: 2}, 0, 0},
		{"spread over three addresses", auth.FailCounts{Addr: 1, Account: 20, Addrs: 3}, 0, 15 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, account := p.AfterFailure(tc.c)
			if addr != tc.addr || account != tc.account {
				t.Fatalf("AfterFailure(%+v) = %v, %v; want %v, %v", tc.c, addr, account, tc.addr, tc.account)
			}
		})
	}
	// Even a policy that asks for one address cannot let one address lock the account.
	one := p
	one.AccountAddrs = 1
	if _, account := one.AfterFailure(auth.FailCounts{Addr: 1, Account: 100, Addrs: 1}); account != 0 {
		t.Fatalf("AccountAddrs 1: one address set the account lock")
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
		"":                     "",
	} {
		if got := auth.AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestLockoutInPostgres: the account-wide lock in portal_users holds even when Redis
// forgot it, and a sign-in after it ran out clears it.
func TestLockoutInPostgres(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	if err := e.users.RecordLoginFailure(ctx, u.ID, e.clock.Now().Add(10*time.Minute)); err != nil {
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

// TestRateLimitPerAddress: attempts count per IPv4 address and per IPv6 /64: two
// addresses in one /64 share a counter, another /64 does not.
func TestRateLimitPerAddress(t *testing.T) {
	for _, tc := range []struct {
		name             string
		first, same, off string
	}{
		{"IPv4", "192.0.2.9", "192.0.2.9", "192.0.2.10"},
		{"IPv6", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:3::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustService(t)
			ctx := context.Background()
			e.mustUser(t, "a@x.io", auth.RoleAdmin)
			for i := range 10 {
				// Different emails: only the per-address limit can trip.
				email := string(rune('a'+i)) + "x@x.io"
				ip := tc.first
				if i%2 == 1 {
					ip = tc.same
				}
				if _, err := e.svc.Login(ctx, email, "wrong-password", ip); !errors.Is(err, auth.ErrBadCredentials) {
					t.Fatalf("attempt %d: %v", i+1, err)
				}
			}
			_, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", tc.same)
			le, ok := auth.IsLimit(err)
			if !ok || le.Locked || le.RetryAfter <= 0 || le.RetryAfter > time.Minute {
				t.Fatalf("11th attempt = %v; want the per-address limit", err)
			}
			if _, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", tc.off); err != nil {
				t.Fatalf("another address = %v", err)
			}
			if _, err := e.svc.LoginTOTP(ctx, 1, "000000", tc.first); !isLimit(err) {
				t.Fatalf("the TOTP step counts too: %v", err)
			}
		})
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
	if again, err := e.svc.EnrollURI(u.ID, u.Email, sealed); err != nil || again != uri {
		t.Fatalf("EnrollURI = %q, %v; want %q", again, err, uri)
	}
	secret := secretOf(t, e, sealed, u.ID)
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
	// Wrong codes lock like wrong passwords: at the address they came from.
	for range 5 {
		e.svc.LoginTOTP(ctx, u.ID, "000000", "192.0.2.3")
	}
	e.clock.Add(30 * time.Second)
	code, _ = auth.TOTPCode(secret, e.clock.Now())
	if _, err := e.svc.LoginTOTP(ctx, u.ID, code, "192.0.2.3"); !isLimit(err) {
		t.Fatalf("after 5 wrong codes = %v; want locked", err)
	}
	if _, err := e.svc.LoginTOTP(ctx, u.ID, code, "192.0.2.4"); err != nil {
		t.Fatalf("from another address = %v", err)
	}
	if _, err := e.svc.LoginTOTP(ctx, 99999, code, "192.0.2.4"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown user = %v", err)
	}
	plain := e.mustUser(t, "p@x.io", auth.RoleAdmin)
	if _, err := e.svc.LoginTOTP(ctx, plain.ID, code, "192.0.2.4"); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("user without TOTP = %v", err)
	}
}

func secretOf(t *testing.T, e *env, sealed []byte, userID int64) string {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(sealed, radius.SealTOTPSecret.AD(userID))
	if err != nil {
		t.Fatal(err)
	}
	// Bound to the user: another user's row does not open it.
	if _, err := s.Open(sealed, radius.SealTOTPSecret.AD(userID+1)); err == nil {
		t.Fatal("a TOTP secret opened for another user")
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
	e.svc.Policy.AddrAttempts = 1000 // every case from one address
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
	tsecret := secretOf(t, e, tsealed, withTOTP.ID)
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
		{"login: address counter", []string{"HitAddr"}, nil, login("password-a@x.io")},
		{"login: lookup", []string{"FindUserByLogin"}, nil, login("password-a@x.io")},
		{"login: lock", []string{"Locks"}, nil, login("password-a@x.io")},
		{"login: failure counter", []string{"CountFailure"}, nil, login("wrong-password")},
		{"login: failure record", []string{"RecordLoginFailure"}, nil, login("wrong-password")},
		{"login: address lock", []string{"LockAddr"}, func() {
			for range 4 {
				e.svc.Login(ctx, "lock@x.io", "wrong-password", "192.0.2.50")
			}
		}, func() error { _, err := e.svc.Login(ctx, "lock@x.io", "wrong-password", "192.0.2.50"); return err }},
		{"login: account lock", []string{"LockAccount"}, func() {
			for i := range 19 {
				e.svc.Login(ctx, "spread@x.io", "wrong-password", fmt.Sprintf("192.0.2.%d", 60+i%5))
			}
		}, func() error { _, err := e.svc.Login(ctx, "spread@x.io", "wrong-password", "192.0.2.70"); return err }},
		{"login: success record", []string{"Succeeded"}, nil, login("password-a@x.io")},
		{"login: reset", []string{"ResetLoginFailures"}, func() { e.svc.Login(ctx, "a@x.io", "wrong-password", "192.0.2.1") }, login("password-a@x.io")},
		{"login: corrupt hash", nil, func() {
			e.pool.Exec(ctx, `UPDATE portal_users SET password_hash = '$argon2id$v=19$m=1,t=1,p=1$x$y' WHERE id = $1`, u.ID)
		}, login("password-a@x.io")},
		{"TOTP: address counter", []string{"HitAddr"}, nil, loginTOTP(code)},
		{"TOTP: lookup", []string{"FindUserByID"}, nil, loginTOTP(code)},
		{"TOTP: lock", []string{"Locks"}, nil, loginTOTP(code)},
		{"TOTP: secret", []string{"Open"}, nil, loginTOTP(code)},
		{"TOTP: replay record", []string{"UseTOTPStep"}, nil, loginTOTP(code)},
		{"TOTP: failure counter", []string{"CountFailure"}, nil, loginTOTP(wrong)},
		{"TOTP: success record", []string{"Succeeded"}, nil, loginTOTP(code)},
		{"enrol URI", []string{"Open"}, nil, func() error { _, err := e.svc.EnrollURI(u.ID, u.Email, sealed); return err }},
		{"enrol finish", []string{"Open"}, nil, func() error { return e.svc.FinishEnroll(ctx, u.ID, sealed, "000000") }},
		{"unlock: lookup", []string{"FindUserByID"}, nil, func() error { return e.svc.Unlock(ctx, u.ID) }},
		{"unlock: reset", []string{"ResetLoginFailures"}, nil, func() error { return e.svc.Unlock(ctx, u.ID) }},
		{"unlock: clear", []string{"ClearEmail"}, nil, func() error { return e.svc.Unlock(ctx, u.ID) }},
		{"disable: store", []string{"SetDisabled"}, nil, func() error { return e.svc.Disable(ctx, withTOTP.ID) }},
		{"disable: sessions", []string{"EndUserSessions"}, nil, func() error { return e.svc.Disable(ctx, withTOTP.ID) }},
		{"enable: store", []string{"SetDisabled"}, nil, func() error { return e.svc.Enable(ctx, withTOTP.ID) }},
		{"role: store", []string{"SetRole"}, nil, func() error { return e.svc.ChangeRole(ctx, withTOTP.ID, auth.RoleAdmin, "") }},
		{"role: sessions", []string{"EndUserSessions"}, nil, func() error { return e.svc.ChangeRole(ctx, withTOTP.ID, auth.RoleAdmin, "") }},
		{"require TOTP: sessions", []string{"EndUserSessions"}, nil, func() error { return e.svc.RequireTOTP(ctx, withTOTP.ID, true) }},
		{"check session: lookup", []string{"FindUserByID"}, nil, func() error {
			_, err := e.svc.CheckSession(ctx, &auth.Session{UserID: u.ID})
			return err
		}},
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

// TestDisable: a disabled account cannot sign in, even with its password (answered like a
// wrong one, and not counted as a guess), and its open sessions end at once; enabling it
// undoes that.
func TestDisable(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	other := e.mustUser(t, "b@x.io", auth.RoleAdmin)
	var ids []string
	for _, uid := range []int64{u.ID, u.ID, other.ID} {
		id, err := e.sessions.CreateSession(ctx, &auth.Session{UserID: uid, Gen: 1, Role: auth.RoleAdmin, Created: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := e.svc.Disable(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		_, err := e.sessions.FindSession(ctx, id)
		if ended := radius.ErrorCode(err) == radius.ENOTFOUND; ended != (i < 2) {
			t.Fatalf("session %d: %v; want only the disabled user's ended", i, err)
		}
	}
	if _, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("disabled, right password = %v; want ErrBadCredentials", err)
	}
	if got, _ := e.users.FindUserByID(ctx, u.ID); got.FailedLogins != 0 || !got.Disabled() {
		t.Fatalf("after the refused sign-in: %+v", got)
	}
	if err := e.svc.Enable(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, "a@x.io", "password-a@x.io", "192.0.2.1"); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
	if err := e.svc.Disable(ctx, 99999); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("Disable(missing) = %v", err)
	}
}

// TestChangeRole: a role change names an existing reseller and ends the user's sessions.
func TestChangeRole(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	id, _ := e.sessions.CreateSession(ctx, &auth.Session{UserID: u.ID, Gen: u.SessionGen, Role: auth.RoleAdmin})
	if err := e.svc.ChangeRole(ctx, u.ID, auth.RoleReseller, "Nowhere"); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("unknown reseller = %v", err)
	}
	if err := e.svc.ChangeRole(ctx, u.ID, auth.RoleReseller, ""); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("reseller without a name = %v", err)
	}
	if _, err := e.sessions.FindSession(ctx, id); err != nil {
		t.Fatalf("a refused change ended the session: %v", err)
	}
	e.mustReseller(t, "Corner Shop")
	if err := e.svc.ChangeRole(ctx, u.ID, auth.RoleReseller, "Corner Shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sessions.FindSession(ctx, id); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("the session outlived the role change: %v", err)
	}
	if got, _ := e.users.FindUserByID(ctx, u.ID); got.Role != auth.RoleReseller || got.ResellerName != "Corner Shop" {
		t.Fatalf("after the change: %+v", got)
	}
}

// TestSessionEnded is the rule of a session's life, with the clock passed in: the absolute
// lifetime ends even a session in use, and any change of the account ends it at once.
func TestSessionEnded(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 8, 0, 0, 0, time.UTC)
	u := &auth.User{ID: 7, Role: auth.RoleAdmin, SessionGen: 3}
	sess := func(f func(s *auth.Session)) *auth.Session {
		s := &auth.Session{UserID: 7, Role: auth.RoleAdmin, Gen: 3, Created: t0}
		if f != nil {
			f(s)
		}
		return s
	}
	disabled := *u
	disabled.DisabledAt = t0
	for _, tc := range []struct {
		name string
		s    *auth.Session
		u    *auth.User
		now  time.Time
		max  time.Duration
		want string
	}{
		{"fresh", sess(nil), u, t0.Add(time.Minute), 12 * time.Hour, ""},
		{"at the maximum", sess(nil), u, t0.Add(12 * time.Hour), 12 * time.Hour, ""},
		{"past the maximum", sess(nil), u, t0.Add(12*time.Hour + time.Second), 12 * time.Hour, "the session reached its maximum lifetime"},
		{"a shorter maximum", sess(nil), u, t0.Add(31 * time.Minute), 30 * time.Minute, "the session reached its maximum lifetime"},
		{"no maximum", sess(nil), u, t0.Add(1000 * time.Hour), 0, ""},
		{"disabled", sess(nil), &disabled, t0, 12 * time.Hour, "the account is disabled"},
		{"generation moved on", sess(func(s *auth.Session) { s.Gen = 2 }), u, t0, 12 * time.Hour, "the account changed"},
		{"role differs", sess(func(s *auth.Session) { s.Role = auth.RoleReseller }), u, t0, 12 * time.Hour, "the account changed"},
		{"pending in time", sess(func(s *auth.Session) { s.Pending = true }), u, t0.Add(4 * time.Minute), 12 * time.Hour, ""},
		{"pending too long", sess(func(s *auth.Session) { s.Pending = true }), u, t0.Add(6 * time.Minute), 12 * time.Hour, "the two-factor step waited too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.SessionEnded(tc.s, tc.u, tc.now, tc.max); got != tc.want {
				t.Fatalf("SessionEnded = %q; want %q", got, tc.want)
			}
		})
	}
}

// TestCheckSession reads the user again: a session stands until its user is disabled,
// changed or gone, or its absolute lifetime (Service.SessionMax, on the injected clock)
// runs out.
func TestCheckSession(t *testing.T) {
	e := mustService(t)
	ctx := context.Background()
	e.svc.SessionMax = time.Hour
	u := e.mustUser(t, "a@x.io", auth.RoleAdmin)
	s := &auth.Session{UserID: u.ID, Role: u.Role, Gen: u.SessionGen, Created: e.clock.Now()}
	if got, err := e.svc.CheckSession(ctx, s); err != nil || got.ID != u.ID {
		t.Fatalf("CheckSession = %+v, %v", got, err)
	}
	e.clock.Add(time.Hour + time.Second)
	if _, err := e.svc.CheckSession(ctx, s); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("past SessionMax = %v; want ended", err)
	}
	s.Created = e.clock.Now()
	if err := e.svc.RequireTOTP(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckSession(ctx, s); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("after RequireTOTP = %v; want ended", err)
	}
	if _, err := e.svc.CheckSession(ctx, &auth.Session{UserID: 99999}); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("user gone = %v; want ended", err)
	}
}
