package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tollgate/hotspot"
)

var _ hotspot.ReportStore = (*Store)(nil)

const findBatchesSQL = `
SELECT b.id, p.name, b.count, coalesce(b.reseller, ''), b.created_at,
       count(v.sold_at), count(v.activated_at), count(v.revoked_at)
FROM voucher_batches b
JOIN plans p ON p.id = b.plan_id
LEFT JOIN vouchers v ON v.batch_id = b.id
WHERE ($1::text = '' OR b.reseller = $1)
GROUP BY b.id, p.name
ORDER BY b.id DESC
LIMIT $2`

// FindBatches lists the latest limit batches, newest first, of reseller ("" for all).
func (s *Store) FindBatches(ctx context.Context, reseller string, limit int) ([]hotspot.BatchSummary, error) {
	rows, err := s.db.Query(ctx, findBatchesSQL, reseller, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: find batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hotspot.BatchSummary, error) {
		var b hotspot.BatchSummary
		err := r.Scan(&b.ID, &b.PlanName, &b.Count, &b.Reseller, &b.CreatedAt, &b.Sold, &b.Activated, &b.Revoked)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find batches: %w", err)
	}
	return out, nil
}

// The report's days are UTC days. Sold and activated count vouchers of the reseller's
// batches by the day of sold_at and activated_at; revenue sums the reseller's purchase
// entries by day.
const salesReportSQL = `
WITH v AS (
    SELECT v.sold_at, v.activated_at
    FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id
    WHERE b.reseller = $1
), days AS (
    SELECT date_trunc('day', sold_at AT TIME ZONE 'UTC') AS day, 1 AS sold, 0 AS activated, 0::bigint AS cents FROM v WHERE sold_at IS NOT NULL
    UNION ALL
    SELECT date_trunc('day', activated_at AT TIME ZONE 'UTC'), 0, 1, 0 FROM v WHERE activated_at IS NOT NULL
    UNION ALL
    SELECT date_trunc('day', l.at AT TIME ZONE 'UTC'), 0, 0, -l.amount_cents
    FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id JOIN resellers r ON r.id = w.reseller_id
    WHERE r.name = $1 AND l.kind = 'purchase'
)
SELECT day, sum(sold)::int, sum(activated)::int, sum(cents)::bigint
FROM days
GROUP BY day
ORDER BY day DESC
LIMIT $2`

// SalesReport returns reseller's vouchers sold, activated and revenue by UTC day, the
// latest limit days first.
func (s *Store) SalesReport(ctx context.Context, reseller string, limit int) ([]hotspot.SalesDay, error) {
	rows, err := s.db.Query(ctx, salesReportSQL, reseller, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: sales report: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hotspot.SalesDay, error) {
		var d hotspot.SalesDay
		err := r.Scan(&d.Day, &d.Sold, &d.Activated, &d.RevenueCents)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: sales report: %w", err)
	}
	return out, nil
}
