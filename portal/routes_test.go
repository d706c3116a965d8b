package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
)

// path fills a route's parameters: :id is the reseller's user id, :name a static file.
func (h *harness) path(r route) string {
	if f := routeFixtures[r.method+" "+r.path]; f != nil {
		p, _ := f(h)
		return p
	}
	p := strings.ReplaceAll(r.path, ":id", itoa64(h.reseller.ID))
	return strings.ReplaceAll(p, ":name", "style.css")
}

// routeFixtures give routes whose path or form need data (a voucher to revoke, a job to
// watch) their path and a valid form, keyed "METHOD /path". A fixture sets up what it
// needs in h without writing the audit log.
var routeFixtures = map[string]func(h *harness) (path string, form url.Values){}

// form is a valid body for each unsafe route.
func (h *harness) form(r route) url.Values {
	if f := routeFixtures[r.method+" "+r.path]; f != nil {
		_, v := f(h)
		return v
	}
	switch r.path {
	case "/admin/users/:id/totp":
		// :id is the reseller: "true" would send every later reseller sign-in of the
		// walk to enrolment first.
		return url.Values{"required": {"false"}}
	case "/login", "/api/v1/login":
		return url.Values{"email": {"nobody@example.com"}, "password": {"wrong-password"}}
	case "/login/totp", "/api/v1/login/totp", "/account/totp":
		return url.Values{"totp": {"000000"}}
	}
	return url.Values{}
}

func unsafe(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sessionFor returns a browser whose session a route of access a admits (anonymous for
// a public route).
func (h *harness) sessionFor(t *testing.T, a access) *client {
	t.Helper()
	c := h.client()
	switch a {
	case accessPublic:
	case accessPending:
		c.mustLogin(h.admin)
		s := c.session()
		s.Pending = true
		if err := h.sessions.UpdateSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	case accessReseller:
		c.mustLogin(h.reseller)
	case accessSubscriber:
		c.mustLoginSubscriber(h.walker())
	default:
		c.mustLogin(h.admin)
	}
	return c
}

// token returns the CSRF token c's forms carry.
func (c *client) token() string {
	if ck := c.cookies[sessionCookie]; ck != nil {
		s, err := c.h.sessions.FindSession(context.Background(), ck.Value)
		if err == nil {
			return s.CSRF
		}
	}
	return c.csrf("/login")
}

// TestEveryRouteDeclared: every route of the app went through handle, so each has a
// declared access that the guard enforces, and with an admin listener each app holds
// exactly the routes of its surface.
func TestEveryRouteDeclared(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"one listener", Config{}}, {"admin listener", Config{AdminAddr: "127.0.0.1:0"}}} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, tc.cfg)
			apps := []struct {
				app *fiber.App
				s   surface
			}{{h.p.app, surfaceBoth}}
			if h.p.app != h.p.staff {
				apps = []struct {
					app *fiber.App
					s   surface
				}{{h.p.app, surfaceGuest}, {h.p.staff, surfaceStaff}}
			}
			for _, a := range apps {
				declared := map[string]bool{}
				for _, r := range h.p.routes {
					if r.surface&a.s != 0 {
						declared[r.method+" "+r.path] = true
					}
				}
				n := 0
				for _, r := range a.app.GetRoutes(true) {
					if r.Method == http.MethodHead {
						continue // fiber's automatic HEAD of each GET
					}
					n++
					if !declared[r.Method+" "+r.Path] {
						t.Errorf("%s %s is registered without Portal.handle: its access or surface is not declared", r.Method, r.Path)
					}
				}
				if n != len(declared) {
					t.Errorf("app of surface %d has %d routes; %d declared", a.s, n, len(declared))
				}
			}
			for _, r := range h.p.routes {
				switch {
				case strings.HasPrefix(r.path, "/admin") && r.access != accessAdmin,
					strings.HasPrefix(r.path, "/reseller") && r.access != accessReseller:
					t.Errorf("%s %s admits %s", r.method, r.path, r.access)
				case r.access != accessPublic && r.access != accessSubscriber && r.access != accessSession && r.surface&surfaceGuest != 0:
					t.Errorf("%s %s needs a staff session but is served to guests", r.method, r.path)
				}
			}
		})
	}
}

