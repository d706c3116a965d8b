package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
	"tollgate/radius"
)

func TestHTTPStatus(t *testing.T) {
	limit := fmt.Errorf("login: %w", auth.NewLimitError(time.Minute, false))
	for _, tc := range []struct {
		name     string
		err      error
		signedIn bool
		want     int
		code     string
	}{
		{"invalid", radius.Errorf(radius.EINVALID, "email: required"), false, 422, radius.EINVALID},
		{"unauthorized anonymous", radius.Errorf(radius.EUNAUTHORIZED, "sign in"), false, 401, radius.EUNAUTHORIZED},
		{"unauthorized signed in", radius.Errorf(radius.EUNAUTHORIZED, "not yours"), true, 403, radius.EUNAUTHORIZED},
		{"not found", radius.Errorf(radius.ENOTFOUND, "no"), true, 404, radius.ENOTFOUND},
		{"conflict", radius.Errorf(radius.ECONFLICT, "taken"), true, 409, radius.ECONFLICT},
		{"quota", radius.Errorf(radius.EQUOTA, "balance too low"), true, 402, radius.EQUOTA},
		{"expired", radius.Errorf(radius.EEXPIRED, "voucher expired"), true, 410, radius.EEXPIRED},
		{"wrapped", fmt.Errorf("hotspot: %w", radius.Errorf(radius.ECONFLICT, "used")), true, 409, radius.ECONFLICT},
		{"limit", limit, false, 429, radius.EUNAUTHORIZED},
		{"bare limit", &auth.LimitError{RetryAfter: time.Minute}, false, 429, radius.EUNAUTHORIZED},
		{"internal", errors.New("pgx: connection refused"), true, 500, radius.EINTERNAL},
		{"fiber 400", fiber.NewError(400, "malformed"), false, 400, radius.EINVALID},
		{"fiber 403", fiber.ErrForbidden, false, 403, radius.EUNAUTHORIZED},
		{"fiber 404", fiber.ErrNotFound, false, 404, radius.ENOTFOUND},
		{"fiber 405", fiber.ErrMethodNotAllowed, false, 405, radius.EINVALID},
		{"fiber 503", fiber.ErrServiceUnavailable, false, 503, radius.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := httpStatus(tc.err, tc.signedIn)
			if got != tc.want {
				t.Fatalf("httpStatus = %d; want %d", got, tc.want)
			}
			if code := errorCode(tc.err, got); code != tc.code {
				t.Fatalf("errorCode = %q; want %q", code, tc.code)
			}
		})
	}
	if m := errorMessage(errors.New("pgx: password=secret"), 500); strings.Contains(m, "secret") {
		t.Fatalf("an internal message leaks its cause: %q", m)
	}
	if m := errorMessage(radius.Errorf(radius.ECONFLICT, "email: taken"), 409); m != "email: taken" {
		t.Fatalf("message %q", m)
	}
}

