package main

import (
	"bytes"
	"context"
	"encoding/json"
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
