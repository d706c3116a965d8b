package billing

import (
	"context"
	"time"

	"tollgate/radius"
)

// The money the dashboard shows, read from the ledger: what every wallet's entries say
// happened in a period. Three figures, never added together, as each counts something
// else:
//
//   - renewals: subscription periods charged to subscribers' wallets (kind renewal);
//   - payments and top-ups: money that reached a wallet, a subscriber's by a payment
//     provider or an admin's credit, a reseller's by an admin's top-up (kinds payment
//     and topup);
//   - vouchers sold: resellers' voucher purchases from their wallets (kind purchase),
//     with the number of vouchers the purchased batches hold.
//
// Refunds and adjustments are corrections, not revenue, and are left out.

// Revenue is the ledger's money of one period, in minor units of the operator's
// currency.
type Revenue struct {
	RenewalsCents     int64
	Renewals          int64 // periods renewed
	PaymentsCents     int64
	Payments          int64 // payment and top-up entries
	VoucherSalesCents int64
	VouchersSold      int64 // vouchers in the purchased batches
}

// RevenueDay is one day of Revenue (a day of the operator's time zone).
type RevenueDay struct {
	Day time.Time // its start
	Revenue
}

// RevenueStore reads revenue and subscription states for the dashboard (Postgres).
type RevenueStore interface {
	// Revenue sums the ledger's entries at or after from and before to.
	Revenue(ctx context.Context, from, to time.Time) (Revenue, error)
	// RevenueByDay sums them for each day that starts at days[i] and ends at days[i+1]
	// (len(days)-1 days; boundaries the caller computed in its time zone).
	RevenueByDay(ctx context.Context, days []time.Time) ([]RevenueDay, error)
	// SubscriptionStates counts the subscriptions in each state.
	SubscriptionStates(ctx context.Context) (map[radius.SubscriptionState]int64, error)
}

// DayBounds returns the starts of the n days in loc that end with the day of now, and
// the start of the day after: n+1 boundaries for RevenueByDay. Days are calendar days,
// 23 or 25 hours long across a DST change.
func DayBounds(now time.Time, n int, loc *time.Location) []time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	today := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = today.AddDate(0, 0, i-n+1)
	}
	return out
}

// MonthStart returns the first moment of now's month in loc.
func MonthStart(now time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
}