// TestRoutesRefuse walks every route: anonymous requests to a non-public route, and
// requests of the wrong role, a pending TOTP step or a user who must enroll first, are
// refused before the handler runs.
func TestRoutesRefuse(t *testing.T) {
	h := mustHarness(t, Config{})
	anon := h.client()
	reseller := h.sessionFor(t, accessReseller)
	admin := h.sessionFor(t, accessAdmin)
	pending := h.sessionFor(t, accessPending)
	enroll := h.client().mustLogin(h.reseller)
	s := enroll.session()
	s.MustEnroll = true
	if err := h.sessions.UpdateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	refused := func(t *testing.T, c *client, r route, want int) {
		t.Helper()
		before := len(h.audit())
		var body any
		var hdr map[string]string
		if unsafe(r.method) {
			body, hdr = h.form(r), map[string]string{csrfHeader: c.token()}
		}
		resp, text := c.do(r.method, h.path(r), body, hdr)
		ok := resp.StatusCode == want
		if want == http.StatusUnauthorized && !isAPIPath(r.path) && !unsafe(r.method) {
			// A page sends the anonymous to the sign-in form instead.
			ok = resp.StatusCode == http.StatusSeeOther && (resp.Header.Get("Location") == "/login" || resp.Header.Get("Location") == "/login/totp")
		}
		if want == http.StatusForbidden && !isAPIPath(r.path) && !unsafe(r.method) && resp.StatusCode == http.StatusSeeOther {
			// One who must enroll first is sent to the enrolment page.
			ok = resp.Header.Get("Location") == "/account/totp"
		}
		if !ok {
			t.Errorf("%s %s = %d %q; want it refused with %d: %.200s", r.method, r.path, resp.StatusCode, resp.Header.Get("Location"), want, text)
		}
		if len(h.audit()) != before {
			t.Errorf("%s %s: a refused request reached its handler (it wrote the audit log)", r.method, r.path)
		}
	}
	for _, r := range h.p.routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			switch r.access {
			case accessPublic:
				return
			case accessAdmin, accessAPIRead, accessAPIWrite:
				refused(t, reseller, r, http.StatusForbidden)
				refused(t, enroll, r, http.StatusForbidden)
			case accessReseller:
				refused(t, admin, r, http.StatusForbidden)
				refused(t, enroll, r, http.StatusForbidden)
			case accessUser:
				refused(t, enroll, r, http.StatusForbidden)
			}
			refused(t, anon, r, http.StatusUnauthorized)
			switch r.access {
			case accessPending, accessSession:
			default:
				refused(t, pending, r, http.StatusUnauthorized)
			}
		})
	}
	// The prefixes are closed too, also where no route is registered yet.
	for _, path := range []string{"/admin/not-yet", "/reseller/not-yet"} {
		if resp, _ := anon.get(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("anonymous GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := reseller.get("/admin/not-yet"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reseller GET /admin/not-yet = %d", resp.StatusCode)
	}
	if resp, _ := admin.get("/reseller/not-yet"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin GET /reseller/not-yet = %d", resp.StatusCode)
	}
	if resp, _ := admin.get("/admin/not-yet"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin GET /admin/not-yet = %d", resp.StatusCode)
	}
}

func isAPIPath(p string) bool { return strings.HasPrefix(p, "/api/") }

