package portal

import (
	"bufio"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
)

// TestBrowserOps: in headless Chromium an admin reads the dashboard, whose numbers are
// the database's (counted here with queries of their own) and whose charts are drawn,
// and which shows a session added meanwhile without a reload; disconnects a session on
// the sessions page (the fake NAS gets the Disconnect-Request, the page its ACK); and
// changes a plan's rate, accepting the CoA offer (the fake NAS gets a CoA-Request per
// session, the page lists their ACKs). Screenshots of each page at 1280px and 390px go
// to E2E_SCREENSHOTS (default: a temporary directory) and are checked for their width.
func TestBrowserOps(t *testing.T) {
	node, chromium := mustBrowser(t)
	w := mustOpsWorldWith(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}, DashboardRefresh: time.Second})
	h := w.h
	h.mustServe(t)
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	minute := `date_trunc('minute', now())`
	expect := map[string]string{}
	for id, sql := range map[string]string{
		"online-total":      `SELECT count(*) FROM sessions WHERE stopped_at IS NULL`,
		"auth-accepts-hour": `SELECT count(*) FROM auth_log WHERE reason = 'ok' AND at >= ` + minute + ` - interval '1 hour' AND at < ` + minute,
		"auth-rejects-hour": `SELECT count(*) FROM auth_log WHERE reason <> 'ok' AND at >= ` + minute + ` - interval '1 hour' AND at < ` + minute,
		"subs-grace":        `SELECT count(*) FROM subscriptions WHERE state = 'grace'`,
		"subs-isolated":     `SELECT count(*) FROM subscriptions WHERE state = 'isolated'`,
	} {
		expect[id] = strconv.FormatInt(h.sqlInt(sql), 10)
	}
	expect["revenue-today-renewals"] = billing.FormatMoney(h.sqlInt(`SELECT -sum(amount_cents) FROM ledger_entries WHERE kind = 'renewal'`), billing.DefaultCurrency)
	expectJSON, _ := json.Marshal(expect)

	added := false
	out := runE2EStreaming(t, node, chromium, "ops.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_EMAIL=" + h.admin.Email, "E2E_PASSWORD=password-" + h.admin.Email, "E2E_EXPECT=" + string(expectJSON),
			"E2E_PLAN=" + strconv.FormatInt(w.gold, 10), "E2E_SCREENSHOTS=" + shots},
		func(line string) {
			if line == "ok waiting for a new session" && !added {
				added = true
				h.exec(`INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, nas_addr)
VALUES ($1, 'x1', now(), 'walk-in', now(), '127.0.0.1')`, w.core.ID)
			}
		})
	for _, want := range []string{"ok #online-total shows 3 (the database: 3)", "ok chart-sessions is drawn", "ok chart-auth is drawn",
		"ok chart-revenue is drawn", "ok the dashboard refreshed without a reload: 4 online", "ok the Disconnect shows the router’s answer",
		"ok the results list 2 ACKs", "ok the dashboard page fits a 390px phone", "ok the sessions page fits a 390px phone",
		"ok the plan-edit page fits a 390px phone", "OK dashboard, disconnect and plan CoA"} {
		if !strings.Contains(out, want) {
			t.Errorf("ops.mjs did not print %q", want)
		}
	}

	// What the fake NAS received: the Disconnect of bob's session, then a CoA with the
	// new rate for each of the plan's two sessions online.
	got := map[string]int{}
	deadline := time.After(5 * time.Second)
	for len(got) < 2 || got["coa 20M/20M"] < 2 {
		select {
		case r := <-w.fake.Requests():
			switch r.Code {
			case 40:
				got["disconnect "+r.SessionID]++
			case 43:
				got["coa "+r.RateLimit]++
			}
		case <-deadline:
			t.Fatalf("the fake NAS got %v", got)
		}
	}
	if got["disconnect b1"] != 1 {
		t.Errorf("the fake NAS got %v", got)
	}
	for name, width := range map[string]int{"dashboard-1280.png": 1280, "dashboard-390.png": 390, "sessions-1280.png": 1280, "sessions-390.png": 390,
		"plan-edit-390.png": 390, "plan-coa-results-1280.png": 1280} {
		f, err := os.Open(filepath.Join(shots, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != width {
			t.Errorf("%s: %d px wide, %v; want %d", name, cfg.Width, err, width)
		}
	}
}

// runE2EStreaming is mustRunE2E that hands each line of the script's output to onLine as
// it comes, so the test can act while the browser waits.
func runE2EStreaming(t *testing.T, node, chromium, script string, args, env []string, onLine func(string)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("e2e", script)}, args...)...)
	cmd.Env = append(append(os.Environ(), "CHROMIUM="+chromium), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	var out strings.Builder
	for line := range lines {
		out.WriteString(line + "\n")
		onLine(line)
	}
	err := <-done
	t.Logf("%s:\n%s", script, out.String())
	if err != nil || strings.Contains(out.String(), "FAIL") {
		t.Fatalf("%s: %v", script, err)
	}
	return out.String()
}
