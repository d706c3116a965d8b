package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
)

var _ billing.RevenueStore = (*Store)(nil)

// revenueColumns sums the entries e (joined to the batch b a purchase bought, whose id
// is the entry's ref) as billing.Revenue's fields, in order.
const revenueColumns = `
       coalesce(sum(-e.amount_cents) FILTER (WHERE e.kind = 'renewal'), 0)::bigint,
       count(*) FILTER (WHERE e.kind = 'renewal'),
       coalesce(sum(e.amount_cents) FILTER (WHERE e.kind IN ('payment', 'topup')), 0)::bigint,
       count(*) FILTER (WHERE e.kind IN ('payment', 'topup')),
       coalesce(sum(-e.amount_cents) FILTER (WHERE e.kind = 'purchase'), 0)::bigint,
       coalesce(sum(b.count) FILTER (WHERE e.kind = 'purchase'), 0)::bigint`

const revenueSQL = `
SELECT ` + revenueColumns + `
FROM ledger_entries e
LEFT JOIN voucher_batches b ON e.kind = 'purchase' AND b.id::text = e.ref
WHERE e.at >= $1 AND e.at < $2 AND e.kind IN ('renewal', 'payment', 'topup', 'purchase')`

// Revenue sums the ledger's renewals, payments and top-ups, and voucher purchases at or
// after from and before to (see billing.Revenue).
func (s *Store) Revenue(ctx context.Context, from, to time.Time) (billing.Revenue, error) {
	var r billing.Revenue
	err := s.db.QueryRow(ctx, revenueSQL, from, to).Scan(&r.RenewalsCents, &r.Renewals, &r.PaymentsCents, &r.Payments,
		&r.VoucherSalesCents, &r.VouchersSold)
	if err != nil {
		return r, fmt.Errorf("postgres: revenue: %w", err)
	}
	return r, nil
}

// The days are the caller's ($1, in its time zone); width_bucket puts each entry in the
// day whose bounds hold it (1 for the first day), in one pass over the range.
const revenueByDaySQL = `
SELECT width_bucket(e.at, $1::timestamptz[]),` + revenueColumns + `
FROM ledger_entries e
LEFT JOIN voucher_batches b ON e.kind = 'purchase' AND b.id::text = e.ref
WHERE e.at >= $2 AND e.at < $3 AND e.kind IN ('renewal', 'payment', 'topup', 'purchase')
GROUP BY 1`

// RevenueByDay sums Revenue for each day between consecutive boundaries of days; days
// without an entry are there, with zeros.
func (s *Store) RevenueByDay(ctx context.Context, days []time.Time) ([]billing.RevenueDay, error) {
	if len(days) < 2 {
		return nil, nil
	}
	out := make([]billing.RevenueDay, len(days)-1)
	for i := range out {
		out[i].Day = days[i]
	}
	rows, err := s.db.Query(ctx, revenueByDaySQL, days, days[0], days[len(days)-1])
	if err != nil {
		return nil, fmt.Errorf("postgres: revenue by day: %w", err)
	}
	var (
		i int32
		r billing.Revenue
	)
	_, err = pgx.ForEachRow(rows, []any{&i, &r.RenewalsCents, &r.Renewals, &r.PaymentsCents, &r.Payments, &r.VoucherSalesCents, &r.VouchersSold}, func() error {
		if i >= 1 && int(i) <= len(out) {
			out[i-1].Revenue = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revenue by day: %w", err)
	}
	return out, nil
}

const subscriptionStatesSQL = `SELECT state, count(*) FROM subscriptions GROUP BY state`

// SubscriptionStates counts the subscriptions in each state.
func (s *Store) SubscriptionStates(ctx context.Context) (map[radius.SubscriptionState]int64, error) {
	rows, err := s.db.Query(ctx, subscriptionStatesSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: subscription states: %w", err)
	}
	out := map[radius.SubscriptionState]int64{}
	var state string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		out[radius.SubscriptionState(state)] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: subscription states: %w", err)
	}
	return out, nil
}
