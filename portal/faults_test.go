package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// TestStoreFailures: when a store fails in the middle of a request, the answer is a 500
// from the error handler (logged once, the cause hidden) and never the page or the
// redirect of a success.
func TestStoreFailures(t *testing.T) {
	h := mustHarness(t, Config{})
	userPath := "/admin/users/" + itoa64(h.reseller.ID)
	// enrolling has a secret waiting in its session.
	enrolling := func() *client {
		c := h.client().mustLogin(h.reseller)
		c.get("/account/totp")
		return c
	}
	pending := func() *client {
		c := h.client()
		secret := c.mustEnroll(t, h.admin)
		c.post("/admin", "/logout", nil)
		c.login(h.admin.Email, "password-"+h.admin.Email)
		c.pendingSecret = secret
		return c
	}
	for _, tc := range []struct {
		name string
		// as makes the browser; run sends the request with the faults on.
		as    func() *client
		fail  []string
		run   func(c *client) (*http.Response, string)
		isAPI bool
	}{
		{"dashboard audit", func() *client { return h.client().mustLogin(h.admin) }, []string{"Audit"},
			func(c *client) (*http.Response, string) { return c.get("/admin") }, false},
		{"user list", func() *client { return h.client().mustLogin(h.admin) }, []string{"FindUsers"},
			func(c *client) (*http.Response, string) { return c.get("/admin/users") }, false},
		{"user list audit", func() *client { return h.client().mustLogin(h.admin) }, []string{"Audit"},
			func(c *client) (*http.Response, string) { return c.get("/admin/users") }, false},
		{"require TOTP", func() *client { return h.client().mustLogin(h.admin) }, []string{"SetTOTPRequired"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", userPath+"/totp", url.Values{"required": {"true"}, "csrf": {c.token()}}, nil)
			}, false},
		{"require TOTP audit", func() *client { return h.client().mustLogin(h.admin) }, []string{"Audit"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", userPath+"/totp", url.Values{"required": {"true"}, "csrf": {c.token()}}, nil)
			}, false},
		{"unlock find", func() *client { return h.client().mustLogin(h.admin) }, []string{"FindUserByID"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", userPath+"/unlock", url.Values{"csrf": {c.token()}}, nil)
			}, false},
		{"unlock reset", func() *client { return h.client().mustLogin(h.admin) }, []string{"ResetLoginFailures"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", userPath+"/unlock", url.Values{"csrf": {c.token()}}, nil)
			}, false},
		{"unlock clear", func() *client { return h.client().mustLogin(h.admin) }, []string{"ClearEmail"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", userPath+"/unlock", url.Values{"csrf": {c.token()}}, nil)
			}, false},
		{"unlock audit", func() *client { return h.client().mustLogin(h.admin) }, []string{"Audit"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", userPath+"/unlock", url.Values{"csrf": {c.token()}}, nil)
			}, false},
		{"logout audit", func() *client { return h.client().mustLogin(h.admin) }, []string{"Audit"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", "/logout", url.Values{"csrf": {c.token()}}, nil)
			}, false},
		{"logout delete", func() *client { return h.client().mustLogin(h.admin) }, []string{"DeleteSession"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", "/logout", url.Values{"csrf": {c.token()}}, nil)
			}, false},
		{"API logout", func() *client { return h.client().mustLogin(h.admin) }, []string{"Audit"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", "/api/v1/logout", "", map[string]string{csrfHeader: c.token()})
			}, true},
		{"API me", func() *client { return h.client().mustLogin(h.admin) }, []string{"FindUserByID"},
			func(c *client) (*http.Response, string) { return c.get("/api/v1/me") }, true},
		{"session lookup", func() *client { return h.client().mustLogin(h.admin) }, []string{"FindSession"},
			func(c *client) (*http.Response, string) { return c.get("/admin") }, false},
		{"enrol page user", func() *client { return h.client().mustLogin(h.reseller) }, []string{"FindUserByID"},
			func(c *client) (*http.Response, string) { return c.get("/account/totp") }, false},
		{"enrol page session", func() *client { return h.client().mustLogin(h.reseller) }, []string{"UpdateSession"},
			func(c *client) (*http.Response, string) { return c.get("/account/totp") }, false},
		{"enrol page secret", enrolling, []string{"Open"},
			func(c *client) (*http.Response, string) { return c.get("/account/totp") }, false},
		{"enrol submit user", enrolling, []string{"FindUserByID"},
			func(c *client) (*http.Response, string) { return c.enrollWith("000000") }, false},
		{"enrol submit secret", enrolling, []string{"Open"},
			func(c *client) (*http.Response, string) { return c.enrollWith("000000") }, false},
		{"enrol submit code", enrolling, []string{"UseTOTPStep"},
			func(c *client) (*http.Response, string) { return c.enrollWith(c.enrollCode()) }, false},
		{"enrol submit store", enrolling, []string{"SetTOTPSecret"},
			func(c *client) (*http.Response, string) { return c.enrollWith(c.enrollCode()) }, false},
		{"enrol submit ends sessions", enrolling, []string{"EndUserSessions"},
			func(c *client) (*http.Response, string) { return c.enrollWith(c.enrollCode()) }, false},
		{"enrol submit new session", enrolling, []string{"CreateSession"},
			func(c *client) (*http.Response, string) { return c.enrollWith(c.enrollCode()) }, false},
		{"enrol submit audit", enrolling, []string{"Audit"},
			func(c *client) (*http.Response, string) { return c.enrollWith(c.enrollCode()) }, false},
		{"login lookup", h.client, []string{"FindUserByLogin"},
			func(c *client) (*http.Response, string) { return c.login(h.admin.Email, "password-"+h.admin.Email) }, false},
		{"login session", h.client, []string{"CreateSession"},
			func(c *client) (*http.Response, string) { return c.login(h.admin.Email, "password-"+h.admin.Email) }, false},
		{"login audit", h.client, []string{"Audit"},
			func(c *client) (*http.Response, string) { return c.login(h.admin.Email, "password-"+h.admin.Email) }, false},
		{"login failure audit", h.client, []string{"Audit"},
			func(c *client) (*http.Response, string) { return c.login(h.admin.Email, "wrong-password") }, false},
		{"login replaces session", pending, []string{"DeleteSession"},
			func(c *client) (*http.Response, string) {
				form := url.Values{"email": {h.reseller.Email}, "password": {"password-" + h.reseller.Email}, "csrf": {c.token()}}
				return c.do("POST", "/login", form, nil)
			}, false},
		{"TOTP session", pending, []string{"CreateSession"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", "/login/totp", url.Values{"totp": {h.code(c.pendingSecret)}, "csrf": {c.token()}}, nil)
			}, false},
		{"TOTP audit", pending, []string{"Audit"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", "/login/totp", url.Values{"totp": {h.code(c.pendingSecret)}, "csrf": {c.token()}}, nil)
			}, false},
		{"TOTP lookup", pending, []string{"FindUserByID"},
			func(c *client) (*http.Response, string) {
				return c.do("POST", "/api/v1/login/totp", `{"totp":"`+h.code(c.pendingSecret)+`"}`, map[string]string{csrfHeader: c.token()})
			}, true},
		{"stale TOTP step", func() *client {
			c := pending()
			s := c.session()
			s.Created = time.Now().Add(-time.Hour)
			h.sessions.UpdateSession(context.Background(), s)
			return c
		}, []string{"DeleteSession"},
			func(c *client) (*http.Response, string) { return c.get("/login/totp") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.as()
			h.faults.Fail(tc.fail...)
			resp, body := tc.run(c)
			h.faults.Heal()
			// Leave the accounts as they were for the next case.
			if _, err := h.pool.Exec(context.Background(), `UPDATE portal_users SET totp_secret = NULL, totp_required = false, failed_logins = 0, locked_until = NULL`); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("= %d %q; want 500: %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if strings.Contains(body, "injected") {
				t.Fatal("the cause reached the client")
			}
			if tc.isAPI != strings.Contains(body, `"code":"internal"`) {
				t.Fatalf("body: %.300s", body)
			}
		})
	}
	if n := strings.Count(h.logs.String(), "injected failure"); n < 30 {
		t.Fatalf("%d internal errors logged; want one per case", n)
	}
}

// enrollWith posts a code to the enrolment form.
func (c *client) enrollWith(code string) (*http.Response, string) {
	return c.do("POST", "/account/totp", url.Values{"totp": {code}, "csrf": {c.token()}}, nil)
}

// enrollCode is the current code of the secret waiting in c's session.
func (c *client) enrollCode() string {
	c.h.t.Helper()
	s := c.session()
	secret, err := c.h.p.deps.Auth.Sealer.Open(s.EnrollSecret, radius.SealTOTPSecret.AD(s.UserID))
	if err != nil {
		c.h.t.Fatal(err)
	}
	return c.h.code(string(secret))
}
