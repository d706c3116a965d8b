package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/radius/radiustest"
)

// mustJSON runs a command with --json and decodes its output into v.
func (s *stack) mustJSON(v any, args ...string) {
	s.t.Helper()
	out := s.MustRun(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("tollgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// pass runs `billing run --now at --json`.
func (s *stack) pass(at string) passJSON {
	s.t.Helper()
	var p passJSON
	s.mustJSON(&p, "billing", "run", "--now", at)
	return p
}

// subscription runs `subscription show --json`.
func (s *stack) subscription(user string) subscriptionJSON {
	s.t.Helper()
	var st subscriptionJSON
	s.mustJSON(&st, "subscription", "show", "--username", user)
	return st
}

// mustPool opens a pool on the stack's database, for checks no command prints.
func mustPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// mustMoneyInvariants checks, on the stack's database, that every wallet's entries add
// up to its balance (never below its credit limit), that no period was renewed twice,
// and that invoice and receipt numbers run from 1 without gaps.
func mustMoneyInvariants(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var bad int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM wallets w
		WHERE w.balance_cents <> (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries WHERE wallet_id = w.id)
		   OR w.balance_cents < -w.credit_limit_cents`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("wallets whose entries do not add up: %d, %v", bad, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM renewals GROUP BY subscription_id, period_start
		HAVING count(*) > 1) d`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("periods renewed twice: %d, %v", bad, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT kind, year FROM invoices GROUP BY kind, year
		HAVING count(*) <> max(seq) OR count(DISTINCT seq) <> count(*) OR min(seq) <> 1) d`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("document numbers with gaps or duplicates: %d, %v", bad, err)
	}
}

// TestE2EMoney runs a PPPoE subscriber through months of renewals with a simulated
// clock (billing run --now) on a 31 January anchor, with radclient as the NAS and the
// fake CoA listener: grace keeps service, isolation is an Accept with the isolation
// plan's address list and rate (and a Disconnect so the router redials into it), a
// subscriber without isolation plan is rejected as unpaid, and a manual top-up restores
// at once (a Disconnect again, then a normal Accept).
func TestE2EMoney(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_CURRENCY", "KES")
	t.Setenv("TOLLGATE_TAX_RATE", "16")
	t.Setenv("TOLLGATE_TAX_NAME", "VAT")
	secret := "money-secret-12"
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "Unpaid", "--kind", "pppoe", "--rate-limit", "256k/256k", "--pool", "expired-pool",
		"--address-list", "tollgate-isolated")
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe", "--price", "20.00", "--period", "month", "--grace", "2d",
		"--isolation-plan", "Unpaid", "--rate-limit", "10M/10M", "--pool", "pppoe-pool", "--address-list", "subs")
	s.MustRun("plan", "add", "--name", "Bare", "--kind", "pppoe", "--price", "15.00", "--period", "month", "--rate-limit", "5M/5M")
	var sub subscriberJSON
	s.mustJSON(&sub, "subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "Home",
		"--name", "Alice Wanjiru", "--email", "Alice@Example.com", "--phone", "+254 712 345 678")
	if sub.Email != "alice@example.com" || sub.Phone != "+254712345678" || sub.Name != "Alice Wanjiru" || !sub.AutoRenew {
		t.Fatalf("subscriber %+v", sub)
	}
	if code, _, errs := s.run("subscriber", "add", "--username", "x", "--password", "pw", "--plan", "Home", "--phone", "0712345678"); code != 1 ||
		!strings.Contains(errs, "phone:") || !strings.Contains(errs, "+254712345678") {
		t.Fatalf("national phone number: exit %d %s", code, errs)
	}
	s.MustRun("subscriber", "add", "--username", "bob", "--password", "pw-bob", "--plan", "Bare")
	// Their first periods start on 31 January 2027 (the clock the passes simulate).
	for _, u := range []string{"alice", "bob"} {
		s.MustRun("subscription", "set", "--username", u, "--period-start", "2027-01-31T10:00:00Z")
	}
	if st := s.subscription("alice"); st.State != "active" || st.Paid || st.AnchorDay != 31 || st.Plan != "Home" ||
		st.PeriodEnd != mustRFC3339(t, "2027-02-28T10:00:00Z") || st.Balance != "0.00" || st.Currency != "KES" || st.RenewalAmount != "20.00" {
		t.Fatalf("subscription %+v", st)
	}
	// Top-ups happen now, at the real time: their receipts are numbered in this year.
	year := time.Now().Year()
	var credit walletCreditJSON
	s.mustJSON(&credit, "wallet", "credit", "--subscriber", "alice", "--amount", "50.00", "--note", "cash", "--idempotency-key", "till-1")
	if credit.Amount != "50.00" || credit.Balance != "50.00" || credit.Receipt != fmt.Sprintf("RCT-%d-000001", year) || len(credit.Settled) != 0 {
		t.Fatalf("credit %+v", credit)
	}
	// The same key again changes nothing.
	s.mustJSON(&credit, "wallet", "credit", "--subscriber", "alice", "--amount", "50.00", "--note", "cash", "--idempotency-key", "till-1")
	if !credit.Replayed || credit.Balance != "50.00" {
		t.Fatalf("replayed credit %+v", credit)
	}
	s.serve()
	auth := func(user, pw string) string {
		t.Helper()
		out, _ := s.radclient(secret, fmt.Sprintf("User-Name=%s,User-Password=%s,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00", user, pw))
		return out
	}
	common := "NAS-Identifier=r1,NAS-Port-Type=Ethernet,Service-Type=Framed-User,Framed-Protocol=PPP,Calling-Station-Id=AA:BB:CC:00:00:01"
	normal := []string{"Received Access-Accept", `Mikrotik-Rate-Limit = "10M/10M"`, `Framed-Pool = "pppoe-pool"`, `Mikrotik-Address-List = "subs"`}

	// 31 January: alice is charged her first month; bob (no money, no grace, no
	// isolation plan) is isolated and rejected.
	p := s.pass("2027-01-31T10:00:00Z")
	if p.Renewed != 1 || p.Isolated != 1 || p.ExpiredCheckouts != 0 {
		t.Fatalf("pass %+v", p)
	}
	mustContain(t, auth("alice", "pw-alice"), normal...)
	if out := auth("alice", "pw-alice"); strings.Contains(out, "Session-Timeout") {
		t.Fatalf("a paid subscriber got a Session-Timeout:\n%s", out)
	}
	mustContain(t, auth("bob", "pw-bob"), "Received Access-Reject", `Reply-Message = "Payment due"`)
	var log []struct {
		Reason string `json:"reason"`
	}
	eventually(t, "auth log of bob", func() string {
		s.mustJSON(&log, "authlog", "--user", "bob")
		if len(log) == 0 || log[0].Reason != "unpaid" {
			return fmt.Sprintf("%+v", log)
		}
		return ""
	})

	// 28 February, then 31 March: the anchor day is kept after a short month.
	if p = s.pass("2027-02-28T10:00:00Z"); p.Renewed != 1 || p.Outcomes[0].PeriodEnd != mustRFC3339(t, "2027-03-31T10:00:00Z") {
		t.Fatalf("pass %+v", p)
	}
	// Twice at the same time: nothing more.
	if p = s.pass("2027-02-28T10:00:00Z"); len(p.Outcomes) != 0 {
		t.Fatalf("second pass %+v", p)
	}
	// 10.00 left for 20.00: the 7-day reminder, once.
	if p = s.pass("2027-03-24T10:00:00Z"); p.Reminders != 1 || p.Outcomes[0].Days != 7 {
		t.Fatalf("pass %+v", p)
	}
	if p = s.pass("2027-03-25T10:00:00Z"); p.Reminders != 0 {
		t.Fatalf("pass %+v", p)
	}
	// 31 March: grace; service goes on.
	if p = s.pass("2027-03-31T10:00:00Z"); p.Grace != 1 {
		t.Fatalf("pass %+v", p)
	}
	if st := s.subscription("alice"); st.State != "grace" || st.Balance != "10.00" || st.GraceUntil == nil ||
		*st.GraceUntil != mustRFC3339(t, "2027-04-02T10:00:00Z") {
		t.Fatalf("subscription %+v", st)
	}
	mustContain(t, auth("alice", "pw-alice"), normal...)

	// Online when the grace ends: isolated, disconnected, and the redial gets isolation.
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=M1,User-Name=alice,Framed-IP-Address=10.0.0.2,"+common)
	if p = s.pass("2027-04-02T10:00:00Z"); p.Isolated != 1 || len(p.Outcomes[0].Disconnected) != 1 || p.Outcomes[0].Disconnected[0].Result != "ack" {
		t.Fatalf("pass %+v", p)
	}
	if r := waitCoA(t, nas, codeDisconnect, "M1"); r.Username != "alice" {
		t.Fatalf("disconnect %+v", r)
	}
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=M1,User-Name=alice,Acct-Session-Time=60,Acct-Terminate-Cause=Admin-Reset,"+common)
	out := auth("alice", "pw-alice")
	mustContain(t, out, "Received Access-Accept", `Mikrotik-Rate-Limit = "256k/256k"`, `Framed-Pool = "expired-pool"`,
		`Mikrotik-Address-List = "tollgate-isolated"`, "Session-Timeout = 600")
	if strings.Contains(out, "10M/10M") || strings.Contains(out, `"subs"`) {
		t.Fatalf("isolation carries the paid plan:\n%s", out)
	}

	// A manual top-up restores at once: the isolated session is disconnected and the
	// router's redial gets the paid plan.
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=M2,User-Name=alice,Framed-IP-Address=10.99.0.2,"+common)
	s.mustJSON(&credit, "wallet", "credit", "--subscriber", "alice", "--amount", "15.00", "--note", "M-Pesa at the shop")
	if len(credit.Settled) != 1 || !credit.Settled[0].Restored || credit.Balance != "5.00" || len(credit.Settled[0].Disconnected) != 1 {
		t.Fatalf("restore %+v", credit)
	}
	if r := waitCoA(t, nas, codeDisconnect, "M2"); r.Username != "alice" {
		t.Fatalf("disconnect %+v", r)
	}
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=M2,User-Name=alice,Acct-Session-Time=60,Acct-Terminate-Cause=Admin-Reset,"+common)
	out = auth("alice", "pw-alice")
	mustContain(t, out, normal...)
	if strings.Contains(out, "Session-Timeout") {
		t.Fatalf("restored subscriber still isolated:\n%s", out)
	}
	if st := s.subscription("alice"); st.State != "active" || !st.Paid || st.Balance != "5.00" {
		t.Fatalf("subscription %+v", st)
	}

	// The wallet, the documents, the outbox.
	var w walletJSON
	s.mustJSON(&w, "wallet", "show", "--subscriber", "alice")
	if w.Balance != "5.00" || w.Currency != "KES" || len(w.Entries) != 5 || w.Entries[0].Amount != "-20.00" || w.Entries[0].Kind != "renewal" ||
		w.Entries[1].Amount != "15.00" || w.Entries[1].Kind != "topup" || w.Entries[4].Amount != "50.00" || w.Entries[4].BalanceAfter != "50.00" {
		t.Fatalf("wallet %+v", w)
	}
	var docs []invoiceJSON
	s.mustJSON(&docs, "invoice", "list", "--subscriber", "alice")
	var numbers []string
	for _, d := range docs {
		numbers = append(numbers, d.Number+":"+d.Net+"+"+d.Tax+"="+d.Total)
	}
	// Newest first. The passes' invoices are dated by the simulated clock (2027); the
	// receipts and the restore's invoice by the real one.
	restore := fmt.Sprintf("INV-%d-000001", year)
	if year == 2027 {
		restore = "INV-2027-000003"
	}
	want := []string{restore + ":17.24+2.76=20.00", fmt.Sprintf("RCT-%d-000002:15.00+0.00=15.00", year),
		"INV-2027-000002:17.24+2.76=20.00", "INV-2027-000001:17.24+2.76=20.00", fmt.Sprintf("RCT-%d-000001:50.00+0.00=50.00", year)}
	if strings.Join(numbers, " ") != strings.Join(want, " ") {
		t.Fatalf("documents %v\nwant      %v", numbers, want)
	}
	// Each item says its kind and when it was issued: the passes' invoices on their --now.
	for _, d := range docs {
		if kind := map[string]string{"INV": "invoice", "RCT": "receipt"}[d.Number[:3]]; d.Kind != kind || d.IssuedAt.IsZero() {
			t.Fatalf("document %s: kind %q issued %v", d.Number, d.Kind, d.IssuedAt)
		}
	}
	if !docs[3].IssuedAt.Equal(mustRFC3339(t, "2027-01-31T10:00:00Z")) || !docs[2].IssuedAt.Equal(mustRFC3339(t, "2027-02-28T10:00:00Z")) {
		t.Fatalf("renewal invoices issued %v and %v; want on their passes' --now", docs[3].IssuedAt, docs[2].IssuedAt)
	}
	var inv invoiceJSON
	s.mustJSON(&inv, "invoice", "show", "INV-2027-000001")
	if inv.Kind != "invoice" || inv.Net != "17.24" || inv.Tax != "2.76" || inv.Total != "20.00" || inv.TaxName != "VAT" || inv.TaxRate != "16" ||
		inv.Username != "alice" || inv.Customer != "Alice Wanjiru" || inv.Plan != "Home" || len(inv.Lines) != 1 ||
		inv.Lines[0].Description != "Home, 2027-01-31 to 2027-02-28" {
		t.Fatalf("invoice %+v", inv)
	}
	mustContain(t, s.MustRun("invoice", "show", "INV-2027-000001"), "INVOICE INV-2027-000001", "VAT 16% 2.76", "20.00 KES")
	pool := mustPool(t)
	rows, err := pool.Query(context.Background(), `SELECT e.kind FROM billing_events e JOIN subscribers s ON s.id = e.subscriber_id
		WHERE s.username = 'alice' ORDER BY e.id`)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		events = append(events, k)
	}
	rows.Close()
	if got := strings.Join(events, " "); got != "payment_received renewed renewed reminder grace isolated payment_received renewed restored" {
		t.Fatalf("events: %s", got)
	}
	mustMoneyInvariants(t, pool)
	// Manual top-ups are audited, with the command line's user, each time.
	var audited int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'wallet.credit'
		AND actor LIKE 'cli%' AND target = $1 AND detail ? 'receipt'`, fmt.Sprintf("subscriber:%d", sub.ID)).Scan(&audited); err != nil || audited != 3 {
		t.Fatalf("audited wallet credits: %d, %v; want 3 (the replay too)", audited, err)
	}

	// A plan change waits for the next renewal; --now switches at once.
	s.MustRun("plan", "add", "--name", "Fast", "--kind", "pppoe", "--price", "30.00", "--period", "30d", "--rate-limit", "20M/20M")
	var set subscriberJSON
	s.mustJSON(&set, "subscriber", "set", "--username", "alice", "--plan", "Fast")
	if set.Plan != "Home" || set.NextPlan != "Fast" {
		t.Fatalf("scheduled plan change %+v", set)
	}
	if st := s.subscription("alice"); st.NextPlan != "Fast" || st.RenewalAmount != "30.00" {
		t.Fatalf("subscription %+v", st)
	}
	var now subscriberJSON
	s.mustJSON(&now, "subscriber", "set", "--username", "alice", "--plan", "Fast", "--now")
	if now.Plan != "Fast" || now.NextPlan != "" {
		t.Fatalf("plan change now %+v", now)
	}
	mustContain(t, auth("alice", "pw-alice"), `Mikrotik-Rate-Limit = "20M/20M"`)
	mustContain(t, s.MustRun("subscription", "show", "--username", "alice"), `plan "Fast"`, "balance:       5.00 KES")
}

func mustRFC3339(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestE2EMoneyRaces: two `billing run` processes started at the same moment, and many
// top-ups racing a billing run, end with each period charged once, every wallet adding
// up and document numbers without gaps.
func TestE2EMoneyRaces(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe", "--price", "10.00", "--period", "month", "--grace", "1d")
	const n = 8
	for i := range n {
		u := fmt.Sprintf("r%d", i)
		s.MustRun("subscriber", "add", "--username", u, "--password", "pw", "--plan", "Home")
		s.MustRun("subscription", "set", "--username", u, "--period-start", "2027-01-31T10:00:00Z")
		s.MustRun("wallet", "credit", "--subscriber", u, "--amount", "30.00", "--note", "cash")
	}
	pool := mustPool(t)

	t.Run("two billing run processes at once", func(t *testing.T) {
		bin := mustBinary(t)
		dir := t.TempDir()
		var cmds []*exec.Cmd
		outs := make([]string, 2)
		for i := range 2 {
			outs[i] = filepath.Join(dir, fmt.Sprintf("run%d.json", i))
			f, err := os.Create(outs[i])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Three months at once: 31 January, 28 February and 31 March are due.
			cmd := exec.Command(bin, "billing", "run", "--now", "2027-03-31T12:00:00Z", "--json")
			cmd.Env, cmd.Stdout, cmd.Stderr = os.Environ(), f, f
			cmds = append(cmds, cmd)
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		renewed := 0
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				b, _ := os.ReadFile(outs[i])
				t.Fatalf("billing run %d: %v\n%s", i, err, b)
			}
			b, err := os.ReadFile(outs[i])
			if err != nil {
				t.Fatal(err)
			}
			var p passJSON
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("run %d: %v\n%s", i, err, b)
			}
			renewed += p.Renewed
		}
		if renewed != 3*n {
			t.Fatalf("%d renewals, want %d (three months of %d subscribers, once)", renewed, 3*n, n)
		}
		for i := range n {
			if st := s.subscription(fmt.Sprintf("r%d", i)); st.State != "active" || st.Balance != "0.00" ||
				st.PeriodEnd != mustRFC3339(t, "2027-04-30T10:00:00Z") {
				t.Fatalf("r%d: %+v", i, st)
			}
		}
		mustMoneyInvariants(t, pool)
	})

	t.Run("top-ups racing a billing run", func(t *testing.T) {
		// 30 April is owed by everyone; top-ups and a pass at once: each period once.
		var wg sync.WaitGroup
		errs := make(chan string, 3*n+1)
		start := make(chan struct{})
		for i := range 3 * n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				u := fmt.Sprintf("r%d", i%n)
				// Each top-up sent three times with one key (a retried command).
				code, out, errOut := s.run("wallet", "credit", "--subscriber", u, "--amount", "10.00", "--note", "cash",
					"--idempotency-key", "race-"+u)
				if code != 0 {
					errs <- out + errOut
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if code, out, errOut := s.run("billing", "run", "--now", "2027-04-30T12:00:00Z"); code != 0 {
				errs <- out + errOut
			}
		}()
		close(start)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		s.pass("2027-04-30T12:00:00Z") // whatever the race left due
		for i := range n {
			if st := s.subscription(fmt.Sprintf("r%d", i)); st.State != "active" || st.Balance != "0.00" ||
				st.PeriodEnd != mustRFC3339(t, "2027-05-31T10:00:00Z") {
				t.Fatalf("r%d: %+v", i, st)
			}
		}
		var docs []invoiceJSON
		s.mustJSON(&docs, "invoice", "list", "--kind", "invoice", "--limit", "1000")
		if len(docs) != 4*n || docs[0].Number != fmt.Sprintf("INV-2027-%06d", 4*n) {
			t.Fatalf("%d invoices, newest %s; want %d", len(docs), docs[0].Number, 4*n)
		}
		mustMoneyInvariants(t, pool)
	})
}

// TestInvoiceListRestricted: `invoice list` of every subscriber shows the documents of
// a subscriber who restricted processing without his username and customer name,
// marked restricted, in JSON and in text; his own list under --reason shows them
// whole, and other subscribers' documents show whole either way.
func TestInvoiceListRestricted(t *testing.T) {
	s := MustStack(t, true)
	pool := s.mustPool()
	s.mustSubscribers(pool, nil, "al", "bo")
	mustExec(t, pool, `UPDATE subscribers SET name = 'Al Restricted' WHERE username = 'al'`)
	mustExec(t, pool, `UPDATE subscribers SET name = 'Bo Open' WHERE username = 'bo'`)
	for _, n := range []string{"al", "bo"} {
		s.MustRun("wallet", "credit", "--subscriber", n, "--amount", "5", "--note", "cash")
	}
	mustExec(t, pool, `UPDATE subscribers SET restricted = true WHERE username = 'al'`)
	var alReceipt string
	if err := pool.QueryRow(context.Background(), `SELECT number FROM invoices WHERE username = 'al'`).Scan(&alReceipt); err != nil {
		t.Fatal(err)
	}
	byNumber := func(docs []invoiceJSON) map[string]invoiceJSON {
		t.Helper()
		if len(docs) != 2 {
			t.Fatalf("documents %+v; want 2", docs)
		}
		m := map[string]invoiceJSON{}
		for _, d := range docs {
			m[d.Number] = d
		}
		return m
	}

	for _, args := range [][]string{{"invoice", "list"}, {"invoice", "list", "--reason", "ticket 42"}} {
		var docs []invoiceJSON
		s.mustJSON(&docs, args...)
		for n, d := range byNumber(docs) {
			if n == alReceipt {
				if !d.Restricted || d.Username != "" || d.Customer != "" || d.Total != "5.00" {
					t.Errorf("%v: al's document %+v; want restricted, username and customer blank", args, d)
				}
			} else if d.Restricted || d.Username != "bo" || d.Customer != "Bo Open" {
				t.Errorf("%v: bo's document %+v; want whole", args, d)
			}
		}
		out := s.MustRun(args...)
		if strings.Contains(out, " al ") || strings.Contains(out, "Al Restricted") || !strings.Contains(out, " bo ") ||
			!strings.Contains(out, "withheld") || !strings.Contains(out, "--reason") {
			t.Errorf("%v text:\n%s", args, out)
		}
		if raw := s.MustRun(append(args, "--json")...); strings.Contains(raw, `"al"`) || strings.Contains(raw, "Al Restricted") || !strings.Contains(raw, `"restricted": true`) {
			t.Errorf("%v --json:\n%s", args, raw)
		}
	}

	// His own list asks for the reason, and under it shows him whole, marked restricted.
	if code, _, errs := s.run("invoice", "list", "--subscriber", "al"); code != 1 || !strings.Contains(errs, "reason") {
		t.Fatalf("invoice list --subscriber al without a reason: exit %d %q", code, errs)
	}
	var mine []invoiceJSON
	s.mustJSON(&mine, "invoice", "list", "--subscriber", "al", "--reason", "ticket 42")
	if len(mine) != 1 || mine[0].Number != alReceipt || !mine[0].Restricted || mine[0].Username != "al" || mine[0].Customer != "Al Restricted" {
		t.Fatalf("al's own list under a reason: %+v", mine)
	}
	if out := s.MustRun("invoice", "list", "--subscriber", "al", "--reason", "ticket 42"); !strings.Contains(out, " al ") || strings.Contains(out, "withheld") {
		t.Fatalf("al's own list under a reason, text:\n%s", out)
	}
}
