package main

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tollgate/billing/billingtest"
)

// TestE2ESubscriberProfileFlags: `subscriber add|set` take --name, --email, --phone and
// --auto-renew=true|false; the email and phone are normalized (E.164), a bad one is
// refused naming its field, "" clears one, and the subscription follows --auto-renew.
func TestE2ESubscriberProfileFlags(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe", "--price", "10.00", "--period", "30d")
	var sub subscriberJSON
	s.mustJSON(&sub, "subscriber", "add", "--username", "erin", "--password", "pw-erin", "--plan", "Home",
		"--name", "Erin W", "--email", " Erin@Example.COM", "--phone", "00254 712 345 678", "--auto-renew=false")
	if sub.Name != "Erin W" || sub.Email != "erin@example.com" || sub.Phone != "+254712345678" || sub.AutoRenew {
		t.Fatalf("added %+v", sub)
	}
	if st := s.subscription("erin"); st.AutoRenew {
		t.Fatalf("subscription %+v; want auto-renew off", st)
	}
	s.mustJSON(&sub, "subscriber", "set", "--username", "erin", "--auto-renew=true", "--name", "Erin Wanjiru", "--phone", "+1 (555) 000-1111")
	if sub.Name != "Erin Wanjiru" || sub.Email != "erin@example.com" || sub.Phone != "+15550001111" || !sub.AutoRenew {
		t.Fatalf("set %+v", sub)
	}
	if st := s.subscription("erin"); !st.AutoRenew {
		t.Fatalf("subscription %+v; want auto-renew on", st)
	}
	s.mustJSON(&sub, "subscriber", "set", "--username", "erin", "--email", "")
	if sub.Email != "" || sub.Name != "Erin Wanjiru" || sub.Phone != "+15550001111" {
		t.Fatalf("email cleared: %+v", sub)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		field string
	}{
		{"bad email", []string{"--email", "not-an-address"}, 1, "email:"},
		{"national phone", []string{"--phone", "0712345678"}, 1, "phone:"},
		{"auto-renew not a boolean", []string{"--auto-renew=maybe"}, 2, "auto-renew"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := s.run(append([]string{"subscriber", "set", "--username", "erin"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.field) {
				t.Fatalf("exit %d %q; want %d naming %s", code, errs, tc.code, tc.field)
			}
		})
	}
}

// passLine is one "billing pass" line of a replica's log.
var passLine = regexp.MustCompile(`msg="billing pass" renewed=(\d+) restored=\d+ grace=(\d+) isolated=(\d+)`)

// TestE2EBillingCron: no `billing run` by hand: two `serve --roles cron` replicas of the
// built binary, with TOLLGATE_BILLING_INTERVAL=1s, renew a due subscriber from his
// wallet, isolate one who cannot pay and one whose auto-renew is off, and send the
// notices through the in-process SMTP server; across both replicas each period is
// charged once, each event is mailed once, and later slots change nothing.
func TestE2EBillingCron(t *testing.T) {
	s := MustStack(t, true)
	smtp := billingtest.MustSMTP(t, billingtest.SMTPOptions{})
	t.Setenv("TOLLGATE_SMTP_URL", "smtp://"+smtp.Addr())
	t.Setenv("TOLLGATE_MAIL_FROM", "Example ISP <billing@example.net>")
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe", "--price", "10.00", "--period", "30d")
	now := time.Now().UTC().Truncate(time.Second)
	soon := now.Add(time.Hour).Format(time.RFC3339)
	// The current period was paid and ended an hour ago: the next one is due.
	ended := now.Add(-30*24*time.Hour - time.Hour).Format(time.RFC3339)
	for _, u := range []struct {
		name  string
		extra []string
		money bool
	}{
		{"alice", nil, true},                            // pays from her wallet
		{"carol", []string{"--auto-renew=false"}, true}, // has the money, asked not to be charged
		{"bob", nil, false},                             // nothing to pay with
	} {
		s.MustRun(append([]string{"subscriber", "add", "--username", u.name, "--password", "pw", "--plan", "Home",
			"--email", u.name + "@example.org"}, u.extra...)...)
		if u.money {
			// While no period is due, a top-up renews nothing.
			s.MustRun("subscription", "set", "--username", u.name, "--period-start", soon)
			s.MustRun("wallet", "credit", "--subscriber", u.name, "--amount", "10.00", "--note", "cash")
			s.MustRun("subscription", "set", "--username", u.name, "--period-start", ended, "--paid")
		} else {
			s.MustRun("subscription", "set", "--username", u.name, "--period-start", now.Add(-time.Hour).Format(time.RFC3339))
		}
	}
	if st := s.subscription("alice"); st.State != "active" || !st.Paid || !st.PeriodEnd.Before(now) || st.Balance != "10.00" {
		t.Fatalf("before cron: alice %+v; want a paid period that ended, 10.00 to pay the next", st)
	}

	t.Setenv("TOLLGATE_BILLING_INTERVAL", "1s")
	t.Setenv("TOLLGATE_NOTIFY_INTERVAL", "1s")
	t.Setenv("LOG_LEVEL", "info")
	bin := mustBinary(t)
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command(bin, "serve", "--roles", "cron")
		cmd.Env = os.Environ()
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("serve%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		cmds = append(cmds, cmd)
	}

	// subjects returns the subjects mailed to each recipient, sorted.
	subjects := func() map[string][]string {
		out := map[string][]string{}
		for _, m := range smtp.Mails() {
			msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, to := range m.To {
				out[to] = append(out[to], msg.Header.Get("Subject"))
			}
		}
		for _, v := range out {
			slices.Sort(v)
		}
		return out
	}
	want := map[string][]string{
		"alice@example.org": {"Payment received: 10.00 USD", "Your Home subscription is renewed"},
		"carol@example.org": {"Payment received: 10.00 USD", "Your service is limited until you pay"},
		"bob@example.org":   {"Your service is limited until you pay"},
	}
	done := func() string {
		a, b, c := s.subscription("alice"), s.subscription("bob"), s.subscription("carol")
		if a.State != "active" || !a.Paid || a.Balance != "0.00" || b.State != "isolated" || c.State != "isolated" || c.Balance != "10.00" {
			return fmt.Sprintf("alice %s paid=%v %s, bob %s, carol %s %s", a.State, a.Paid, a.Balance, b.State, c.State, c.Balance)
		}
		if got := subjects(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("mails %v", got)
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for msg := done(); msg != ""; msg = done() {
		if time.Now().After(deadline) {
			t.Fatalf("cron did not bill: %s", msg)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Three more billing slots and notify slots, finished: nothing more happens.
	pool := mustPool(t)
	ctx := context.Background()
	mark := time.Now()
	deadline = time.Now().Add(30 * time.Second)
	for {
		var billing, notify int
		if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE job = 'billing'), count(*) FILTER (WHERE job = 'notify-send')
			FROM cron_runs WHERE scheduled_at > $1 AND finished_at IS NOT NULL`, mark).Scan(&billing, &notify); err != nil {
			t.Fatal(err)
		}
		if billing >= 3 && notify >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d billing and %d notify slots ran in 30s", billing, notify)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if msg := done(); msg != "" {
		t.Fatalf("later slots changed something: %s", msg)
	}
	var failed, nodes int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE error <> ''), count(DISTINCT node) FROM cron_runs WHERE job = 'billing'`).Scan(&failed, &nodes); err != nil || failed != 0 {
		t.Fatalf("%d billing slots failed, %v", failed, err)
	}
	var renewals int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM renewals`).Scan(&renewals); err != nil || renewals != 1 {
		t.Fatalf("%d renewals, %v; want alice's one", renewals, err)
	}
	mustMoneyInvariants(t, pool)

	// The passes' own account, summed over both replicas: one renewal, two isolations.
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
	renewed, isolated := 0, 0
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("serve%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range passLine.FindAllStringSubmatch(string(b), -1) {
			r, _ := strconv.Atoi(m[1])
			n, _ := strconv.Atoi(m[3])
			renewed, isolated = renewed+r, isolated+n
		}
	}
	t.Logf("billing slots run by %d replicas", nodes)
	if renewed != 1 || isolated != 2 {
		t.Fatalf("replicas' passes renewed %d and isolated %d; want 1 and 2", renewed, isolated)
	}
}
