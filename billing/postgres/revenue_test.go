package postgres_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// TestRevenue sums the ledger's renewals, payments and top-ups, and voucher purchases
// (with the vouchers of the batches bought) over a period and by day of the operator's
// time zone, leaving refunds and adjustments out; and counts subscriptions by state.
func TestRevenue(t *testing.T) {
	ctx := context.Background()
	pool := radiustest.MustDB(t)
	e := walletEnvOn(pool)
	shop := e.mustReseller(t, "Corner Shop", 0)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO plans (name, kind, price_cents) VALUES ('gold', 'pppoe', 2000), ('day', 'hotspot', 100)`)
	exec(`INSERT INTO subscribers (username, password, plan_id) SELECT u, '\x00', (SELECT id FROM plans WHERE name = 'gold') FROM unnest(array['alice', 'bob', 'carol']) u`)
	exec(`INSERT INTO subscriptions (subscriber_id, plan_id, state, anchor_day, period_start, period_end)
SELECT s.id, s.plan_id, st, 1, now() - interval '40 days', now() - interval '10 days'
FROM subscribers s JOIN (VALUES ('alice', 'active'), ('bob', 'grace'), ('carol', 'isolated')) v(u, st) ON v.u = s.username`)
	exec(`INSERT INTO voucher_batches (plan_id, mode, count, reseller) VALUES ((SELECT id FROM plans WHERE name = 'day'), 'code', 25, 'Corner Shop')`)

	loc, err := time.LoadLocation("Africa/Nairobi") // UTC+3: a day starts at 21:00 UTC
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, loc)
	today := time.Date(2026, 3, 10, 0, 0, 0, 0, loc)
	entry := func(owner string, at time.Time, kind string, cents int64, ref string) {
		t.Helper()
		wallet := `(SELECT w.id FROM wallets w JOIN subscribers s ON s.id = w.subscriber_id WHERE s.username = $1)`
		if owner == "shop" {
			wallet = `(SELECT id FROM wallets WHERE reseller_id = ` + itoa(shop.ID) + ` AND $1 <> '')`
		}
		exec(`INSERT INTO ledger_entries (wallet_id, at, amount_cents, balance_after_cents, kind, note, idempotency_key, ref, actor)
VALUES (`+wallet+`, $2, $3, 0, $4, 'test', gen_random_uuid()::text, $5, 'test')`, owner, at, cents, kind, ref)
	}
	batch := itoa(mustBatchID(t, e))
	entry("alice", today.Add(time.Hour), "payment", 2500, "")
	entry("alice", today.Add(time.Hour), "renewal", -2000, "")
	entry("shop", today.Add(2*time.Hour), "topup", 10000, "")
	entry("shop", today.Add(3*time.Hour), "purchase", -2500, batch)
	entry("bob", today.Add(-time.Minute), "renewal", -2000, "")    // yesterday, in Nairobi
	entry("bob", today.Add(-30*time.Hour), "payment", 1000, "")    // two days ago
	entry("alice", today.Add(4*time.Hour), "refund", 500, "")      // not revenue
	entry("alice", today.Add(4*time.Hour), "adjustment", -100, "") // not revenue
	entry("bob", today.AddDate(0, -1, 0), "payment", 9999, "")     // last month

	got, err := e.store.Revenue(ctx, today, today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := billing.Revenue{RenewalsCents: 2000, Renewals: 1, PaymentsCents: 12500, Payments: 2, VoucherSalesCents: 2500, VouchersSold: 25}
	if got != want {
		t.Errorf("today %+v, want %+v", got, want)
	}
	month, err := e.store.Revenue(ctx, billing.MonthStart(now, loc), today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want = billing.Revenue{RenewalsCents: 4000, Renewals: 2, PaymentsCents: 13500, Payments: 3, VoucherSalesCents: 2500, VouchersSold: 25}
	if month != want {
		t.Errorf("month %+v, want %+v", month, want)
	}

	bounds := billing.DayBounds(now, 3, loc)
	if !bounds[2].Equal(today) || !bounds[3].Equal(today.AddDate(0, 0, 1)) {
		t.Fatalf("bounds %v", bounds)
	}
	days, err := e.store.RevenueByDay(ctx, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 {
		t.Fatalf("%d days", len(days))
	}
	for i, w := range []billing.Revenue{
		{PaymentsCents: 1000, Payments: 1},
		{RenewalsCents: 2000, Renewals: 1},
		{RenewalsCents: 2000, Renewals: 1, PaymentsCents: 12500, Payments: 2, VoucherSalesCents: 2500, VouchersSold: 25},
	} {
		if !days[i].Day.Equal(bounds[i]) || days[i].Revenue != w {
			t.Errorf("day %d (%v): %+v, want %v %+v", i, days[i].Day, days[i].Revenue, bounds[i], w)
		}
	}

	states, err := e.store.SubscriptionStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if states[radius.SubscriptionGrace] != 1 || states[radius.SubscriptionIsolated] != 1 || states[radius.SubscriptionActive] != 1 {
		t.Errorf("states %v", states)
	}
}

func mustBatchID(tb testing.TB, e *walletEnv) int64 {
	tb.Helper()
	var id int64
	if err := e.pool.QueryRow(context.Background(), `SELECT max(id) FROM voucher_batches`).Scan(&id); err != nil {
		tb.Fatal(err)
	}
	return id
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