// TestCSRFEveryUnsafeRoute walks every POST (PUT, DELETE) route: without its token, or
// with another one, the request is refused with 403 before the handler runs; with it,
// it gets through.
func TestCSRFEveryUnsafeRoute(t *testing.T) {
	h := mustHarness(t, Config{})
	n := 0
	for _, r := range h.p.routes {
		if !unsafe(r.method) {
			continue
		}
		if csrfExempt(r.path) {
			// The payment webhooks: signed by the provider instead (webhooks_test.go).
			if r.access != accessPublic || !strings.HasPrefix(r.path, "/webhooks/") {
				t.Errorf("%s %s is exempt from the CSRF check", r.method, r.path)
			}
			continue
		}
		n++
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				token func(c *client) (form string, header string)
			}{
				{"none", func(c *client) (string, string) { return "", "" }},
				{"wrong form field", func(c *client) (string, string) { return auth.NewToken(), "" }},
				{"wrong header", func(c *client) (string, string) { return "", auth.NewToken() }},
				{"truncated", func(c *client) (string, string) { return c.token()[:20], "" }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := h.sessionFor(t, r.access)
					if r.access == accessPublic {
						c.csrf("/login") // an anonymous browser holds the double-submit cookie
					}
					before := len(h.audit())
					f := h.form(r)
					fieldTok, headerTok := tc.token(c)
					if fieldTok != "" {
						f.Set("csrf", fieldTok)
					}
					hdr := map[string]string{}
					if headerTok != "" {
						hdr[csrfHeader] = headerTok
					}
					resp, body := c.do(r.method, h.path(r), f, hdr)
					if resp.StatusCode != http.StatusForbidden {
						t.Fatalf("= %d; want 403: %.300s", resp.StatusCode, body)
					}
					if isAPIPath(r.path) != strings.Contains(body, `"code":"forbidden"`) {
						t.Fatalf("refusal body: %.300s", body)
					}
					if len(h.audit()) != before {
						t.Fatal("the refused request reached its handler")
					}
				})
			}
			t.Run("right token", func(t *testing.T) {
				c := h.sessionFor(t, r.access)
				f := h.form(r)
				f.Set("csrf", c.token())
				if resp, body := c.do(r.method, h.path(r), f, nil); resp.StatusCode == http.StatusForbidden {
					t.Fatalf("= 403 with the right token: %.300s", body)
				}
			})
		})
	}
	if n < 7 {
		t.Fatalf("walked %d unsafe routes; the portal has at least 7", n)
	}
	// The anonymous cookie alone is not a token: the field must repeat it.
	c := h.client()
	c.csrf("/login")
	if resp, _ := c.do("POST", "/login", url.Values{"email": {"a@x.io"}, "password": {"x"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login form without the field = %d", resp.StatusCode)
	}
	// Without the cookie, a token that merely looks right is refused.
	tok := c.cookies[csrfCookie].Value
	delete(c.cookies, csrfCookie)
	if resp, _ := c.do("POST", "/login", url.Values{"email": {"a@x.io"}, "password": {"x"}, "csrf": {tok}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login form without the cookie = %d", resp.StatusCode)
	}
}

// unaudited are the admin routes that write no audit entry, and why: a progress poll
// runs every second and shows only a counter of a job whose start is audited.
var unaudited = map[string]string{
	"GET /admin/jobs/:id/progress": "polled by static/progress.js",
}

// TestAuditEveryAdminRoute: each admin handler writes the audit log as the admin, from
// the client's address; the few in unaudited write nothing.
func TestAuditEveryAdminRoute(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.sessionFor(t, accessAdmin)
	n := 0
	for _, r := range h.p.routes {
		if r.access != accessAdmin {
			continue
		}
		n++
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			before := len(h.audit())
			var body any
			if unsafe(r.method) {
				f := h.form(r)
				f.Set("csrf", admin.token())
				body = f
			}
			resp, text := admin.do(r.method, h.path(r), body, nil)
			if resp.StatusCode >= 400 {
				t.Fatalf("= %d: %.300s", resp.StatusCode, text)
			}
			rows := h.audit()
			if _, ok := unaudited[r.method+" "+r.path]; ok {
				if len(rows) != before {
					t.Fatalf("audit rows %d → %d; this route is not audited", before, len(rows))
				}
				return
			}
			if len(rows) != before+1 {
				t.Fatalf("audit rows %d → %d; want one more", before, len(rows))
			}
			if a := rows[len(rows)-1]; a.Actor != h.admin.Email || a.IP != admin.ip || a.Action == "" {
				t.Fatalf("audit %+v", a)
			}
		})
	}
	if n < 4 {
		t.Fatalf("walked %d admin routes", n)
	}
	if a := h.audit(); !containsAction(a, "admin.dashboard") || !containsAction(a, "user.list") || !containsAction(a, "user.unlock") || !containsAction(a, "user.require_totp") {
		t.Fatalf("audit log %+v", a)
	}
}

func containsAction(rows []auditRow, action string) bool {
	for _, r := range rows {
		if r.Action == action {
			return true
		}
	}
	return false
}
