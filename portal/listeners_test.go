package portal

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// mustSplitHarness returns a harness whose portal has an admin listener of its own.
func mustSplitHarness(t *testing.T) *harness {
	t.Helper()
	return mustHarness(t, Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", TrustedProxies: []string{"0.0.0.0", "127.0.0.1"}})
}

// TestStaffRoutesNotOnGuestListener walks every route with TOLLGATE_ADMIN_ADDR set: a
// staff route (admin and reseller pages, the staff sign-in steps, the /api/v1
// resources, /metrics) asked for on the guests' listener answers 404 whoever asks, a
// guest page on the admin listener does too, and the subscribers' pages, their API and
// their sign-in are on both; /healthz and /static are on both. Then on the guests'
// listener a staff account cannot sign in (the answer of a wrong password) and a staff
// session counts for nothing, while a subscriber signs in and reaches /my.
func TestStaffRoutesNotOnGuestListener(t *testing.T) {
	h := mustSplitHarness(t)
	admin := h.adminClient().mustLogin(h.admin)
	n, m := 0, 0
	for _, r := range h.p.routes {
		if r.method != http.MethodGet && r.method != http.MethodPost {
			continue
		}
		path := h.path(r)
		if r.path == "/" {
			continue // both listeners have a start page of their own: checked below
		}
		on := func(test func(*http.Request) (*http.Response, error)) int {
			t.Helper()
			req := httptest.NewRequest(r.method, path, nil)
			req.Header.Set("X-Forwarded-For", admin.ip)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: admin.cookies[sessionCookie].Value})
			resp, err := test(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		guest, staff := on(h.p.Test), on(h.p.TestAdmin)
		switch r.surface {
		case surfaceStaff:
			n++
			if guest != http.StatusNotFound {
				t.Errorf("%s %s on the guests' listener = %d; want 404", r.method, r.path, guest)
			}
			if staff == http.StatusNotFound && !strings.Contains(r.path, ":") {
				t.Errorf("%s %s on the admin listener = 404", r.method, r.path)
			}
		case surfaceGuest:
			if staff != http.StatusNotFound {
				t.Errorf("%s %s on the admin listener = %d; want 404", r.method, r.path, staff)
			}
		case surfaceBoth:
			if guest == http.StatusNotFound && r.path == "/healthz" || staff == http.StatusNotFound && r.path == "/healthz" {
				t.Errorf("/healthz = %d on the guests', %d on the admin listener", guest, staff)
			}
			if strings.HasPrefix(r.path, "/my") || strings.HasPrefix(r.path, "/api/v1/my") || r.path == "/login" || r.path == "/privacy" {
				m++
				if guest == http.StatusNotFound && !strings.Contains(r.path, ":") {
					t.Errorf("%s %s on the guests' listener = 404", r.method, r.path)
				}
			}
		}
	}
	if n < 20 || m < 20 {
		t.Fatalf("walked %d staff and %d subscriber routes", n, m)
	}
	// Paths no route names: the /admin and /reseller prefixes, the staff sign-in steps
	// and the staff API are not on the guests' listener at all.
	for _, path := range []string{"/admin", "/admin/not-yet", "/reseller/not-yet", "/login/totp", "/account/totp", "/api/v1/me", "/api/v1/plans", "/metrics"} {
		req := httptest.NewRequest("GET", path, nil)
		resp, _ := h.p.Test(req)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the guests' listener = %d; want 404", path, resp.StatusCode)
		}
	}
	// The guests' start page is the voucher status page.
	resp, _ := h.p.Test(httptest.NewRequest("GET", "/", nil))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hotspot/status" {
		t.Errorf("GET / on the guests' listener = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Sign-in on the guests' listener is for subscribers: the admin's right password
	// gets the answer of a wrong one, by form and by API, and is audited as a failure.
	guest := h.client()
	if resp, body := guest.login(h.admin.Email, "password-"+h.admin.Email); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "wrong username or password") || guest.cookies[sessionCookie] != nil {
		t.Fatalf("admin sign-in on the guests' listener = %d: %.300s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "login.failure" || a.Actor != h.admin.Email || !strings.Contains(a.Detail, "staff_on_guest_listener") {
		t.Fatalf("audit %+v", a)
	}
	if resp, body := guest.login(h.admin.Email, "password-wrong"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong username or password") {
		t.Fatalf("wrong password on the guests' listener = %d: %.300s", resp.StatusCode, body)
	}
	api := h.client()
	api.csrf("/login")
	if resp := api.apiJSON("POST", "/api/v1/login", `{"email":"`+h.reseller.Email+`","password":"password-`+h.reseller.Email+`"}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reseller API sign-in on the guests' listener = %d", resp.StatusCode)
	}
	// The admin's session cookie, sent to the guests' listener, opens nothing there.
	admin.admin = false
	if resp, _ := admin.get("/my"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("admin session GET /my on the guests' listener = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	admin.admin = true
	if resp, _ := admin.get("/admin"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the admin session ended: GET /admin = %d", resp.StatusCode)
	}
	// A subscriber signs in there and uses its pages and API.
	sub := h.client().mustLoginSubscriber(h.walker())
	for _, path := range []string{"/my", "/my/privacy", "/api/v1/my", "/privacy"} {
		if resp, body := sub.get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("subscriber GET %s on the guests' listener = %d: %.200s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := sub.get("/"); resp.Header.Get("Location") != "/my" {
		t.Errorf("subscriber GET / on the guests' listener = %q", resp.Header.Get("Location"))
	}
}

// TestSplitListenersServe starts the portal with both listeners on real sockets: the
// guests' one answers the status page, /healthz and the subscribers' sign-in and pages,
// and 404 for the staff sign-in steps, /admin and /metrics; the admin one serves the
// sign-in page and /metrics.
func TestSplitListenersServe(t *testing.T) {
	h := mustSplitHarness(t)
	h.mustServe(t)
	guest, staff := "http://"+h.p.Addr().String(), "http://"+h.p.AdminAddr().String()
	if guest == staff {
		t.Fatal("one address for both listeners")
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		base, path string
		status     int
	}{
		{guest, "/healthz", 200},
		{guest, "/static/style.css", 200},
		{guest, "/hotspot/status", 200},
		{guest, "/login", 200},
		{guest, "/login/totp", 404},
		{guest, "/admin", 404},
		{guest, "/metrics", 404},
		{guest, "/api/v1/csrf", 200},
		{guest, "/api/v1/me", 404},
		{guest, "/my", 303},
		{guest, "/privacy", 200},
		{staff, "/healthz", 200},
		{staff, "/login", 200},
		{staff, "/metrics", 200},
		{staff, "/admin", 303},
		{staff, "/hotspot/status", 404},
	} {
		resp, err := hc.Get(tc.base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			which := "guests'"
			if tc.base == staff {
				which = "admin"
			}
			t.Errorf("GET %s on the %s listener = %d; want %d", tc.path, which, resp.StatusCode, tc.status)
		}
	}
}
