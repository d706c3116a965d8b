package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tollgate/portal/auth"
)

var uriRE = regexp.MustCompile(`href="(otpauth://[^"]+)"`)

// mustEnroll signs u in if needed, turns TOTP on through /account/totp and returns
// the secret.
func (c *client) mustEnroll(t *testing.T, u *auth.User) string {
	t.Helper()
	if c.cookies[sessionCookie] == nil {
		c.mustLogin(u)
	}
	resp, body := c.get("/account/totp")
	m := uriRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET /account/totp = %d: %s", resp.StatusCode, body)
	}
	uri, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	secret := uri.Query().Get("secret")
	if secret == "" || uri.Query().Get("issuer") != auth.TOTPIssuer || !strings.Contains(uri.Path, u.Email) {
		t.Fatalf("otpauth URI %s", uri)
	}
	// Reloading the page shows the same secret until it is confirmed.
	if _, again := c.get("/account/totp"); !strings.Contains(again, m[1]) {
		t.Fatal("the enrolment page changed its secret on reload")
	}
	resp, body = c.post("/account/totp", "/account/totp", url.Values{"totp": {"000000"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "the code does not match") || !strings.Contains(body, m[1]) {
		t.Fatalf("wrong enrolment code = %d: %s", resp.StatusCode, body)
	}
	resp, _ = c.post("/account/totp", "/account/totp", url.Values{"totp": {c.h.code(secret)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enrolment = %d", resp.StatusCode)
	}
	return secret
}

func TestTOTPFlow(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client()
	secret := c.mustEnroll(t, h.admin)
	if a := h.lastAudit(); a.Action != "totp.enroll" || a.Actor != h.admin.Email || a.Target != "user:"+itoa64(h.admin.ID) {
		t.Fatalf("last audit %+v; want totp.enroll", a)
	}
	if _, body := c.get("/account/totp"); !strings.Contains(body, "Two-factor sign-in is on") {
		t.Fatalf("enrolled page: %s", body)
	}
	if resp, _ := c.post("/account/totp", "/account/totp", url.Values{"totp": {"123456"}}); resp.Header.Get("Location") != "/account/totp" {
		t.Fatalf("enrolling twice = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c.post("/admin", "/logout", nil)
	used, _ := auth.TOTPCode(secret, h.clock.Now()) // spent by the enrolment

	// The password alone opens only the TOTP step.
	resp, _ := c.login(h.admin.Email, "password-"+h.admin.Email)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/totp" {
		t.Fatalf("password step = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	pendingID := c.cookies[sessionCookie].Value
	if a := h.lastAudit(); a.Action == "login.success" {
		t.Fatal("the password step was audited as a complete sign-in")
	}
	for _, path := range []string{"/admin", "/admin/users", "/account/totp"} {
		if resp, _ := c.get(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/totp" {
			t.Fatalf("pending GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := c.get("/api/v1/me"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pending /api/v1/me = %d", resp.StatusCode)
	}
	resp, body := c.get("/login/totp")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="totp"`) {
		t.Fatalf("GET /login/totp = %d: %s", resp.StatusCode, body)
	}
	resp, body = c.post("/login/totp", "/login/totp", url.Values{"totp": {"000000"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "the code is not valid") {
		t.Fatalf("wrong code = %d: %s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "login.failure" || !strings.Contains(a.Detail, `"step": "totp"`) {
		t.Fatalf("last audit %+v; want a TOTP failure", a)
	}
	resp, _ = c.post("/login/totp", "/login/totp", url.Values{"totp": {h.code(secret)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("right code = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c.cookies[sessionCookie].Value == pendingID {
		t.Fatal("the session ID was not renewed after the TOTP step")
	}
	if _, err := h.sessions.FindSession(context.Background(), pendingID); err == nil {
		t.Fatal("the pending session outlived the sign-in")
	}
	if a := h.lastAudit(); a.Action != "login.success" || !strings.Contains(a.Detail, `"totp": true`) {
		t.Fatalf("last audit %+v", a)
	}
	if resp, _ := c.get("/admin"); resp.StatusCode != 200 {
		t.Fatalf("GET /admin after TOTP = %d", resp.StatusCode)
	}
	// A full session does not go back to the TOTP step.
	if resp, _ := c.get("/login/totp"); resp.Header.Get("Location") != "/admin" {
		t.Fatalf("GET /login/totp signed in = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The same through the API, where a used code is refused.
	api := h.client()
	tok := api.csrf("/login")
	resp, body = api.do("POST", "/api/v1/login", `{"email":"admin@example.com","password":"password-admin@example.com"}`, map[string]string{csrfHeader: tok})
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"totp_required"`) {
		t.Fatalf("API password step = %d %s", resp.StatusCode, body)
	}
	tok = api.session().CSRF
	if resp, _ := api.do("POST", "/api/v1/login/totp", `{"totp":"`+used+`"}`, map[string]string{csrfHeader: tok}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code = %d", resp.StatusCode)
	}
	if resp, _ := api.do("POST", "/api/v1/login/totp", `{"totp":`, map[string]string{csrfHeader: tok}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed TOTP body = %d", resp.StatusCode)
	}
	resp, body = api.do("POST", "/api/v1/login/totp", `{"totp":"`+h.code(secret)+`"}`, map[string]string{csrfHeader: tok})
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("API TOTP step = %d %s", resp.StatusCode, body)
	}
	if _, body := api.get("/api/v1/me"); !strings.Contains(body, `"totp":true`) {
		t.Fatalf("/api/v1/me = %s", body)
	}
}

func TestTOTPRequiredByAdmin(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	target := "/admin/users/" + itoa64(h.reseller.ID) + "/totp"
	open := h.client().mustLogin(h.reseller)
	resp, _ := admin.post("/admin/users", target, url.Values{"required": {"true"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("require TOTP = %d", resp.StatusCode)
	}
	// The change applies to the reseller's open session at once: it is over.
	if resp, _ := open.get("/reseller"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the reseller's open session after the requirement = %d %q; want it ended", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := h.lastAudit(); a.Action != "user.require_totp" || a.Actor != h.admin.Email || a.Target != "user:"+itoa64(h.reseller.ID) || !strings.Contains(a.Detail, `"required": true`) {
		t.Fatalf("last audit %+v", a)
	}
	if _, body := admin.get("/admin/users"); !strings.Contains(body, "Two-factor off, required") {
		t.Fatalf("users page does not show the requirement: %s", body)
	}

	r := h.client()
	resp, _ = r.login(h.reseller.Email, "password-"+h.reseller.Email)
	if resp.Header.Get("Location") != "/account/totp" || !r.session().MustEnroll {
		t.Fatalf("login of a reseller who must enroll = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := r.get("/reseller"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/totp" {
		t.Fatalf("GET /reseller before enrolling = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := r.get("/api/v1/me"); !strings.Contains(body, `"status":"enroll_required"`) || !strings.Contains(body, `"totp_required":true`) {
		t.Fatalf("/api/v1/me = %s", body)
	}
	if _, body := r.get("/account/totp"); !strings.Contains(body, "requires a second factor") {
		t.Fatalf("enrolment page does not say why: %s", body)
	}
	r.mustEnroll(t, h.reseller)
	if resp, body := r.get("/reseller"); resp.StatusCode != 200 || !strings.Contains(body, "Corner Shop") {
		t.Fatalf("GET /reseller after enrolling = %d: %s", resp.StatusCode, body)
	}

	// Lifting the requirement, and the form's checks.
	if resp, _ := admin.post("/admin/users", target, url.Values{"required": {"false"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("lift = %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		path, required string
		status         int
	}{
		{target, "maybe", 422},
		{"/admin/users/0/totp", "true", 404},
		{"/admin/users/abc/totp", "true", 404},
		{"/admin/users/999999/totp", "true", 404},
		{"/admin/users/999999/unlock", "", 404},
		{"/admin/users/abc/unlock", "", 404},
	} {
		if resp, body := admin.post("/admin/users", tc.path, url.Values{"required": {tc.required}}); resp.StatusCode != tc.status {
			t.Errorf("POST %s required=%q = %d; want %d: %s", tc.path, tc.required, resp.StatusCode, tc.status, body)
		}
	}
}
