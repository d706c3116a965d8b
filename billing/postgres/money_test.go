package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
	"tollgate/radius/radiustest"
)

// disconnects records the users the money engine disconnected, with the reason.
type disconnects struct {
	mu    sync.Mutex
	calls []string // "user:reason"
}

func (d *disconnects) DisconnectUser(_ context.Context, username, reason string) ([]radius.CoAResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, username+":"+reason)
	return []radius.CoAResult{{Result: "ack"}}, nil
}

// take returns and forgets the recorded calls, sorted.
func (d *disconnects) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	slices.Sort(c)
	return c
}

// moneyEnv is the plan and subscriber service and the money engine on one database,
// with one settable clock.
type moneyEnv struct {
	*env
	money *billing.SubscriberService
	dis   *disconnects
}

func mustMoneyEnv(tb testing.TB) *moneyEnv {
	tb.Helper()
	return moneyEnvOn(tb, radiustest.MustDB(tb))
}

// mustRacePool returns a pool with room for racing goroutines.
func mustRacePool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(radiustest.MustDBURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func moneyEnvOn(tb testing.TB, pool *pgxpool.Pool) *moneyEnv {
	tb.Helper()
	e := &env{pool: pool, rec: &recorder{}, now: time.Date(2027, 1, 31, 10, 0, 0, 0, time.UTC)}
	e.store = postgres.NewStore(pool)
	clock := func() time.Time { return e.now }
	e.svc = &billing.Service{Store: e.store, Sealer: sealerFunc(fakeSeal), Changes: e.rec.changes(), Now: clock}
	m := &moneyEnv{env: e, dis: &disconnects{}}
	m.money = &billing.SubscriberService{
		Store: e.store, InTx: postgres.InTx(pool), Changes: e.rec.changes(), Disconnect: m.dis, Now: clock,
		Config: billing.MoneyConfig{
			TaxRules: billing.TaxRules{Currency: "KES", TaxRateBP: 1600, TaxName: "VAT"},
			Rules:    billing.Rules{Location: time.UTC, RemindDays: []int{7, 3, 1}},
		},
	}
	return m
}

// mustPlan creates a plan through the service.
func (m *moneyEnv) plan(tb testing.TB, p billing.Plan) *billing.Plan {
	tb.Helper()
	if p.Kind == "" {
		p.Kind = radius.KindPPPoE
	}
	got, err := m.svc.CreatePlan(context.Background(), p)
	if err != nil {
		tb.Fatalf("create plan %q: %v", p.Name, err)
	}
	return got
}

// add adds a subscriber on plan.
func (m *moneyEnv) add(tb testing.TB, username, plan string) *billing.Subscriber {
	tb.Helper()
	s, err := m.svc.AddSubscriber(context.Background(), billing.NewSubscriber{Username: username, Password: "pw", Plan: plan})
	if err != nil {
		tb.Fatalf("add %q: %v", username, err)
	}
	return s
}

// credit tops username up with a fresh key.
func (m *moneyEnv) credit(tb testing.TB, username string, cents int64) *billing.CreditResult {
	tb.Helper()
	res, err := m.money.Credit(context.Background(), billing.CreditRequest{Username: username, AmountCents: cents,
		Note: "cash", IdempotencyKey: radiustest.RandomName("k-"), Actor: "cli:test"})
	if err != nil {
		tb.Fatalf("credit %q %d: %v", username, cents, err)
	}
	return res
}

// pass runs a billing pass at the time written in RFC 3339.
func (m *moneyEnv) pass(tb testing.TB, at string) *billing.PassReport {
	tb.Helper()
	rep, err := m.money.RunPass(context.Background(), mustTime(tb, at))
	if err != nil || len(rep.Errors) > 0 {
		tb.Fatalf("pass at %s: %v %v", at, err, rep)
	}
	return rep
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// sub returns the subscription of username.
func (m *moneyEnv) sub(tb testing.TB, username string) *billing.SubscriptionStatus {
	tb.Helper()
	st, err := m.money.Subscription(context.Background(), username)
	if err != nil {
		tb.Fatalf("subscription of %q: %v", username, err)
	}
	return st
}

// wantSub checks the state, paid flag, period and balance of username's subscription.
func (m *moneyEnv) wantSub(tb testing.TB, username string, state radius.SubscriptionState, paid bool, start, end string, balance int64) {
	tb.Helper()
	st := m.sub(tb, username)
	if st.State != state || st.Paid != paid || !st.PeriodStart.Equal(mustTime(tb, start)) ||
		!st.PeriodEnd.Equal(mustTime(tb, end)) || st.BalanceCents != balance {
		tb.Fatalf("%s: %s paid=%v [%s, %s) balance %d; want %s paid=%v [%s, %s) balance %d", username,
			st.State, st.Paid, st.PeriodStart.UTC().Format(time.RFC3339), st.PeriodEnd.UTC().Format(time.RFC3339), st.BalanceCents,
			state, paid, start, end, balance)
	}
}

// events returns the kinds of username's events, oldest first, with their keys' days
// for reminders ("reminder:7").
func (m *moneyEnv) events(tb testing.TB, subscriberID int64) []string {
	tb.Helper()
	list, err := m.store.FindEvents(context.Background(), subscriberID, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := len(list) - 1; i >= 0; i-- {
		k := string(list[i].Kind)
		if list[i].Kind == billing.EventReminder {
			k += ":" + list[i].Data["days"]
		}
		out = append(out, k)
	}
	return out
}

// mustInvariants checks what must hold whatever ran: every wallet's entries sum to its
// balance (and the last entry holds it), no balance below its credit limit, each
// (subscription, period) renewed once, and invoice and receipt numbers run from 1
// without gaps or duplicates, as their counters say.
func mustInvariants(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	var bad int
	err := pool.QueryRow(ctx, `
SELECT count(*) FROM wallets w
LEFT JOIN LATERAL (SELECT coalesce(sum(amount_cents), 0) AS total FROM ledger_entries WHERE wallet_id = w.id) s ON true
LEFT JOIN LATERAL (SELECT balance_after_cents FROM ledger_entries WHERE wallet_id = w.id ORDER BY id DESC LIMIT 1) l ON true
WHERE w.balance_cents <> s.total OR w.balance_cents < -w.credit_limit_cents
   OR w.balance_cents <> coalesce(l.balance_after_cents, 0)`).Scan(&bad)
	if err != nil || bad != 0 {
		tb.Fatalf("wallets whose entries do not add up to the balance: %d, %v", bad, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT subscription_id, period_start FROM renewals
		GROUP BY 1, 2 HAVING count(*) > 1) d`).Scan(&bad); err != nil || bad != 0 {
		tb.Fatalf("periods renewed twice: %d, %v", bad, err)
	}
	rows, err := pool.Query(ctx, `
SELECT i.kind, i.year, count(*), count(DISTINCT i.seq), min(i.seq), max(i.seq), max(c.last)
FROM invoices i JOIN invoice_counters c USING (kind, year)
GROUP BY i.kind, i.year`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var year, n, distinct, lo, hi, last int
		if err := rows.Scan(&kind, &year, &n, &distinct, &lo, &hi, &last); err != nil {
			tb.Fatal(err)
		}
		if n != distinct || lo != 1 || hi != n || last != n {
			tb.Fatalf("%s %d: %d numbers, %d distinct, from %d to %d, counter at %d: want 1..n without gaps", kind, year, n, distinct, lo, hi, last)
		}
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM invoices i
		WHERE total_cents <> (SELECT sum(total_cents) FROM invoice_lines WHERE invoice_id = i.id)
		   OR net_cents <> (SELECT sum(net_cents) FROM invoice_lines WHERE invoice_id = i.id)`).Scan(&bad); err != nil || bad != 0 {
		tb.Fatalf("invoices whose lines do not add up: %d, %v", bad, err)
	}
}

// TestSubscriptionLife follows one subscriber through renewals on a calendar month
// anchored on 31 January, reminders, grace, isolation and a restore by a top-up.
func TestSubscriptionLife(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Unpaid", RateLimit: "256k/256k", AddressList: "tollgate-isolated"})
	home := m.plan(t, billing.Plan{Name: "Home", PriceCents: 2000, Period: billing.PeriodMonth, Grace: 48 * time.Hour,
		IsolationPlan: "Unpaid", RateLimit: "10M/10M"})
	if home.IsolationPlanID == 0 || home.IsolationPlan != "Unpaid" || home.Period != billing.PeriodMonth || home.Grace != 48*time.Hour {
		t.Fatalf("plan %+v", home)
	}
	alice := m.add(t, "alice", "Home")
	m.rec.take()
	// A change of the isolation plan reaches the cached accounts of Home's subscribers.
	unpaid, _ := m.store.FindPlanByName(ctx, "Unpaid")
	if users, err := m.store.FindPlanUsernames(ctx, unpaid.ID); err != nil || !slices.Equal(users, []string{"alice"}) {
		t.Fatalf("users of the isolation plan %v, %v", users, err)
	}
	// The first period starts now, unpaid; the wallet is empty.
	m.wantSub(t, "alice", radius.SubscriptionActive, false, "2027-01-31T10:00:00Z", "2027-02-28T10:00:00Z", 0)
	if st := m.sub(t, "alice"); st.AnchorDay != 31 || st.RenewalCents != 2000 || st.RenewalPlan != "Home" || !st.NextRenewal.Equal(mustTime(t, "2027-01-31T10:00:00Z")) {
		t.Fatalf("subscription %+v", st)
	}

	// First pass: nothing to pay with: grace for two days, service goes on.
	rep := m.pass(t, "2027-01-31T10:00:00Z")
	if rep.Grace != 1 || rep.Renewed != 0 || rep.Outcomes[0].Username != "alice" {
		t.Fatalf("first pass %+v", rep)
	}
	m.wantSub(t, "alice", radius.SubscriptionGrace, false, "2027-01-31T10:00:00Z", "2027-02-28T10:00:00Z", 0)
	wantCalls(t, m.rec, []string{"alice"})
	if m.pass(t, "2027-02-01T10:00:00Z").Grace != 0 {
		t.Fatal("grace recorded twice")
	}

	// A top-up during the grace pays the first period at once.
	m.now = mustTime(t, "2027-02-01T12:00:00Z")
	res := m.credit(t, "alice", 5000)
	if res.Receipt == nil || res.Receipt.Number != "RCT-2027-000001" || res.Receipt.TotalCents != 5000 || res.Receipt.TaxCents != 0 ||
		len(res.Settled) != 1 || res.Settled[0].Invoice != "INV-2027-000001" || res.Settled[0].Restore || res.BalanceCents != 3000 {
		t.Fatalf("credit %+v settled %+v", res, res.Settled)
	}
	m.wantSub(t, "alice", radius.SubscriptionActive, true, "2027-01-31T10:00:00Z", "2027-02-28T10:00:00Z", 3000)
	if got := m.dis.take(); len(got) != 0 {
		t.Fatalf("a renewal in grace disconnected %v", got)
	}
	inv, err := m.money.Invoice(ctx, "inv-2027-000001")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Kind != billing.KindInvoice || inv.NetCents != 1724 || inv.TaxCents != 276 || inv.TotalCents != 2000 || inv.TaxName != "VAT" ||
		inv.TaxRateBP != 1600 || inv.Currency != "KES" || inv.Username != "alice" || inv.PlanName != "Home" ||
		!inv.PeriodStart.Equal(mustTime(t, "2027-01-31T10:00:00Z")) || len(inv.Lines) != 1 ||
		inv.Lines[0].Description != "Home, 2027-01-31 to 2027-02-28" || inv.Lines[0].TotalCents != 2000 {
		t.Fatalf("invoice %+v", inv)
	}

	// The same credit again (a retried command): nothing changes.
	again, err := m.money.Credit(ctx, billing.CreditRequest{Username: "alice", AmountCents: 5000, Note: "cash",
		IdempotencyKey: res.Entry.IdempotencyKey, Actor: "cli:test"})
	if err != nil || !again.Entry.Replayed || again.Receipt == nil || again.Receipt.Number != "RCT-2027-000001" || again.BalanceCents != 3000 || len(again.Settled) != 0 {
		t.Fatalf("replayed credit %+v, %v", again, err)
	}

	// 7 days before the end the balance covers the next month: no reminder.
	if rep := m.pass(t, "2027-02-21T10:00:00Z"); rep.Reminders != 0 || rep.Renewed != 0 {
		t.Fatalf("pass %+v", rep)
	}
	// 28 February: renewed until 31 March (the anchor, not the clamped day).
	if rep := m.pass(t, "2027-02-28T10:00:00Z"); rep.Renewed != 1 || rep.Outcomes[0].Invoice != "INV-2027-000002" {
		t.Fatalf("pass %+v", rep)
	}
	m.wantSub(t, "alice", radius.SubscriptionActive, true, "2027-02-28T10:00:00Z", "2027-03-31T10:00:00Z", 1000)
	// A pass at the same time again charges nothing.
	if rep := m.pass(t, "2027-02-28T10:00:00Z"); len(rep.Outcomes) != 0 {
		t.Fatalf("second pass %+v", rep)
	}
	// 10.00 will not cover 20.00: the 7-day reminder once, then (the 3-day one missed)
	// only the 1-day one.
	if rep := m.pass(t, "2027-03-24T10:00:00Z"); rep.Reminders != 1 || rep.Outcomes[0].Days != 7 {
		t.Fatalf("pass %+v", rep)
	}
	if rep := m.pass(t, "2027-03-24T11:00:00Z"); rep.Reminders != 0 {
		t.Fatalf("reminder again: %+v", rep)
	}
	if rep := m.pass(t, "2027-03-30T15:00:00Z"); rep.Reminders != 1 || rep.Outcomes[0].Days != 1 {
		t.Fatalf("catch-up pass %+v", rep)
	}
	// 31 March: grace; 2 April: isolated, and its sessions disconnected.
	if rep := m.pass(t, "2027-03-31T10:00:00Z"); rep.Grace != 1 {
		t.Fatalf("pass %+v", rep)
	}
	m.wantSub(t, "alice", radius.SubscriptionGrace, false, "2027-03-31T10:00:00Z", "2027-04-30T10:00:00Z", 1000)
	if rep := m.pass(t, "2027-04-02T10:00:00Z"); rep.Isolated != 1 {
		t.Fatalf("pass %+v", rep)
	}
	m.wantSub(t, "alice", radius.SubscriptionIsolated, false, "2027-03-31T10:00:00Z", "2027-04-30T10:00:00Z", 1000)
	if got := m.dis.take(); !slices.Equal(got, []string{"alice:unpaid"}) {
		t.Fatalf("disconnects %v", got)
	}
	if rep := m.pass(t, "2027-05-15T10:00:00Z"); len(rep.Outcomes) != 0 {
		t.Fatalf("an isolated subscription moved: %+v", rep)
	}
	m.rec.take()

	// A top-up that covers it restores at once: a period from now, anchored on today.
	m.now = mustTime(t, "2027-05-20T09:30:00Z")
	res = m.credit(t, "alice", 1500)
	if len(res.Settled) != 1 || !res.Settled[0].Restore || res.Settled[0].Invoice != "INV-2027-000003" || res.BalanceCents != 500 ||
		res.Receipt.Number != "RCT-2027-000002" {
		t.Fatalf("restore %+v %+v", res, res.Settled)
	}
	m.wantSub(t, "alice", radius.SubscriptionActive, true, "2027-05-20T09:30:00Z", "2027-06-20T09:30:00Z", 500)
	if got := m.dis.take(); !slices.Equal(got, []string{"alice:restored"}) {
		t.Fatalf("disconnects %v", got)
	}
	wantCalls(t, m.rec, []string{"alice"})

	want := []string{"grace", "payment_received", "renewed", "renewed", "reminder:7", "reminder:1", "grace", "isolated",
		"payment_received", "renewed", "restored"}
	if got := m.events(t, alice.ID); !slices.Equal(got, want) {
		t.Fatalf("events %v\nwant   %v", got, want)
	}
	list, err := m.money.Invoices(ctx, "alice", "", 0)
	if err != nil || len(list) != 5 || list[0].Number != "INV-2027-000003" || list[4].Number != "RCT-2027-000001" {
		t.Fatalf("invoices %+v, %v", list, err)
	}
	renewals, err := m.store.FindRenewals(ctx, m.sub(t, "alice").ID)
	if err != nil || len(renewals) != 3 {
		t.Fatalf("renewals %+v, %v", renewals, err)
	}
	mustInvariants(t, m.pool)

	t.Run("statement", func(t *testing.T) {
		w, entries, err := m.money.WalletOf(ctx, "alice", 0)
		if err != nil || w.BalanceCents != 500 || len(entries) != 5 || entries[0].Kind != billing.EntryRenewal || entries[0].AmountCents != -2000 {
			t.Fatalf("wallet %+v %+v, %v", w, entries, err)
		}
		from := entries[2].At // the second renewal's
		st, err := m.money.StatementOf(ctx, "alice", from, from.Add(time.Hour*24*365))
		if err != nil || st.OpeningCents != entries[3].BalanceAfterCents || st.ClosingCents != 500 || len(st.Entries) != 3 || st.Currency != "KES" {
			t.Fatalf("statement %+v, %v", st, err)
		}
		if _, err := m.money.StatementOf(ctx, "alice", from, from); radius.ErrorCode(err) != radius.EINVALID {
			t.Fatalf("empty range: %v", err)
		}
	})
	t.Run("explicit renewal explains why not", func(t *testing.T) {
		_, err := m.money.Renew(ctx, "alice", "cli:test")
		wantErr(t, err, radius.ECONFLICT, "subscription: paid until 2027-06-20; nothing is due")
		m.add(t, "bob", "Home")
		_, err = m.money.Renew(ctx, "bob", "cli:test")
		wantErr(t, err, radius.EQUOTA, `balance: subscriber "bob" needs 20.00, available 0.00 (balance 0.00, credit limit 0.00)`)
		_, err = m.money.Renew(ctx, "nobody", "cli:test")
		wantErr(t, err, radius.ENOTFOUND, `subscriber: no subscriber named "nobody"`)
	})
}

// TestAutoRenewOff: without auto-renew the pass does not take the money; a payment or
// an explicit renewal does.
func TestAutoRenewOff(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Home", PriceCents: 2000, Period: "30d"})
	off := false
	if _, err := m.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "carol", Password: "pw", Plan: "Home", AutoRenew: &off}); err != nil {
		t.Fatal(err)
	}
	m.now = mustTime(t, "2027-01-30T00:00:00Z") // before the period: the credit renews nothing
	m.credit(t, "carol", 2500)
	if rep := m.pass(t, "2027-01-31T10:00:00Z"); rep.Isolated != 1 {
		t.Fatalf("pass %+v: want isolation (no grace, no auto-renew)", rep)
	}
	m.now = mustTime(t, "2027-02-01T00:00:00Z")
	outs, err := m.money.Renew(ctx, "carol", "cli:test")
	if err != nil || len(outs) != 1 || !outs[0].Restore {
		t.Fatalf("renew %+v, %v", outs, err)
	}
	m.wantSub(t, "carol", radius.SubscriptionActive, true, "2027-02-01T00:00:00Z", "2027-03-03T00:00:00Z", 500)
	mustInvariants(t, m.pool)
}

// TestPlanChange: a change to another billed plan waits for the next renewal (unless
// now), a change to a plan without billing cancels the subscription, and a move onto a
// billed plan starts one.
func TestPlanChange(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Home", PriceCents: 2000, Period: billing.PeriodMonth})
	m.plan(t, billing.Plan{Name: "Fast", PriceCents: 3500, Period: "30d"})
	m.plan(t, billing.Plan{Name: "Free"})
	m.add(t, "dave", "Home")
	m.credit(t, "dave", 10000)
	m.pass(t, "2027-01-31T10:00:00Z")
	m.wantSub(t, "dave", radius.SubscriptionActive, true, "2027-01-31T10:00:00Z", "2027-02-28T10:00:00Z", 8000)

	fast := "Fast"
	s, err := m.svc.UpdateSubscriber(ctx, "dave", billing.SubscriberUpdate{Plan: &fast})
	if err != nil || s.PlanName != "Home" {
		t.Fatalf("scheduled change: %+v, %v; want still Home", s, err)
	}
	if st := m.sub(t, "dave"); st.NextPlanName != "Fast" || st.RenewalPlan != "Fast" || st.RenewalCents != 3500 || st.PlanName != "Home" {
		t.Fatalf("subscription %+v", st)
	}
	rep := m.pass(t, "2027-02-28T10:00:00Z")
	if rep.Renewed != 1 || !rep.Outcomes[0].PlanChanged || rep.Outcomes[0].Plan != "Fast" {
		t.Fatalf("pass %+v", rep)
	}
	m.wantSub(t, "dave", radius.SubscriptionActive, true, "2027-02-28T10:00:00Z", "2027-03-30T10:00:00Z", 4500)
	if sub, _ := m.store.FindSubscriberByUsername(ctx, "dave"); sub.PlanName != "Fast" {
		t.Fatalf("subscriber on %q after the renewal, want Fast", sub.PlanName)
	}
	if got := m.dis.take(); !slices.Equal(got, []string{"dave:plan_change"}) {
		t.Fatalf("disconnects %v", got)
	}

	// Now: at once, no proration; back to the current plan: the schedule goes.
	home := "Home"
	if s, err = m.svc.UpdateSubscriber(ctx, "dave", billing.SubscriberUpdate{Plan: &home, PlanNow: true}); err != nil || s.PlanName != "Home" {
		t.Fatalf("change now: %+v, %v", s, err)
	}
	if st := m.sub(t, "dave"); st.PlanName != "Home" || st.NextPlanName != "" || st.BalanceCents != 4500 {
		t.Fatalf("subscription %+v", st)
	}
	if _, err = m.svc.UpdateSubscriber(ctx, "dave", billing.SubscriberUpdate{Plan: &fast}); err != nil {
		t.Fatal(err)
	}
	if _, err = m.svc.UpdateSubscriber(ctx, "dave", billing.SubscriberUpdate{Plan: &home}); err != nil {
		t.Fatal(err)
	}
	if st := m.sub(t, "dave"); st.NextPlanName != "" {
		t.Fatalf("schedule kept: %+v", st)
	}

	// A plan without billing: at once, cancelled; back on a billed plan: a new first period.
	free := "Free"
	if s, err = m.svc.UpdateSubscriber(ctx, "dave", billing.SubscriberUpdate{Plan: &free}); err != nil || s.PlanName != "Free" {
		t.Fatalf("to free: %+v, %v", s, err)
	}
	if st := m.sub(t, "dave"); st.State != radius.SubscriptionCancelled {
		t.Fatalf("subscription %+v", st)
	}
	if rep := m.pass(t, "2027-06-01T00:00:00Z"); len(rep.Outcomes) != 0 {
		t.Fatalf("a cancelled subscription was billed: %+v", rep)
	}
	m.now = mustTime(t, "2027-06-10T08:00:00Z")
	if _, err = m.svc.UpdateSubscriber(ctx, "dave", billing.SubscriberUpdate{Plan: &home}); err != nil {
		t.Fatal(err)
	}
	m.wantSub(t, "dave", radius.SubscriptionActive, false, "2027-06-10T08:00:00Z", "2027-07-10T08:00:00Z", 4500)
	if rep := m.pass(t, "2027-06-10T08:00:00Z"); rep.Renewed != 1 {
		t.Fatalf("pass %+v", rep)
	}
	mustInvariants(t, m.pool)
}

// TestSubscriberProfileAndWallets: profiles are normalized, every subscriber has a
// wallet (added or imported), and only priced PPPoE plans bring a subscription.
func TestSubscriberProfileAndWallets(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Home", PriceCents: 2000})
	m.plan(t, billing.Plan{Name: "Free"})
	m.plan(t, billing.Plan{Name: "Day", Kind: radius.KindHotspot, PriceCents: 100})
	s, err := m.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "erin", Password: "pw", Plan: "Home",
		Name: "Erin Wanjiru", Email: " Erin@Example.COM", Phone: "+254 712-345 678"})
	if err != nil || s.Name != "Erin Wanjiru" || s.Email != "erin@example.com" || s.Phone != "+254712345678" || !s.AutoRenew ||
		!s.NotifyEmail || !s.NotifySMS || s.Marketing {
		t.Fatalf("added %+v, %v", s, err)
	}
	_, err = m.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "x", Password: "pw", Plan: "Home", Phone: "0712345678"})
	if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "phone:") {
		t.Fatalf("national number: %v", err)
	}
	empty, off := "", false
	name := "Erin W."
	s, err = m.svc.UpdateSubscriber(ctx, "erin", billing.SubscriberUpdate{Name: &name, Email: &empty, Phone: &empty, AutoRenew: &off})
	if err != nil || s.Name != "Erin W." || s.Email != "" || s.Phone != "" || s.AutoRenew {
		t.Fatalf("updated %+v, %v", s, err)
	}
	bad := "not-an-address"
	if _, err = m.svc.UpdateSubscriber(ctx, "erin", billing.SubscriberUpdate{Email: &bad}); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("bad email: %v", err)
	}
	m.add(t, "frank", "Free")
	m.add(t, "gina", "Day")
	n, err := m.svc.ImportSubscribers(ctx, "Home", strings.NewReader("h1,pw\nh2,pw\n"))
	if err != nil || n != 2 {
		t.Fatalf("import %d, %v", n, err)
	}
	for _, tc := range []struct {
		user       string
		subscribed bool
	}{{"erin", true}, {"frank", false}, {"gina", false}, {"h1", true}, {"h2", true}} {
		w, _, err := m.money.WalletOf(ctx, tc.user, 0)
		if err != nil || w.BalanceCents != 0 || w.CreditLimitCents != 0 || w.SubscriberID == 0 {
			t.Fatalf("%s: wallet %+v, %v", tc.user, w, err)
		}
		_, err = m.money.Subscription(ctx, tc.user)
		if (err == nil) != tc.subscribed {
			t.Fatalf("%s: subscription err %v, want subscribed=%v", tc.user, err, tc.subscribed)
		}
	}
	// A subscriber's wallet cannot go below zero, by the schema itself.
	if _, err := m.pool.Exec(ctx, `UPDATE wallets SET credit_limit_cents = 100 WHERE subscriber_id IS NOT NULL`); err == nil ||
		!strings.Contains(err.Error(), "wallets_subscriber_no_credit") {
		t.Fatalf("credit limit on a subscriber's wallet: %v", err)
	}
	_, err = m.store.Move(ctx, billing.Movement{SubscriberID: s.ID, Kind: billing.EntryRenewal, AmountCents: -1,
		IdempotencyKey: "k", Actor: "cli"})
	wantErr(t, err, radius.EQUOTA, `balance: subscriber "erin" needs 0.01, available 0.00 (balance 0.00, credit limit 0.00)`)
	_, err = m.store.Move(ctx, billing.Movement{SubscriberID: s.ID, ResellerID: 1, Kind: billing.EntryTopup, AmountCents: 1,
		IdempotencyKey: "k", Actor: "cli"})
	if radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("a movement with two owners: %v", err)
	}
}

