package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
)

// mustPool opens the stack's database for a test's own checks.
func (s *stack) mustPool() *pgxpool.Pool {
	s.t.Helper()
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(pool.Close)
	return pool
}

// mustExec runs SQL on the stack's database.
func mustExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%.80s: %v", sql, err)
	}
}

// mustSubscribers adds a plan and subscribers with emails (consenting to email unless
// listed in optOut).
func (s *stack) mustSubscribers(pool *pgxpool.Pool, optOut map[string]bool, names ...string) {
	s.t.Helper()
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe")
	for _, n := range names {
		s.MustRun("subscriber", "add", "--username", n, "--password", "pppoe-pw-1", "--plan", "Home")
		mustExec(s.t.(*testing.T), pool, `UPDATE subscribers SET email = $2, notify_email = $3 WHERE username = $1`, n, n+"@example.net", !optOut[n])
	}
}

// TestPolicyPublishCLI: a material version effective sooner than 30 days is refused
// with exit 1 naming effective; 30 days ahead it is published and announced (one
// policy_published event per subscriber who consented to email); --minor takes effect
// today without notice; policy list shows both.
func TestPolicyPublishCLI(t *testing.T) {
	s := MustStack(t, true)
	pool := s.mustPool()
	s.mustSubscribers(pool, map[string]bool{"bo": true}, "al", "bo", "cy")
	file := filepath.Join(t.TempDir(), "policy.md")
	if err := os.WriteFile(file, []byte("# Privacy\n\nWe keep little.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	today := time.Now()
	for _, eff := range []string{today.Format("2006-01-02"), today.AddDate(0, 0, 29).Format("2006-01-02"), "2026-13-01"} {
		code, out, errs := s.run("policy", "publish", "--file", file, "--effective", eff)
		if code != 1 || !strings.Contains(errs, "effective") {
			t.Fatalf("publish effective %s: exit %d %q %q; want 1 naming effective", eff, code, out, errs)
		}
	}
	if code, _, errs := s.run("policy", "publish", "--effective", today.Format("2006-01-02")); code != 2 || !strings.Contains(errs, "--file") {
		t.Fatalf("publish without --file: exit %d %q", code, errs)
	}
	var pub billing.Published
	out := s.MustRun("policy", "publish", "--file", file, "--effective", today.AddDate(0, 0, 30).Format("2006-01-02"), "--json")
	if err := json.Unmarshal([]byte(out), &pub); err != nil || pub.Version != 1 || pub.Minor || pub.Announced != 2 {
		t.Fatalf("material publish = %+v, %v: %s", pub, err, out)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM billing_events WHERE kind = 'policy_published' AND data->>'version' = '1'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d policy_published events, %v; want 2 (bo opted out)", n, err)
	}
	out = s.MustRun("policy", "publish", "--file", file, "--effective", today.Format("2006-01-02"), "--minor")
	if !strings.Contains(out, "published policy version 2 (minor)") || !strings.Contains(out, "announced to 0") {
		t.Fatalf("minor publish: %q", out)
	}
	var list []struct {
		Version  int
		Minor    bool
		InEffect bool `json:"in_effect"`
		Current  bool
	}
	if err := json.Unmarshal([]byte(s.MustRun("policy", "list", "--json")), &list); err != nil || len(list) != 2 ||
		list[0].InEffect || !list[1].Current || !list[1].Minor {
		t.Fatalf("policy list = %+v, %v", list, err)
	}
	if out := s.MustRun("policy", "list"); !strings.Contains(out, "pending") || !strings.Contains(out, "current") {
		t.Fatalf("policy list: %q", out)
	}
}

// TestRetentionRunCLI: `retention run --now` drops exactly the monthly partitions of
// sessions and the auth log whose month ended more than TOLLGATE_RETENTION_MONTHS
// before --now, reports them, deletes the default partitions' older rows, and finds
// nothing the second time.
func TestRetentionRunCLI(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_RETENTION_MONTHS", "6")
	pool := s.mustPool()
	for _, table := range []string{"sessions", "auth_log"} {
		for _, m := range []string{"2025-05", "2025-06", "2025-07"} {
			from, _ := time.Parse("2006-01", m)
			name := table + "_" + from.Format("200601")
			mustExec(t, pool, `CREATE TABLE `+name+` PARTITION OF `+table+` FOR VALUES FROM ('`+from.Format("2006-01-02")+`') TO ('`+from.AddDate(0, 1, 0).Format("2006-01-02")+`')`)
		}
	}
	for i, at := range []string{"2025-05-20", "2025-06-30", "2025-07-01", "2024-12-24", "2025-08-15"} {
		mustExec(t, pool, `INSERT INTO auth_log (at, username, method, reason) VALUES ($1::date, 'u', 'pap', 'ok')`, at)
		mustExec(t, pool, `INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update) VALUES (1, $1, $2::date, 'u', $2::date)`, "s"+string(rune('a'+i)), at)
	}
	var rep billing.RetentionReport
	out := s.MustRun("retention", "run", "--now", "2026-01-10T08:00:00Z", "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var dropped []string
	for _, p := range rep.Dropped {
		dropped = append(dropped, p.Name)
	}
	slices.Sort(dropped)
	want := []string{"auth_log_202505", "auth_log_202506", "sessions_202505", "sessions_202506"}
	if !slices.Equal(dropped, want) || rep.Months != 6 || rep.Deleted["auth_log"] != 1 || rep.Deleted["sessions"] != 1 {
		t.Fatalf("retention run = %+v; want %v dropped and one old default row each", rep, want)
	}
	var left int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_class WHERE relname = ANY($1)`, want).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d dropped partitions still exist, %v", left, err)
	}
	for _, table := range []string{"auth_log", "sessions"} {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%s keeps %d rows; want July and August", table, n)
		}
	}
	if out := s.MustRun("retention", "run", "--now", "2026-01-10T08:00:00Z"); !strings.Contains(out, "no partition is past retention") {
		t.Fatalf("second run: %q", out)
	}
	if code, _, errs := s.run("retention", "run", "--now", "yesterday"); code != 2 || !strings.Contains(errs, "--now") {
		t.Fatalf("bad --now: exit %d %q", code, errs)
	}
	t.Setenv("TOLLGATE_RETENTION_MONTHS", "0")
	if code, _, errs := s.run("retention", "run"); code != 2 || !strings.Contains(errs, "TOLLGATE_RETENTION_MONTHS") {
		t.Fatalf("months 0: exit %d %q", code, errs)
	}
}

// TestSubscriberPortalCLI: `subscriber invite --print` makes a link (and its
// portal_invite event) only with TOLLGATE_PUBLIC_URL, and says it is emailed only when
// this server sends email; `subscriber set --portal-password-file FILE|-` gives the
// subscriber a portal password (argon2id); reading a restricted subscriber's sessions,
// auth log, privacy settings, messages, wallet or documents asks for --reason and audits it.
func TestSubscriberPortalCLI(t *testing.T) {
	s := MustStack(t, true)
	pool := s.mustPool()
	s.mustSubscribers(pool, nil, "al")
	if code, _, errs := s.run("subscriber", "invite", "--username", "al"); code != 2 || !strings.Contains(errs, "TOLLGATE_PUBLIC_URL") {
		t.Fatalf("invite without a public URL: exit %d %q", code, errs)
	}
	t.Setenv("TOLLGATE_PUBLIC_URL", "https://wifi.example.com")
	var inv struct {
		Link    string
		Emailed bool
		Expires time.Time
	}
	out := s.MustRun("subscriber", "invite", "--username", "al", "--print", "--json")
	// No TOLLGATE_SMTP_URL here: the link is not emailed, and the command says so.
	if err := json.Unmarshal([]byte(out), &inv); err != nil || !strings.HasPrefix(inv.Link, "https://wifi.example.com/account/password?token=") || inv.Emailed ||
		time.Until(inv.Expires) < 71*time.Hour {
		t.Fatalf("invite = %+v, %v: %s", inv, err, out)
	}
	if out := s.MustRun("subscriber", "invite", "--username", "al"); !strings.Contains(out, "sends no email") || strings.Contains(out, "token=") {
		t.Fatalf("invite without SMTP: %q", out)
	}
	t.Setenv("TOLLGATE_SMTP_URL", "smtp://127.0.0.1:2525")
	t.Setenv("TOLLGATE_MAIL_FROM", "ISP <billing@example.net>")
	if out := s.MustRun("subscriber", "invite", "--username", "al", "--json"); !strings.Contains(out, `"emailed": true`) || strings.Contains(out, "token=") {
		t.Fatalf("invite with SMTP: %q", out)
	}
	t.Setenv("TOLLGATE_SMTP_URL", "")
	var data string
	if err := pool.QueryRow(context.Background(), `SELECT data->>'link' FROM billing_events WHERE kind = 'portal_invite' ORDER BY id LIMIT 1`).Scan(&data); err != nil || data != inv.Link {
		t.Fatalf("event link %q, %v", data, err)
	}
	if code, _, _ := s.run("subscriber", "invite", "--username", "nobody"); code != 1 {
		t.Fatalf("invite of an unknown subscriber: exit %d", code)
	}

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("al-portal-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := s.MustRun("subscriber", "set", "--username", "al", "--portal-password-file", pw); !strings.Contains(out, `portal password set for subscriber "al"`) {
		t.Fatalf("subscriber set: %q", out)
	}
	var hash string
	if err := pool.QueryRow(context.Background(), `SELECT password_hash FROM portal_users u JOIN subscribers s ON s.id = u.subscriber_id WHERE s.username = 'al' AND u.role = 'subscriber'`).Scan(&hash); err != nil || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("portal hash %q, %v", hash, err)
	}
	// From standard input, with -.
	if code, out, errs := s.runWithStdin("al-portal-password-2\n", "subscriber", "set", "--username", "al", "--portal-password-file", "-"); code != 0 || !strings.Contains(out, `portal password set for subscriber "al"`) {
		t.Fatalf("subscriber set --portal-password-file -: exit %d %q %q", code, out, errs)
	}
	var again string
	if err := pool.QueryRow(context.Background(), `SELECT password_hash FROM portal_users u JOIN subscribers s ON s.id = u.subscriber_id WHERE s.username = 'al' AND u.role = 'subscriber'`).Scan(&again); err != nil || again == hash || !strings.HasPrefix(again, "$argon2id$") {
		t.Fatalf("portal hash after stdin %q, %v", again, err)
	}
	if err := os.WriteFile(pw, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := s.run("subscriber", "set", "--username", "al", "--portal-password-file", pw); code != 1 || !strings.Contains(errs, "password") {
		t.Fatalf("short portal password: exit %d %q", code, errs)
	}

	// Not restricted: reads go through, audited.
	s.MustRun("session", "list", "--user", "al")
	s.MustRun("wallet", "credit", "--subscriber", "al", "--amount", "5", "--note", "cash")
	var receipt string
	if err := pool.QueryRow(context.Background(), `SELECT number FROM invoices WHERE username = 'al'`).Scan(&receipt); err != nil {
		t.Fatal(err)
	}
	mustExec(t, pool, `UPDATE subscribers SET restricted = true WHERE username = 'al'`)
	for _, args := range [][]string{{"session", "list", "--user", "al"}, {"authlog", "--user", "al"}, {"privacy", "show", "--username", "al"}, {"notification", "list", "--subscriber", "al"},
		{"wallet", "show", "--subscriber", "al"}, {"invoice", "list", "--subscriber", "al"}, {"invoice", "show", receipt}} {
		if code, _, errs := s.run(args...); code != 1 || !strings.Contains(errs, "reason") {
			t.Fatalf("%v of a restricted subscriber: exit %d %q; want 1 naming reason", args, code, errs)
		}
		s.MustRun(append(args, "--reason", "ticket 42")...)
	}
	rows, err := pool.Query(context.Background(), `SELECT detail->>'read', coalesce(detail->>'reason', '') FROM audit_log WHERE action = 'subscriber.read' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var reads []string
	for rows.Next() {
		var what, reason string
		if err := rows.Scan(&what, &reason); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, what+":"+reason)
	}
	if want := []string{"sessions:", "sessions:ticket 42", "auth_log:ticket 42", "privacy:ticket 42", "wallet:ticket 42", "invoices:ticket 42", "invoice " + receipt + ":ticket 42"}; !slices.Equal(reads, want) {
		t.Fatalf("audited reads %v; want %v", reads, want)
	}
	var reason string
	if err := pool.QueryRow(context.Background(), `SELECT detail->>'reason' FROM audit_log WHERE action = 'notification.list' ORDER BY id DESC LIMIT 1`).Scan(&reason); err != nil || reason != "ticket 42" {
		t.Fatalf("notification.list audit reason %q, %v", reason, err)
	}
}