// TestErrorHandler: one handler answers every error, as an HTML page or as JSON under
// /api, and logs internal errors once without showing their cause.
func TestErrorHandler(t *testing.T) {
	h := mustHarness(t, Config{})
	boom := errors.New("pgx: connection refused password=hunter2")
	h.p.app.Get("/boom", func(c *fiber.Ctx) error { return boom })
	h.p.app.Get("/api/v1/boom", func(c *fiber.Ctx) error { return boom })
	h.p.app.Get("/conflict", func(c *fiber.Ctx) error { return radius.Errorf(radius.ECONFLICT, "email: <b>taken</b>") })
	h.p.app.Get("/api/v1/conflict", func(c *fiber.Ctx) error { return radius.Errorf(radius.ECONFLICT, "email: taken") })
	h.p.app.Get("/panic", func(c *fiber.Ctx) error { panic("handler bug") })
	h.p.app.Get("/broken-page", func(c *fiber.Ctx) error { return h.p.render(c, 200, "enroll", &view{}) })
	h.p.app.Get("/missing-page", func(c *fiber.Ctx) error { return h.p.render(c, 200, "nope", &view{}) })
	c := h.client()
	for _, tc := range []struct {
		path   string
		status int
		json   bool
		has    string
	}{
		{"/boom", 500, false, "Something went wrong on our side"},
		{"/api/v1/boom", 500, true, `{"code":"internal","message":"Something went wrong on our side. Please try again."}`},
		{"/conflict", 409, false, "email: &lt;b&gt;taken&lt;/b&gt;"},
		{"/api/v1/conflict", 409, true, `{"code":"conflict","message":"email: taken","field":"email"}`},
		{"/no-such-page", 404, false, "404 · Not Found"},
		{"/api/v1/no-such", 404, true, `"code":"not_found"`},
		{"/panic", 500, false, "Something went wrong"},
		{"/broken-page", 500, false, "Something went wrong"},
		{"/missing-page", 500, false, "Something went wrong"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := c.get(tc.path)
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.has) || strings.Contains(ct, "json") != tc.json {
				t.Fatalf("= %d %q: %s; want %d with %q", resp.StatusCode, ct, body, tc.status, tc.has)
			}
			if !tc.json && !strings.Contains(body, `<meta name="viewport"`) {
				t.Fatal("the error page is not the layout's")
			}
			if strings.Contains(body, "hunter2") {
				t.Fatal("the cause of an internal error reached the client")
			}
		})
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "error calling HasTOTP") || !strings.Contains(logs, "no page nope") {
		t.Fatalf("template failures not logged: %s", logs)
	}
	if n := strings.Count(logs, "hunter2"); n != 2 {
		t.Fatalf("the internal errors were logged %d times; want once each (2): %s", n, logs)
	}
	if !strings.Contains(logs, "path=/api/v1/boom") || !strings.Contains(logs, "code=internal") || strings.Contains(logs, "conflict") {
		t.Fatalf("log lines: %s", logs)
	}
	_, metrics := c.get("/metrics")
	for _, want := range []string{`tollgate_portal_errors_total{code="internal"} 5`, `tollgate_portal_errors_total{code="conflict"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestErrorPageFallback: when even the error page cannot render, the message goes out
// as plain text.
func TestErrorPageFallback(t *testing.T) {
	h := mustHarness(t, Config{})
	delete(h.p.pages, "error")
	resp, body := h.client().get("/no-such-page")
	if resp.StatusCode != 404 || body != "Cannot GET /no-such-page" {
		t.Fatalf("= %d %q", resp.StatusCode, body)
	}
}

// TestStoresDown: a Redis outage is an internal error, logged, never a signed-in page.
func TestStoresDown(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client().mustLogin(h.admin)
	h.rdb.Close()
	resp, body := c.get("/admin")
	if resp.StatusCode != 500 || strings.Contains(body, "Dashboard") {
		t.Fatalf("GET /admin without Redis = %d: %s", resp.StatusCode, body)
	}
	anon := h.client()
	tok := auth.NewToken()
	anon.cookies[csrfCookie] = &http.Cookie{Name: csrfCookie, Value: tok}
	if resp, _ := anon.do("POST", "/login", url.Values{"email": {"a@x.io"}, "password": {"x"}, "csrf": {tok}}, nil); resp.StatusCode != 500 {
		t.Fatalf("POST /login without Redis = %d", resp.StatusCode)
	}
	if !strings.Contains(h.logs.String(), "redis") {
		t.Fatalf("the outage was not logged: %s", h.logs.String())
	}
}

// TestHealthz reports the stores.
func TestHealthz(t *testing.T) {
	h := mustHarness(t, Config{})
	if resp, body := h.client().get("/healthz"); resp.StatusCode != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("= %d %s", resp.StatusCode, body)
	}
	h.p.deps.Health = func(ctx context.Context) error { return errors.New("postgres unreachable") }
	if resp, body := h.client().get("/healthz"); resp.StatusCode != 503 || !strings.Contains(body, "postgres unreachable") {
		t.Fatalf("= %d %s", resp.StatusCode, body)
	}
}

// TestNewRejectsProxies: a TrustedProxies entry must be an address or CIDR.
func TestNewRejectsProxies(t *testing.T) {
	if _, err := New(Config{TrustedProxies: []string{"proxy.local"}}, Deps{}); err == nil {
		t.Fatal("New accepted a host name as a trusted proxy")
	}
	p, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.proxies) != 2 || !p.trusted(netip.MustParseAddr("127.0.0.1")) || !p.trusted(netip.MustParseAddr("::1")) || p.trusted(netip.MustParseAddr("10.0.0.1")) {
		t.Fatalf("default trusted proxies %v; want loopback only", p.proxies)
	}
	// A portal without stores still serves its public pages.
	req := httptest.NewRequest("GET", "/login", nil)
	if resp, err := p.Test(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /login = %v, %v", resp, err)
	}
}

func TestHomeOf(t *testing.T) {
	for _, tc := range []struct {
		s    *auth.Session
		want string
	}{
		{nil, "/login"},
		{&auth.Session{Role: auth.RoleAdmin, Pending: true}, "/login/totp"},
		{&auth.Session{Role: auth.RoleAdmin, MustEnroll: true}, "/account/totp"},
		{&auth.Session{Role: auth.RoleAdmin}, "/admin"},
		{&auth.Session{Role: auth.RoleReseller}, "/reseller"},
		{&auth.Session{Role: "retired"}, "/login"},
	} {
		if got := homeOf(tc.s); got != tc.want {
			t.Errorf("homeOf(%+v) = %q; want %q", tc.s, got, tc.want)
		}
	}
	for a, want := range map[access]string{accessPublic: "public", accessPending: "pending", accessAdmin: "admin", accessReseller: "reseller"} {
		if a.String() != want {
			t.Errorf("access %d = %q", a, a.String())
		}
	}
}
