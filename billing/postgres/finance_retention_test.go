package postgres_test

import (
	"context"
	"testing"
	"time"

	"tollgate/billing"
)

// TestFinanceRetention: once TOLLGATE_FINANCE_RETENTION_YEARS are over, invoices and
// receipts lose the customer's name and username, ledger entries their notes and
// receipts' lines the top-up's note they repeat, every amount and balance staying as it
// was; records of erasures are deleted; newer records are left alone, and a second pass
// changes nothing.
func TestFinanceRetention(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Home", PriceCents: 2000, Period: billing.PeriodMonth})
	m.add(t, "alice", "Home")
	m.credit(t, "alice", 5000)
	// A top-up whose note names the payer: the ledger and the receipt's line both say it.
	if _, err := m.money.Credit(ctx, billing.CreditRequest{Username: "alice", AmountCents: 100, Note: "cash from Alice Wanjiru's brother",
		IdempotencyKey: "k-named", Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	payerNamed := func() int {
		var n int
		if err := m.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM invoice_lines WHERE description LIKE '%Wanjiru%')
  + (SELECT count(*) FROM ledger_entries WHERE note LIKE '%Wanjiru%')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if payerNamed() != 2 {
		t.Fatalf("%d records name the payer before the pass; want the ledger entry and the receipt's line", payerNamed())
	}
	m.pass(t, "2027-01-31T11:00:00Z")
	if _, err := m.pool.Exec(ctx, `INSERT INTO erasures (pseudonym, erased_at) VALUES ('erased-abcdefghij', '2020-05-01')`); err != nil {
		t.Fatal(err)
	}
	// A payment that went to review, naming the account the payer typed.
	if _, err := m.pool.Exec(ctx, `INSERT INTO payments (provider, provider_id, account, amount_cents, currency, received_at, outcome)
VALUES ('generic', 'p-1', 'alice', 700, 'NGN', '2027-02-01', 'review')`); err != nil {
		t.Fatal(err)
	}
	var totalBefore, balanceBefore int64
	sums := func() (int64, int64) {
		var total, bal int64
		if err := m.pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(total_cents), 0) FROM invoices),
  (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries)`).Scan(&total, &bal); err != nil {
			t.Fatal(err)
		}
		return total, bal
	}
	totalBefore, balanceBefore = sums()
	if totalBefore == 0 {
		t.Fatal("no invoice to archive")
	}
	r := &billing.Retention{Store: m.store, Months: 12, FinanceYears: 7, Loc: time.UTC}

	// Seven years on, nothing of 2027 is past the cutoff (2027-01-01 + 7 years = 2034).
	rep, err := r.Run(ctx, time.Date(2033, 12, 31, 0, 0, 0, 0, time.UTC))
	if err != nil || rep.Finance["invoices"] != 0 || rep.Finance["erasures"] != 1 {
		t.Fatalf("2033: %+v, %v", rep, err)
	}
	rep, err = r.Run(ctx, time.Date(2035, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil || rep.Finance["invoices"] == 0 || rep.Finance["ledger_entries"] == 0 || rep.Finance["payments"] != 1 || !rep.FinanceCutoff.Equal(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("2035: %+v, %v", rep, err)
	}
	var named int
	if err := m.pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE username = 'alice' OR customer_name <> ''`).Scan(&named); err != nil || named != 0 {
		t.Fatalf("%d invoices still name the customer (%v)", named, err)
	}
	if err := m.pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE account <> ''`).Scan(&named); err != nil || named != 0 {
		t.Fatalf("%d payments still name the account (%v)", named, err)
	}
	if err := m.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE note <> '' OR actor <> 'archived'`).Scan(&named); err != nil || named != 0 {
		t.Fatalf("%d ledger entries keep notes (%v)", named, err)
	}
	if n := payerNamed(); n != 0 {
		t.Fatalf("%d ledger notes or receipt lines still name the payer", n)
	}
	var line string
	if err := m.pool.QueryRow(ctx, `SELECT l.description FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.total_cents = 100`).Scan(&line); err != nil || line != "Top-up" {
		t.Fatalf("the receipt's line reads %q, %v; want Top-up", line, err)
	}
	if total, bal := sums(); total != totalBefore || bal != balanceBefore {
		t.Fatalf("amounts changed: %d/%d → %d/%d", totalBefore, balanceBefore, total, bal)
	}
	mustInvariants(t, m.pool)
	if rep, err = r.Run(ctx, time.Date(2035, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil || rep.Finance["invoices"] != 0 || rep.Finance["ledger_entries"] != 0 || rep.Finance["payments"] != 0 || rep.Finance["invoice_lines"] != 0 {
		t.Fatalf("second pass: %+v, %v", rep, err)
	}
}
