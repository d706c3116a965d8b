package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// runWithStdin runs one command line in process with stdin.
func (s *stack) runWithStdin(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestAdminAdd creates portal accounts from the command line, then signs in with one
// through a running `tollgate serve`.
func TestAdminAdd(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("reseller", "add", "--name", "Corner Shop")
	const pw = "correct-horse-battery"
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string // in stdout (code 0) or stderr
	}{
		{"admin", pw + "\n", []string{"admin", "add", "--email", "Admin@Example.com"}, 0, "added admin admin@example.com (id 1)"},
		{"taken", pw + "\n", []string{"admin", "add", "--email", "admin@example.com"}, 1, "admin@example.com already has an account"},
		{"reseller", pw + "\r\n", []string{"admin", "add", "--email", "shop@example.com", "--role", "reseller", "--reseller", "Corner Shop", "--totp-required", "--json"}, 0, `"reseller_name": "Corner Shop"`},
		{"short password", "short\n", []string{"admin", "add", "--email", "b@example.com"}, 1, "password: at least 10 characters"},
		{"no password", "", []string{"admin", "add", "--email", "b@example.com"}, 1, "password: none on stdin"},
		{"bad email", pw, []string{"admin", "add", "--email", "nobody"}, 1, `email: "nobody" is not an address`},
		{"no email", pw, []string{"admin", "add"}, 2, "--email is required"},
		{"bad role", pw, []string{"admin", "add", "--email", "b@example.com", "--role", "root"}, 2, `--role: "root" is not admin or reseller`},
		{"unknown reseller", pw + "\n", []string{"admin", "add", "--email", "ghost@example.com", "--role", "reseller", "--reseller", "Ghost Shop"}, 1,
			`reseller: no reseller named "Ghost Shop" (add it first: tollgate reseller add --name "Ghost Shop")`},
		{"reseller without name", pw, []string{"admin", "add", "--email", "b@example.com", "--role", "reseller"}, 2, "--reseller NAME goes with --role reseller"},
		{"name without reseller", pw, []string{"admin", "add", "--email", "b@example.com", "--reseller", "Shop"}, 2, "--reseller NAME goes with --role reseller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := s.runWithStdin(tc.stdin, tc.args...)
			where := out
			if tc.code != 0 {
				where = errs
			}
			if code != tc.code || !strings.Contains(where, tc.out) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d with %q", code, out, errs, tc.code, tc.out)
			}
			if strings.Contains(out+errs, pw) {
				t.Fatal("the password was printed")
			}
		})
	}
	if code, out, _ := s.run("help"); code != 0 || !strings.Contains(out, "admin add") {
		t.Fatalf("help does not list admin add: %s", out)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	var actor, detail string
	if err := conn.QueryRow(ctx, `SELECT count(*), min(actor), min(detail::text) FROM audit_log WHERE action = 'user.create'`).Scan(&n, &actor, &detail); err != nil {
		t.Fatal(err)
	}
	if n != 2 || !strings.HasPrefix(actor, "cli") || !strings.Contains(detail, `"email": "admin@example.com"`) {
		t.Fatalf("audit: %d user.create rows, actor %q, detail %s", n, actor, detail)
	}
	var hash string
	var required bool
	if err := conn.QueryRow(ctx, `SELECT password_hash, totp_required FROM portal_users WHERE email = 'shop@example.com'`).Scan(&hash, &required); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=1,p=2$") || !required {
		t.Fatalf("stored hash %q, totp_required %v", hash, required)
	}

	// The served portal signs the admin in.
	s.serve()
	base := "http://" + s.httpAddr
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	_, page := get("/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page: %s", page)
	}
	resp, err := hc.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "email": {"admin@example.com"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("POST /login = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get("/admin"); resp.StatusCode != 200 || !strings.Contains(body, "Signed in as admin@example.com") {
		t.Fatalf("GET /admin = %d: %s", resp.StatusCode, body)
	}
	_, body := get("/api/v1/me")
	var me struct{ Email, Role string }
	if err := json.Unmarshal([]byte(body), &me); err != nil || me.Email != "admin@example.com" || me.Role != "admin" {
		t.Fatalf("/api/v1/me = %s", body)
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `tollgate_portal_logins_total{result="success"} 1`) {
		t.Fatal("the portal's metrics are not registered")
	}
}