// TestDocumentsImmutable: issued documents and renewals never change, except the
// customer's identity on an invoice (erasure); a period is renewed once by the schema.
func TestDocumentsImmutable(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Home", PriceCents: 2000})
	m.add(t, "hana", "Home")
	m.credit(t, "hana", 2000)
	m.pass(t, "2027-01-31T10:00:00Z")
	for _, sql := range []string{
		`UPDATE invoices SET total_cents = 1, net_cents = 1, tax_cents = 0`,
		`UPDATE invoices SET number = 'INV-2027-999999'`,
		`DELETE FROM invoices`,
		`UPDATE invoice_lines SET description = 'edited'`,
		`DELETE FROM invoice_lines`,
		`UPDATE renewals SET amount_cents = 1`,
		`DELETE FROM renewals`,
		`TRUNCATE invoices CASCADE`,
	} {
		if _, err := m.pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("%s: err = %v, want refused", sql, err)
		}
	}
	if _, err := m.pool.Exec(ctx, `UPDATE invoices SET username = 'anon-1', customer_name = ''`); err != nil {
		t.Fatalf("pseudonymising the customer: %v", err)
	}
	inv, err := m.money.Invoice(ctx, "INV-2027-000001")
	if err != nil || inv.Username != "anon-1" || inv.TotalCents != 2000 {
		t.Fatalf("invoice after erasure %+v, %v", inv, err)
	}
	// The unique constraint refuses a second renewal of the period, whatever the caller.
	r, err := m.store.FindRenewals(ctx, m.sub(t, "hana").ID)
	if err != nil || len(r) != 1 {
		t.Fatal(r, err)
	}
	dup := r[0]
	err = m.store.RecordRenewal(ctx, &dup)
	if radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("second renewal of a period: %v", err)
	}
	// With another ledger entry and document, the period alone is what refuses it.
	_, err = m.pool.Exec(ctx, `INSERT INTO renewals (subscription_id, period_start, period_end, plan_id, amount_cents, ledger_entry_id, invoice_id)
		SELECT r.subscription_id, r.period_start, r.period_end, r.plan_id, r.amount_cents, i.ledger_entry_id, i.id
		FROM renewals r, invoices i WHERE i.kind = 'receipt'`)
	if !pg.IsUnique(err, "renewals_once_per_period") {
		t.Fatalf("second renewal of a period by SQL: %v", err)
	}
	mustInvariants(t, m.pool)
}

