package portal

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"tollgate/billing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStaticAndLayout(t *testing.T) {
	h := mustHarness(t, Config{})
	c := h.client()
	resp, css := c.get("/static/style.css")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, "max-width") {
		t.Fatalf("style.css = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/static/nope.css", "/static/..%2fportal.go"} {
		if resp, _ := c.get(p); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d; want 404", p, resp.StatusCode)
		}
	}
	resp, page := c.get("/login")
	for _, want := range []string{
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<link rel="stylesheet" href="/static/style.css">`,
		`<form method="post" action="/login"`,
		`autocomplete="current-password"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if strings.Contains(page, "Sign out") {
		t.Error("an anonymous page offers to sign out")
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"Cache-Control":           "no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if resp, _ := c.get("/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous GET / = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Every page parses and renders with the layout.
	for name := range h.p.pages {
		if name == "login" {
			continue
		}
		if !strings.Contains(renderPage(t, h, name), `name="viewport"`) {
			t.Errorf("page %s does not use the layout", name)
		}
	}
}

// pageData gives the pages with a view of their own their data for renderPage, keyed
// by page name (filled by the test files of those pages).
var pageData = map[string]func(v *view) any{}

// renderPage renders one page with a signed-in admin's view.
func renderPage(t *testing.T, h *harness, name string) string {
	t.Helper()
	c := h.client().mustLogin(h.admin)
	s := c.session()
	v := &view{Title: name, Session: s, CSRF: s.CSRF, User: h.admin, Status: 418}
	var data any = v
	if strings.HasPrefix(name, "admin-") || name == "reseller" {
		data = &pageView{view: v} // the voucher and reseller pages (renderPage)
	}
	if subscriberPages[name] {
		data = &myView{view: v, Profile: &billing.Profile{Username: "alice"}, Graph: newUsageGraph(nil), Rights: &rightsView{}} // renderMy
	}
	if strings.HasPrefix(name, "admin-subscriber") { // the admin's subscriber pages (renderSubscriber)
		data = &subscriberView{view: v, F: h.p.format(), Sub: &billing.Subscriber{Username: "alice"}, List: &billing.SubscriberPage{},
			Wallet: &billing.Wallet{}}
	} else if f := pageData[name]; f != nil {
		data = f(v)
	} else if f := opsPages[name]; f != nil {
		data = f(v) // the operator's pages (renderAny)
	}
	var b strings.Builder
	if err := h.p.pages[name].Execute(&b, data); err != nil {
		t.Fatalf("page %s: %v", name, err)
	}
	return b.String()
}

// TestCookieFlags: Secure follows TLS, believed from X-Forwarded-Proto only when a
// trusted proxy sends it.
func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		proto   string
		secure  bool
	}{
		{"trusted proxy, https", []string{"0.0.0.0"}, "https", true},
		{"trusted proxy, http", []string{"0.0.0.0"}, "http", false},
		{"untrusted, https claimed", []string{"127.0.0.1"}, "https", false},
		{"trusted range", []string{"0.0.0.0/8"}, "https", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, Config{TrustedProxies: tc.proxies})
			c := h.client()
			hdr := map[string]string{"X-Forwarded-Proto": tc.proto}
			c.do("GET", "/login", nil, hdr)
			if ck := c.cookies[csrfCookie]; ck == nil || ck.Secure != tc.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
				t.Fatalf("CSRF cookie %+v; want Secure=%v", ck, tc.secure)
			}
			form := url.Values{"email": {h.admin.Email}, "password": {"password-" + h.admin.Email}, "csrf": {c.cookies[csrfCookie].Value}}
			resp, _ := c.do("POST", "/login", form, hdr)
			var ck *http.Cookie
			for _, x := range resp.Cookies() {
				if x.Name == sessionCookie {
					ck = x
				}
			}
			if ck == nil || ck.Secure != tc.secure || !ck.HttpOnly {
				t.Fatalf("session cookie %+v; want Secure=%v", ck, tc.secure)
			}
		})
	}
}

// TestClientIP: the rate limit and the audit log see the client, not the proxy, and
// only a trusted proxy's X-Forwarded-For counts.
func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		xff     string
		want    string
	}{
		{"untrusted: the connection", []string{"127.0.0.1"}, "203.0.113.5", "0.0.0.0"},
		{"trusted: the header", []string{"0.0.0.0"}, "203.0.113.5", "203.0.113.5"},
		{"right-most untrusted", []string{"0.0.0.0", "10.0.0.0/8"}, "1.1.1.1, 203.0.113.5, 10.1.1.1", "203.0.113.5"},
		{"all trusted", []string{"0.0.0.0", "10.0.0.0/8"}, "10.1.1.1", "0.0.0.0"},
		{"garbage", []string{"0.0.0.0"}, "not-an-ip", "0.0.0.0"},
		{"IPv6", []string{"0.0.0.0"}, "2001:db8::1", "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, Config{TrustedProxies: tc.proxies})
			c := h.client()
			c.ip = tc.xff
			c.login("nobody@example.com", "wrong-password")
			if a := h.lastAudit(); a.Action != "login.failure" || a.IP != tc.want {
				t.Fatalf("audit %+v; want ip %s", a, tc.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	h := mustHarness(t, Config{})
	h.client().mustLogin(h.admin)
	h.client().login(h.admin.Email, "wrong-password")
	h.client().login("", "")
	c := h.client()
	c.do("POST", "/login", url.Values{}, nil)
	_, body := c.get("/metrics")
	for _, want := range []string{
		`tollgate_portal_logins_total{result="success"} 1`,
		`tollgate_portal_logins_total{result="failure"} 1`,
		`tollgate_portal_logins_total{result="invalid"} 1`,
		`tollgate_portal_csrf_refused_total 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	reg := prometheus.NewRegistry()
	if err := h.p.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Register(reg); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}
}

// TestStartShutdown serves on a real socket and stops twice safely.
func TestStartShutdown(t *testing.T) {
	h := mustHarness(t, Config{Addr: "127.0.0.1:0"})
	if h.p.Addr() != nil {
		t.Fatal("Addr before Start")
	}
	if err := h.p.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + h.p.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "ok") {
		t.Fatalf("/healthz = %d %s", resp.StatusCode, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	bad := mustHarness(t, Config{Addr: "127.0.0.1:99999"})
	if err := bad.p.Start(); err == nil {
		t.Fatal("Start on a bad address succeeded")
	}
}
