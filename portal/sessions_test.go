package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"tollgate/portal/auth"
)

// signedOut checks that c's next request finds no session: a page sends it to /login,
// the cookie is dropped, and Redis holds no session of it any more.
func (c *client) signedOut(t *testing.T, page string) {
	t.Helper()
	id := c.cookies[sessionCookie]
	resp, _ := c.get(page)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("GET %s = %d %q; want the session gone and /login", page, resp.StatusCode, resp.Header.Get("Location"))
	}
	if c.cookies[sessionCookie] != nil {
		t.Fatal("the session cookie was kept")
	}
	if id != nil {
		if _, err := c.h.sessions.FindSession(context.Background(), id.Value); err == nil {
			t.Fatal("the session is still stored")
		}
	}
}

// TestSessionMaxLifetime: a session ends at its absolute lifetime however busy it is
// (auth.DefaultSessionMax, 12h, on the injected clock: nothing sleeps), and a shorter
// TOLLGATE_PORTAL_SESSION_MAX (Service.SessionMax) is kept too.
func TestSessionMaxLifetime(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  time.Duration
	}{{"default 12h", 0}, {"configured 1h", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, Config{})
			if tc.max > 0 {
				h.p.deps.Auth.SessionMax = tc.max
			}
			max := h.p.deps.Auth.SessionMax
			c := h.client().mustLogin(h.admin)
			// In use every half hour: the idle timeout never runs out.
			for used := time.Duration(0); used+30*time.Minute < max; used += 30 * time.Minute {
				h.advance(30 * time.Minute)
				if resp, _ := c.get("/admin"); resp.StatusCode != http.StatusOK {
					t.Fatalf("after %v: GET /admin = %d", used+30*time.Minute, resp.StatusCode)
				}
			}
			h.advance(31 * time.Minute) // now just past the maximum
			c.signedOut(t, "/admin")
			// Signing in again starts a new lifetime.
			c.mustLogin(h.admin)
			if resp, _ := c.get("/admin"); resp.StatusCode != http.StatusOK {
				t.Fatalf("after signing in again = %d", resp.StatusCode)
			}
		})
	}
}

// advance moves the portal's clock (the auth service's Now) on by d.
func (h *harness) advance(d time.Duration) {
	h.clock.mu.Lock()
	h.clock.t = h.clock.t.Add(d)
	h.clock.mu.Unlock()
}

// TestDisableEndsSessions: an admin disables a user on the users page; the user's open
// sessions end at once (gone from Redis, the next request is signed out), the user
// cannot sign in, and Enable undoes it. An admin cannot disable their own account.
func TestDisableEndsSessions(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	phone := h.client().mustLogin(h.reseller)
	laptop := h.client().mustLogin(h.reseller)
	ctx := context.Background()

	resp, body := admin.post("/admin/users", "/admin/users/"+itoa64(h.reseller.ID)+"/disable", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable = %d: %s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "user.disable" || a.Actor != h.admin.Email || a.Target != "user:"+itoa64(h.reseller.ID) {
		t.Fatalf("last audit %+v", a)
	}
	// Ended at once: Redis holds no session of the reseller before either browser asks.
	for _, c := range []*client{phone, laptop} {
		if _, err := h.sessions.FindSession(ctx, c.cookies[sessionCookie].Value); err == nil {
			t.Fatal("a session of the disabled user is still stored")
		}
	}
	phone.signedOut(t, "/reseller")
	if resp, body := laptop.get("/api/v1/me"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the other session's API call = %d: %s", resp.StatusCode, body)
	}
	if resp, body := h.client().login(h.reseller.Email, "password-"+h.reseller.Email); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong email or password") {
		t.Fatalf("sign-in while disabled = %d: %s", resp.StatusCode, body)
	}
	if _, body := admin.get("/admin/users"); !strings.Contains(body, `id="state-`+itoa64(h.reseller.ID)+`">disabled`) || !strings.Contains(body, "/admin/users/"+itoa64(h.reseller.ID)+"/enable") {
		t.Fatalf("users page after disabling: %s", body)
	}
	// The admin's own session is untouched, and cannot disable itself.
	resp, body = admin.post("/admin/users", "/admin/users/"+itoa64(h.admin.ID)+"/disable", nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot disable your own account") {
		t.Fatalf("self-disable = %d: %s", resp.StatusCode, body)
	}
	if resp, body = admin.post("/admin/users", "/admin/users/999999/disable", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("disable a missing user = %d: %s", resp.StatusCode, body)
	}

	if resp, body = admin.post("/admin/users", "/admin/users/"+itoa64(h.reseller.ID)+"/enable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable = %d: %s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "user.enable" {
		t.Fatalf("last audit %+v", a)
	}
	phone.mustLogin(h.reseller)
}

// TestRoleChangeEndsSessions: a role change (tollgate admin role) applies to open
// sessions at once: the session that was a reseller's is over, and the next sign-in
// carries the new role.
func TestRoleChangeEndsSessions(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client().mustLogin(h.reseller)
	if err := h.p.deps.Auth.ChangeRole(context.Background(), h.reseller.ID, auth.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	c.signedOut(t, "/reseller")
	resp, _ := c.login(h.reseller.Email, "password-"+h.reseller.Email)
	if resp.Header.Get("Location") != "/admin" {
		t.Fatalf("sign-in after the change = %d %q; want /admin", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestRoleChangeSeenWithoutIndex: even where the session index is not reachable (a
// store without it, or a change written straight to Postgres), the generation read on
// every request ends a session begun before the change.
func TestRoleChangeSeenWithoutIndex(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client().mustLogin(h.reseller)
	if err := h.p.deps.Auth.Users.SetRole(context.Background(), h.reseller.ID, auth.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sessions.FindSession(context.Background(), c.cookies[sessionCookie].Value); err != nil {
		t.Fatalf("the session should still be stored before its next request: %v", err)
	}
	c.signedOut(t, "/reseller")
}

// TestTOTPEnrollEndsOtherSessions: enrolling a second factor ends the user's other
// sessions (begun with the password alone) and goes on in a new session.
func TestTOTPEnrollEndsOtherSessions(t *testing.T) {
	h := mustHarness(t, Config{})
	other := h.client().mustLogin(h.admin)
	c := h.client().mustLogin(h.admin)
	before := c.cookies[sessionCookie].Value
	c.mustEnroll(t, h.admin)
	if c.cookies[sessionCookie] == nil || c.cookies[sessionCookie].Value == before {
		t.Fatal("enrolment did not start a new session")
	}
	if resp, _ := c.get("/admin"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the enrolling browser after enrolment = %d", resp.StatusCode)
	}
	other.signedOut(t, "/admin")
}
