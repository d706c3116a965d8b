package portal

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/portal/auth/authtest"
	authpg "tollgate/portal/auth/postgres"
	authredis "tollgate/portal/auth/redis"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
)

// testKey seals TOTP secrets in tests.
var testKey = bytes.Repeat([]byte{3}, seal.KeySize)

// harness is a portal on a fresh database and Redis prefix, with an admin and a
// reseller whose passwords are "password-" + email.
type harness struct {
	t        *testing.T
	p        *Portal
	pool     *pgxpool.Pool
	rdb      *goredis.Client
	prefix   string
	sessions *authredis.Store
	admin    *auth.User
	reseller *auth.User
	logs     *syncBuffer
	clock    *testClock
	// faults make store methods fail: h.faults.Fail("Audit").
	faults *authtest.Faults
	// tokens makes API tokens; disconnects records the API's Disconnect-Requests.
	tokens      *auth.Tokens
	disconnects *fakeDisconnector
}

// testClock is the auth service's settable Now, so TOTP codes of new steps come at once.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// code moves the clock to the next 30-second step and returns secret's code there:
// a code not used before.
func (h *harness) code(secret string) string {
	h.clock.mu.Lock()
	h.clock.t = h.clock.t.Add(30 * time.Second)
	now := h.clock.t
	h.clock.mu.Unlock()
	c, err := auth.TOTPCode(secret, now)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// syncBuffer is a log sink the server's goroutines can write while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustHarness builds the portal; cfg's zero fields take the test defaults (the
// test client's 0.0.0.0 address counts as a trusted proxy, so X-Forwarded-For picks
// the client address). The reseller sells for the billing reseller "Corner Shop", whose
// wallet starts empty.
func mustHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	pool := radiustest.MustDB(t)
	rdb, prefix := radiustest.MustRedis(t)
	sealer, err := seal.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	pg := authpg.New(pool)
	rd := authredis.New(rdb, prefix)
	faults := &authtest.Faults{}
	svc := auth.New(authtest.Users{UserStore: pg, Faults: faults}, authtest.Limits{Limiter: rd, Faults: faults}, authtest.Sealer{Sealer: sealer, Faults: faults})
	sessions := authtest.Sessions{SessionStore: rd, Faults: faults}
	svc.Sessions = sessions
	svc.Params = auth.Params{Memory: 64, Time: 1, Threads: 1}
	clock := &testClock{t: time.Now()}
	svc.Now = clock.Now
	if cfg.TrustedProxies == nil {
		cfg.TrustedProxies = []string{"0.0.0.0"}
	}
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	vouchers := mustVouchers(t, pool)
	tokens := &auth.Tokens{Store: pg, Key: sealer.Key(auth.TokenKeyPurpose), Now: time.Now}
	api, disconnects := mustAPI(t, pool, sealer)
	p, err := New(cfg, Deps{
		Health:   func(ctx context.Context) error { return pool.Ping(ctx) },
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Log:      slog.New(slog.NewTextHandler(logs, nil)),
		Auth:     svc,
		Sessions: sessions,
		Audit:    authtest.Audit{AuditLog: pg, Faults: faults},
		Limits:   rd,
		Vouchers: vouchers,
		Tokens:   tokens,
		API:      api,
		My:       mustMy(t, pool, svc),
		// The admin's subscriber pages (admin_subscribers_test.go).
		Subscribers: mustSubscribers(t, pool, sealer, svc.Now, disconnects),
		// The payment webhooks and the review queue (webhooks_test.go).
		Payments: mustPayments(t, pool),
		Ops:      mustOps(t, pool, sealer, vouchers),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, p: p, pool: pool, rdb: rdb, prefix: prefix, sessions: rd, logs: logs, clock: clock, faults: faults,
		tokens: tokens, disconnects: disconnects}
	ctx := context.Background()
	if h.admin, err = svc.CreateUser(ctx, auth.NewUser{Email: "admin@example.com", Password: "password-admin@example.com", Role: auth.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	// A reseller account names a billing reseller, which must exist first.
	if _, err := vouchers.Resellers.CreateReseller(ctx, billing.NewReseller{Name: "Corner Shop"}); err != nil {
		t.Fatal(err)
	}
	if h.reseller, err = svc.CreateUser(ctx, auth.NewUser{Email: "shop@example.com", Password: "password-shop@example.com", Role: auth.RoleReseller, ResellerName: "Corner Shop"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// mustUser adds an admin with the password "password-" + email.
func (h *harness) mustUser(email string) *auth.User {
	h.t.Helper()
	u, err := h.p.deps.Auth.CreateUser(context.Background(), auth.NewUser{Email: email, Password: "password-" + email, Role: auth.RoleAdmin})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// client is a browser: it keeps the cookies the portal sets and sends them back.
type client struct {
	h       *harness
	ip      string // sent as X-Forwarded-For
	cookies map[string]*http.Cookie
	last    *http.Response
	// pendingSecret is the TOTP secret of a browser left at the TOTP step.
	pendingSecret string
	// admin sends the requests to the admin listener's app (Config.AdminAddr).
	admin bool
}

var nextIP struct {
	sync.Mutex
	n int
}

// client returns a browser with no cookies from an address of its own.
func (h *harness) client() *client {
	nextIP.Lock()
	nextIP.n++
	ip := "198.51.100." + strconv.Itoa(nextIP.n%250+1)
	nextIP.Unlock()
	return &client{h: h, ip: ip, cookies: map[string]*http.Cookie{}}
}

// do sends one request; body is a url.Values (a form), a string (JSON) or nil.
func (c *client) do(method, path string, body any, header map[string]string) (*http.Response, string) {
	c.h.t.Helper()
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case url.Values:
		r, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		r, ct = strings.NewReader(b), "application/json"
	}
	req := httptest.NewRequest(method, path, r)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("X-Forwarded-For", c.ip)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	test := c.h.p.Test
	if c.admin {
		test = c.h.p.TestAdmin
	}
	resp, err := test(req)
	if err != nil {
		c.h.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now())) {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	c.last = resp
	return resp, string(b)
}

// adminClient is client on the admin listener.
func (h *harness) adminClient() *client {
	c := h.client()
	c.admin = true
	return c
}

func (c *client) get(path string) (*http.Response, string) { return c.do("GET", path, nil, nil) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the token of the forms on page path.
func (c *client) csrf(path string) string {
	c.h.t.Helper()
	_, body := c.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.h.t.Fatalf("GET %s: no csrf field in %s", path, body)
	}
	return m[1]
}

// post submits a form from page (for its token) to path.
func (c *client) post(page, path string, form url.Values) (*http.Response, string) {
	c.h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", c.csrf(page))
	return c.do("POST", path, form, nil)
}

// login signs in through /login and returns the answer to the form.
func (c *client) login(email, password string) (*http.Response, string) {
	c.h.t.Helper()
	return c.post("/login", "/login", url.Values{"email": {email}, "password": {password}})
}

// mustLogin signs in a user without TOTP and checks that it worked.
func (c *client) mustLogin(u *auth.User) *client {
	c.h.t.Helper()
	resp, body := c.login(u.Email, "password-"+u.Email)
	if resp.StatusCode != http.StatusSeeOther || c.cookies[sessionCookie] == nil {
		c.h.t.Fatalf("login %s: %d %s", u.Email, resp.StatusCode, body)
	}
	return c
}

// sessionOf returns the client's session as stored.
func (c *client) session() *auth.Session {
	c.h.t.Helper()
	ck := c.cookies[sessionCookie]
	if ck == nil {
		c.h.t.Fatal("no session cookie")
	}
	s, err := c.h.sessions.FindSession(context.Background(), ck.Value)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return s
}

// auditRow is one audit_log row.
type auditRow struct {
	Actor, Action, Target, Detail, IP string
}

// audit returns the audit log, oldest first.
func (h *harness) audit() []auditRow {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT actor, action, target, detail::text, coalesce(host(ip), '') FROM audit_log ORDER BY id`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Actor, &r.Action, &r.Target, &r.Detail, &r.IP); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// lastAudit returns the newest audit row.
func (h *harness) lastAudit() auditRow {
	h.t.Helper()
	rows := h.audit()
	if len(rows) == 0 {
		h.t.Fatal("the audit log is empty")
	}
	return rows[len(rows)-1]
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
