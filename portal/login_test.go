package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate/portal/auth"
)

func TestLoginSuccess(t *testing.T) {
	for _, tc := range []struct {
		name     string
		user     func(h *harness) *auth.User
		home     string
		sameSite http.SameSite
		page     string
	}{
		{"admin", func(h *harness) *auth.User { return h.admin }, "/admin", http.SameSiteStrictMode, "Signed in as admin@example.com (admin)"},
		{"reseller", func(h *harness) *auth.User { return h.reseller }, "/reseller", http.SameSiteLaxMode, "Signed in as shop@example.com (reseller)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, Config{})
			c := h.client()
			u := tc.user(h)
			_, page := c.get("/login")
			if !strings.Contains(page, `name="email"`) || !strings.Contains(page, `name="password"`) || c.cookies[csrfCookie] == nil {
				t.Fatalf("login page without its fields or CSRF cookie: %s", page)
			}
			// The email is case-insensitive.
			resp, body := c.login(strings.ToUpper(u.Email), "password-"+u.Email)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.home {
				t.Fatalf("POST /login = %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			var ck *http.Cookie
			for _, x := range resp.Cookies() {
				if x.Name == sessionCookie {
					ck = x
				}
			}
			if ck == nil || !ck.HttpOnly || ck.SameSite != tc.sameSite || ck.Path != "/" || ck.Secure || len(ck.Value) != 43 {
				t.Fatalf("session cookie %+v; want HttpOnly, SameSite %v, Path /, not Secure over plain HTTP", ck, tc.sameSite)
			}
			if c.cookies[csrfCookie] != nil {
				t.Fatal("the anonymous CSRF cookie outlived the sign-in")
			}
			resp, body = c.get(tc.home)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.page) {
				t.Fatalf("GET %s = %d: %s", tc.home, resp.StatusCode, body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("a signed-in page is cacheable: %q", resp.Header.Get("Cache-Control"))
			}
			s := c.session()
			if s.UserID != u.ID || s.Role != u.Role || s.Email != u.Email || len(s.CSRF) != 43 || s.Pending || s.MustEnroll {
				t.Fatalf("session %+v", s)
			}
			keys := h.rdb.Keys(context.Background(), h.prefix+"portal:sess:*").Val()
			if len(keys) != 1 {
				t.Fatalf("session keys %q", keys)
			}
			if ttl := h.rdb.TTL(context.Background(), keys[0]).Val(); ttl < 11*time.Hour || ttl > 12*time.Hour {
				t.Fatalf("session TTL %v; want 12h idle", ttl)
			}
			found := false
			for _, r := range h.audit() {
				if r.Action == "login.success" && r.Actor == u.Email && r.IP == c.ip && strings.Contains(r.Detail, `"role": "`+string(u.Role)+`"`) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no login.success audit row for %s from %s: %+v", u.Email, c.ip, h.audit())
			}
			// Signed in, /login and / lead home.
			if resp, _ := c.get("/login"); resp.Header.Get("Location") != tc.home {
				t.Fatalf("GET /login signed in = %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp, _ := c.get("/"); resp.Header.Get("Location") != tc.home {
				t.Fatalf("GET / signed in = %q", resp.Header.Get("Location"))
			}

			// Sign out: the session is gone from Redis and the cookie is cleared.
			old := c.cookies[sessionCookie].Value
			resp, _ = c.post(tc.home, "/logout", nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" || c.cookies[sessionCookie] != nil {
				t.Fatalf("logout = %d %q, cookie %v", resp.StatusCode, resp.Header.Get("Location"), c.cookies[sessionCookie])
			}
			if _, err := h.sessions.FindSession(context.Background(), old); err == nil {
				t.Fatal("the session survived sign-out")
			}
			if a := h.lastAudit(); a.Action != "logout" || a.Actor != u.Email {
				t.Fatalf("last audit %+v; want logout", a)
			}
			// The old cookie opens nothing any more.
			c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: old}
			if resp, _ := c.get(tc.home); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Fatalf("old cookie: GET %s = %d %q", tc.home, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestLoginFailure(t *testing.T) {
	h := mustHarness(t, Config{})
	for _, tc := range []struct {
		name, email, password string
		status                int
		msg                   string
		audited               bool
	}{
		{"wrong password", "admin@example.com", "password-wrong", 401, "wrong email or password", true},
		{"unknown email", "nobody@example.com", "password-admin@example.com", 401, "wrong email or password", true},
		{"empty password", "admin@example.com", "", 422, "password: required", false},
		{"empty email", "", "x", 422, "email: required", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.client()
			before := len(h.audit())
			resp, body := c.login(tc.email, tc.password)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) || !strings.Contains(body, `name="password"`) {
				t.Fatalf("POST /login = %d, want %d with %q and the form again: %s", resp.StatusCode, tc.status, tc.msg, body)
			}
			if tc.email != "" && !strings.Contains(body, `value="`+tc.email+`"`) {
				t.Fatal("the email was not kept in the form")
			}
			if c.cookies[sessionCookie] != nil {
				t.Fatal("a failed sign-in set a session cookie")
			}
			rows := h.audit()
			if !tc.audited {
				if len(rows) != before {
					t.Fatalf("audited %+v", rows[before:])
				}
				return
			}
			if len(rows) != before+1 {
				t.Fatalf("audit rows %d → %d; want one more", before, len(rows))
			}
			a := rows[len(rows)-1]
			if a.Action != "login.failure" || a.Actor != tc.email || a.IP != c.ip || !strings.Contains(a.Detail, `"reason": "failure"`) {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

// TestLockout: failures from one address lock the email at that address (429 with
// Retry-After, audited as locked), while the right password from another address signs
// in; the account itself is not locked (see auth.Policy).
func TestLockout(t *testing.T) {
	h := mustHarness(t, Config{})
	attacker := h.client()
	for i := range 5 {
		if resp, _ := attacker.login("admin@example.com", "wrong-password"); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := attacker.login("admin@example.com", "password-admin@example.com")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || retry < 14*60 || retry > 15*60 || !strings.Contains(body, "too many failed sign-ins") {
		t.Fatalf("right password from the locked address = %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if attacker.cookies[sessionCookie] != nil {
		t.Fatal("a locked sign-in got a session")
	}
	if a := h.lastAudit(); a.Action != "login.failure" || !strings.Contains(a.Detail, `"reason": "locked"`) {
		t.Fatalf("last audit %+v; want a locked failure", a)
	}
	// The admin, elsewhere, is not locked out.
	h.client().mustLogin(h.admin)
	var locked *time.Time
	if err := h.pool.QueryRow(context.Background(), `SELECT locked_until FROM portal_users WHERE id = $1`, h.admin.ID).Scan(&locked); err != nil || locked != nil {
		t.Fatalf("locked_until = %v, %v; one address must not lock the account", locked, err)
	}
	// An admin's unlock lifts the address's lock too.
	if err := h.p.deps.Auth.Unlock(context.Background(), h.admin.ID); err != nil {
		t.Fatal(err)
	}
	attacker.mustLogin(h.admin)
}

func TestRateLimit(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client()
	for i := range 10 {
		// Different emails, so that only the per-IP limit can trip.
		if resp, _ := c.login("user"+strconv.Itoa(i)+"@example.com", "wrong-password"); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	before := len(h.audit())
	resp, body := c.login("admin@example.com", "password-admin@example.com")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || retry > 60 || !strings.Contains(body, "too many sign-in attempts from this address") {
		t.Fatalf("11th attempt = %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if len(h.audit()) != before {
		t.Fatal("a rate-limited attempt was audited: a flood would fill the log")
	}
	// The API shares the limit and says so in JSON.
	resp, body = c.do("POST", "/api/v1/login", `{"email":"admin@example.com","password":"password-admin@example.com"}`, map[string]string{csrfHeader: c.csrf("/login")})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"code":"unauthorized"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("API while limited = %d: %s", resp.StatusCode, body)
	}
	// Another address is not limited.
	h.client().mustLogin(h.admin)
}

func TestAPILogin(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client()
	resp, body := c.get("/api/v1/me")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) || !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("anonymous /api/v1/me = %d %s", resp.StatusCode, body)
	}
	_, body = c.get("/api/v1/csrf")
	var tok struct{ CSRF string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || len(tok.CSRF) != 43 || c.cookies[csrfCookie].Value != tok.CSRF {
		t.Fatalf("/api/v1/csrf = %s, cookie %v", body, c.cookies[csrfCookie])
	}
	hdr := map[string]string{csrfHeader: tok.CSRF}
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		status     int
		code       string
	}{
		{"no token", `{"email":"admin@example.com","password":"password-admin@example.com"}`, nil, 403, "forbidden"},
		{"malformed", `{"email":`, hdr, 400, "invalid"},
		{"empty email", `{"password":"x"}`, hdr, 422, "invalid"},
		{"wrong password", `{"email":"admin@example.com","password":"nope-nope"}`, hdr, 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := c.do("POST", "/api/v1/login", tc.body, tc.hdr)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
				t.Fatalf("= %d %s; want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}
	resp, body = c.do("POST", "/api/v1/login", `{"email":"shop@example.com","password":"password-shop@example.com"}`, hdr)
	var out struct{ Status, CSRF string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Status != "ok" || out.CSRF == tok.CSRF || len(out.CSRF) != 43 {
		t.Fatalf("API login = %d %s", resp.StatusCode, body)
	}
	_, body = c.get("/api/v1/me")
	var m me
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.ID != h.reseller.ID || m.Email != "shop@example.com" || m.Role != "reseller" || m.ResellerName != "Corner Shop" || m.TOTP || m.Status != "ok" || m.CSRF != out.CSRF {
		t.Fatalf("/api/v1/me = %s", body)
	}
	// The session's token, not the old anonymous one, guards its unsafe calls.
	if resp, _ := c.do("POST", "/api/v1/logout", "", hdr); resp.StatusCode != 403 {
		t.Fatalf("logout with the anonymous token = %d", resp.StatusCode)
	}
	resp, body = c.do("POST", "/api/v1/logout", "", map[string]string{csrfHeader: out.CSRF})
	if resp.StatusCode != 200 || !strings.Contains(body, "signed_out") {
		t.Fatalf("logout = %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.get("/api/v1/me"); resp.StatusCode != 401 {
		t.Fatalf("/api/v1/me after logout = %d", resp.StatusCode)
	}
	// A form body works as well as JSON.
	form := url.Values{"email": {"admin@example.com"}, "password": {"password-admin@example.com"}, "csrf": {c.csrf("/login")}}
	if resp, body := c.do("POST", "/api/v1/login", form, nil); resp.StatusCode != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("form API login = %d %s", resp.StatusCode, body)
	}
}

// TestSessionUserGone: a session whose user was deleted ends at its next request (not a
// 500): the browser is signed out.
func TestSessionUserGone(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client().mustLogin(h.reseller)
	if _, err := h.pool.Exec(context.Background(), `DELETE FROM portal_users WHERE id = $1`, h.reseller.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.get("/api/v1/me"); resp.StatusCode != http.StatusUnauthorized || c.cookies[sessionCookie] != nil {
		t.Errorf("GET /api/v1/me = %d, cookie %v; want 401 and the cookie dropped", resp.StatusCode, c.cookies[sessionCookie])
	}
	if n := len(h.rdb.Keys(context.Background(), h.prefix+"portal:sess:*").Val()); n != 0 {
		t.Errorf("%d sessions left in Redis", n)
	}
	for _, path := range []string{"/reseller", "/account/totp"} {
		if resp, _ := c.get(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s = %d %q; want sent to /login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestPendingExpires: a TOTP step left waiting longer than auth.PendingTOTP is dropped.
func TestPendingExpires(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client()
	c.mustEnroll(t, h.admin)
	c.post("/admin", "/logout", nil)
	resp, _ := c.login(h.admin.Email, "password-"+h.admin.Email)
	if resp.Header.Get("Location") != "/login/totp" {
		t.Fatalf("login with TOTP = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	s := c.session()
	s.Created = time.Now().Add(-auth.PendingTOTP - time.Second)
	if err := h.sessions.UpdateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	resp, _ = c.get("/login/totp")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" || c.cookies[sessionCookie] != nil {
		t.Fatalf("stale TOTP step = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := h.sessions.FindSession(context.Background(), s.ID); err == nil {
		t.Fatal("the stale session is still stored")
	}
}