// TestInvoiceNumberRollsBack: a number taken in a transaction that rolls back is given
// back; the next document takes it.
func TestInvoiceNumberRollsBack(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Free"})
	m.add(t, "ivy", "Free")
	errRollback := errors.New("rollback")
	err := pg.WithTx(ctx, m.pool, func(tx pgx.Tx) error {
		res, err := m.money.CreditIn(ctx, postgres.NewStore(tx), billing.CreditRequest{Username: "ivy", AmountCents: 100,
			Note: "cash", IdempotencyKey: "k1", Actor: "cli:test"})
		if err != nil {
			return err
		}
		if res.Receipt.Number != "RCT-2027-000001" {
			return fmt.Errorf("receipt %s", res.Receipt.Number)
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	if res := m.credit(t, "ivy", 100); res.Receipt.Number != "RCT-2027-000001" || res.BalanceCents != 100 {
		t.Fatalf("after the rollback: %+v", res)
	}
	mustInvariants(t, m.pool)
}

// TestBillingRaces runs what must not charge twice at the same time on real
// connections: two passes over the same subscriptions, top-ups racing a pass, and many
// documents issued at once; then checks every invariant.
func TestBillingRaces(t *testing.T) {
	ctx := context.Background()
	m := moneyEnvOn(t, mustRacePool(t))
	m.plan(t, billing.Plan{Name: "Home", PriceCents: 1000, Period: billing.PeriodMonth, Grace: 24 * time.Hour})
	const n = 12
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
		m.add(t, users[i], "Home")
		m.credit(t, users[i], 3000) // three months; the first is paid at once
	}
	run := func(k int, f func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, k)
		start := make(chan struct{})
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = f(i)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d: %v", i, err)
			}
		}
	}
	t.Run("two passes at once charge each period once", func(t *testing.T) {
		// Three months later: two more periods paid from each wallet, the fourth owed.
		when := mustTime(t, "2027-04-30T10:00:00Z")
		reps := make([]*billing.PassReport, 2)
		run(2, func(i int) error {
			rep, err := m.money.RunPass(ctx, when)
			if err == nil && len(rep.Errors) > 0 {
				err = fmt.Errorf("%v", rep.Errors)
			}
			reps[i] = rep
			return err
		})
		if renewed := reps[0].Renewed + reps[1].Renewed; renewed != 2*n {
			t.Fatalf("renewed %d + %d, want %d in all", reps[0].Renewed, reps[1].Renewed, 2*n)
		}
		if grace := reps[0].Grace + reps[1].Grace; grace != n {
			t.Fatalf("grace %d, want %d", grace, n)
		}
		for _, u := range users {
			m.wantSub(t, u, radius.SubscriptionGrace, false, "2027-04-30T10:00:00Z", "2027-05-31T10:00:00Z", 0)
		}
		mustInvariants(t, m.pool)
	})
	t.Run("top-ups racing a pass renew once", func(t *testing.T) {
		// Within the grace (until 1 May 10:00).
		m.now = mustTime(t, "2027-05-01T09:00:00Z")
		when := m.now
		run(n+1, func(i int) error {
			if i == n {
				rep, err := m.money.RunPass(ctx, when)
				if err == nil && len(rep.Errors) > 0 {
					err = fmt.Errorf("%v", rep.Errors)
				}
				return err
			}
			_, err := m.money.Credit(ctx, billing.CreditRequest{Username: users[i], AmountCents: 1000, Note: "cash",
				IdempotencyKey: "race-" + users[i], Actor: "cli:test"})
			return err
		})
		for _, u := range users {
			m.wantSub(t, u, radius.SubscriptionActive, true, "2027-04-30T10:00:00Z", "2027-05-31T10:00:00Z", 0)
		}
		mustInvariants(t, m.pool)
	})
	t.Run("isolated subscribers restored by racing payments, retries and passes: once each", func(t *testing.T) {
		m.pass(t, "2027-06-02T10:00:00Z") // 31 May owed, grace over on 1 June: isolated
		for _, u := range users {
			if st := m.sub(t, u); st.State != radius.SubscriptionIsolated {
				t.Fatalf("%s: %s", u, st.State)
			}
		}
		m.dis.take()
		m.now = mustTime(t, "2027-06-05T00:00:00Z")
		run(3*n+2, func(i int) error {
			if i >= 3*n {
				_, err := m.money.RunPass(ctx, m.now)
				return err
			}
			// Each payment delivered three times (a provider's retries).
			_, err := m.money.Credit(ctx, billing.CreditRequest{Username: users[i%n], AmountCents: 1000, Kind: billing.EntryPayment,
				Provider: "paystack", Ref: "ref-" + users[i%n], IdempotencyKey: "evt-" + users[i%n], Actor: "webhook"})
			return err
		})
		for _, u := range users {
			m.wantSub(t, u, radius.SubscriptionActive, true, "2027-06-05T00:00:00Z", "2027-07-05T00:00:00Z", 0)
		}
		if got := m.dis.take(); len(got) != n {
			t.Fatalf("%d restores disconnected, want %d: %v", len(got), n, got)
		}
		mustInvariants(t, m.pool)
	})
	t.Run("documents issued at once are numbered without gaps", func(t *testing.T) {
		const k = 40
		m.now = mustTime(t, "2027-06-06T00:00:00Z")
		run(k, func(i int) error {
			_, err := m.money.Credit(ctx, billing.CreditRequest{Username: users[i%n], AmountCents: int64(100 + i), Note: "cash",
				IdempotencyKey: fmt.Sprintf("many-%d", i), Actor: "cli:test"})
			return err
		})
		var receipts, last int
		if err := m.pool.QueryRow(ctx, `SELECT count(*), max(seq) FROM invoices WHERE kind = 'receipt'`).Scan(&receipts, &last); err != nil {
			t.Fatal(err)
		}
		if receipts != last || receipts != 3*n+k {
			t.Fatalf("%d receipts, last number %d; want %d", receipts, last, 3*n+k)
		}
		mustInvariants(t, m.pool)
	})
}

// TestPassLockIsCronsLock: while `billing run` holds the pass lock, cron's job lock for
// the billing job is taken (cron skips the slot); and a second WithPassLock waits for
// the first instead of running beside it.
func TestPassLockIsCronsLock(t *testing.T) {
	ctx := context.Background()
	pool := mustRacePool(t)
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- postgres.WithPassLock(ctx, pool, func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ran, err := pg.WithJobLock(ctx, pool, postgres.PassJob, func(context.Context) error { return nil })
	if err != nil || ran {
		t.Fatalf("cron's job ran beside a billing run: ran=%v, %v", ran, err)
	}
	second, secondDone := make(chan struct{}), make(chan error, 1)
	go func() {
		secondDone <- postgres.WithPassLock(ctx, pool, func(context.Context) error { close(second); return nil })
	}()
	waitForLockWaiters(t, pool, 1)
	select {
	case <-second:
		t.Fatal("a second pass ran beside the first")
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second pass never ran")
	}
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
	if ran, err := pg.WithJobLock(ctx, pool, postgres.PassJob, func(context.Context) error { return nil }); err != nil || !ran {
		t.Fatalf("cron's job after the passes: ran=%v, %v", ran, err)
	}
}