// webClient is a browser for a served portal at base: it keeps cookies and does not
// follow redirects.
type webClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webClient) get(path string) (*http.Response, string) {
	w.t.Helper()
	resp, err := w.hc.Get(w.base + path)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// login signs in through /login and returns the answer's status and Location.
func (w *webClient) login(email, pw string) (int, string) {
	w.t.Helper()
	_, page := w.get("/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		w.t.Fatalf("login page: %.300s", page)
	}
	resp, err := w.hc.PostForm(w.base+"/login", url.Values{"csrf": {m[1]}, "email": {email}, "password": {pw}})
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestAdminDisableCLI: `tollgate admin disable --email E` ends the account's open sessions
// at once (on a running serve) and stops its sign-in; `admin enable` undoes it; `admin
// role` changes the role and ends the sessions too. Each is audited as the command line.
func TestAdminDisableCLI(t *testing.T) {
	s := MustStack(t, true)
	const pw = "correct-horse-battery"
	s.MustRun("reseller", "add", "--name", "Corner Shop")
	if code, _, errs := s.runWithStdin(pw+"\n", "admin", "add", "--email", "shop@example.com", "--role", "reseller", "--reseller", "Corner Shop"); code != 0 {
		t.Fatal(errs)
	}
	s.serve()
	shop := newWebClient(t, "http://"+s.httpAddr)
	if code, loc := shop.login("shop@example.com", pw); code != http.StatusSeeOther || loc != "/reseller" {
		t.Fatalf("sign-in = %d %q", code, loc)
	}
	if resp, _ := shop.get("/reseller"); resp.StatusCode != 200 {
		t.Fatalf("GET /reseller = %d", resp.StatusCode)
	}
	if out := s.MustRun("admin", "disable", "--email", "Shop@Example.com"); !strings.Contains(out, "disabled shop@example.com; its open sessions are ended") {
		t.Fatalf("admin disable: %q", out)
	}
	if resp, _ := shop.get("/reseller"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the open session after admin disable: GET /reseller = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := shop.login("shop@example.com", pw); code != http.StatusUnauthorized {
		t.Fatalf("sign-in while disabled = %d", code)
	}
	if code, _, errs := s.run("admin", "disable", "--email", "nobody@example.com"); code != 1 || !strings.Contains(errs, "no portal user nobody@example.com") {
		t.Fatalf("disable an unknown email: exit %d %q", code, errs)
	}
	if code, _, errs := s.run("admin", "disable"); code != 2 || !strings.Contains(errs, "--email") {
		t.Fatalf("disable without --email: exit %d %q", code, errs)
	}
	s.MustRun("admin", "enable", "--email", "shop@example.com")
	if code, loc := shop.login("shop@example.com", pw); code != http.StatusSeeOther || loc != "/reseller" {
		t.Fatalf("sign-in after admin enable = %d %q", code, loc)
	}
	// A role change ends the open session too; the next sign-in has the new role.
	if code, _, errs := s.run("admin", "role", "--email", "shop@example.com", "--role", "reseller", "--reseller", "Nowhere"); code != 1 || !strings.Contains(errs, `no reseller named "Nowhere"`) {
		t.Fatalf("role to an unknown reseller: exit %d %q", code, errs)
	}
	if out := s.MustRun("admin", "role", "--email", "shop@example.com", "--role", "admin"); !strings.Contains(out, "shop@example.com is now admin") {
		t.Fatalf("admin role: %q", out)
	}
	if resp, _ := shop.get("/reseller"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the open session after admin role = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, loc := shop.login("shop@example.com", pw); code != http.StatusSeeOther || loc != "/admin" {
		t.Fatalf("sign-in after the role change = %d %q", code, loc)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var actions string
	if err := conn.QueryRow(ctx, `SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE actor LIKE 'cli%' AND action <> 'user.create'`).Scan(&actions); err != nil {
		t.Fatal(err)
	}
	if actions != "user.disable,user.enable,user.role" {
		t.Fatalf("audited %q", actions)
	}
}

// TestAdminAddrSplit: with TOLLGATE_ADMIN_ADDR, `serve` puts the staff pages, /api/v1
// and /metrics on that listener only; TOLLGATE_HTTP_ADDR serves the guest pages, the
// subscribers' (TestE2EGuestListener) and /healthz, and 404 for a staff route.
// `tollgate config` prints the variable.
func TestAdminAddrSplit(t *testing.T) {
	s := MustStack(t, true)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	t.Setenv("TOLLGATE_ADMIN_ADDR", adminAddr)
	t.Setenv("TOLLGATE_PORTAL_SESSION_MAX", "2h")
	if out := s.MustRun("config"); !strings.Contains(out, adminAddr) || !strings.Contains(out, "TOLLGATE_PORTAL_SESSION_MAX") || !strings.Contains(out, "2h0m0s") {
		t.Fatalf("config does not show the portal's variables: %s", out)
	}
	s.serve()
	guest, staff := newWebClient(t, "http://"+s.httpAddr), newWebClient(t, "http://"+adminAddr)
	for _, tc := range []struct {
		c      *webClient
		path   string
		status int
	}{
		{guest, "/healthz", 200},
		{guest, "/hotspot/status", 200},
		{guest, "/static/style.css", 200},
		{guest, "/login", 200}, // the subscribers' sign-in
		{guest, "/admin", 404},
		{guest, "/reseller", 404},
		{guest, "/api/v1/me", 404},
		{guest, "/metrics", 404},
		{staff, "/healthz", 200},
		{staff, "/login", 200},
		{staff, "/metrics", 200},
		{staff, "/api/v1/csrf", 200},
		{staff, "/hotspot/status", 404},
	} {
		if resp, _ := tc.c.get(tc.path); resp.StatusCode != tc.status {
			t.Errorf("GET %s%s = %d; want %d", tc.c.base, tc.path, resp.StatusCode, tc.status)
		}
	}
}
