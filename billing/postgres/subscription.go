package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var (
	_ billing.SubscriptionStore = (*Store)(nil)
	_ billing.MoneyStore        = (*Store)(nil)
)

// subscriptionColumns are the columns of a subscription "sub" with its subscriber "s",
// its plan "p" and its scheduled plan "np" (LEFT JOIN).
const subscriptionColumns = `sub.id, sub.subscriber_id, s.username, sub.plan_id, p.name,
       coalesce(sub.next_plan_id, 0), coalesce(np.name, ''), sub.state, sub.paid, sub.anchor_day,
       sub.period_start, sub.period_end, sub.grace_until, sub.created_at, sub.updated_at`

// scanSubscription scans subscriptionColumns (and more) into sub.
func scanSubscription(row pgx.Row, sub *billing.Subscription, more ...any) error {
	var state string
	var anchor int16
	var grace *time.Time
	err := row.Scan(append([]any{&sub.ID, &sub.SubscriberID, &sub.Username, &sub.PlanID, &sub.PlanName,
		&sub.NextPlanID, &sub.NextPlanName, &state, &sub.Paid, &anchor,
		&sub.PeriodStart, &sub.PeriodEnd, &grace, &sub.CreatedAt, &sub.UpdatedAt}, more...)...)
	if err != nil {
		return err
	}
	sub.State = radius.SubscriptionState(state)
	sub.AnchorDay = int(anchor)
	sub.GraceUntil = timeOrZero(grace)
	return nil
}

const findSubscriptionSQL = `
SELECT ` + subscriptionColumns + `
FROM subscriptions sub
JOIN subscribers s ON s.id = sub.subscriber_id
JOIN plans p ON p.id = sub.plan_id
LEFT JOIN plans np ON np.id = sub.next_plan_id
WHERE sub.subscriber_id = $1`

// FindSubscription returns the subscription of subscriber subscriberID with its plans'
// names. ENOTFOUND.
func (s *Store) FindSubscription(ctx context.Context, subscriberID int64) (*billing.Subscription, error) {
	var sub billing.Subscription
	if err := scanSubscription(s.db.QueryRow(ctx, findSubscriptionSQL, subscriberID), &sub); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("subscription: subscriber %d has none", subscriberID))
		}
		return nil, fmt.Errorf("postgres: find subscription of subscriber %d: %w", subscriberID, err)
	}
	return &sub, nil
}

// lockBillableSQL reads a subscription and its wallet and locks both rows (in that
// order, the order every money transaction takes them). $1 is a subscription id, $2 a
// subscriber id; the other is NULL.
const lockBillableSQL = `
SELECT ` + subscriptionColumns + `, ` + walletColumns + `
FROM subscriptions sub
JOIN subscribers s ON s.id = sub.subscriber_id
JOIN plans p ON p.id = sub.plan_id
LEFT JOIN plans np ON np.id = sub.next_plan_id
JOIN wallets w ON w.subscriber_id = sub.subscriber_id
WHERE sub.id = $1 OR sub.subscriber_id = $2
FOR UPDATE OF sub, w`

// LockBillable returns subscription id with its subscriber, plans and wallet, locked
// until the transaction ends. ENOTFOUND.
func (s *Store) LockBillable(ctx context.Context, id int64) (*billing.Billable, error) {
	return s.lockBillable(ctx, id, nil)
}

// LockBillableBySubscriber is LockBillable by subscriber. ENOTFOUND when the subscriber
// has no subscription.
func (s *Store) LockBillableBySubscriber(ctx context.Context, subscriberID int64) (*billing.Billable, error) {
	return s.lockBillable(ctx, nil, subscriberID)
}

func (s *Store) lockBillable(ctx context.Context, id, subscriberID any) (*billing.Billable, error) {
	var b billing.Billable
	w := &b.Wallet
	err := scanSubscription(s.db.QueryRow(ctx, lockBillableSQL, id, subscriberID), &b.Sub,
		&w.ID, &w.ResellerID, &w.SubscriberID, &w.BalanceCents, &w.CreditLimitCents, &w.UpdatedAt)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, "subscription: not found")
		}
		return nil, fmt.Errorf("postgres: lock subscription: %w", err)
	}
	sub, err := s.FindSubscriberByUsername(ctx, b.Sub.Username)
	if err != nil {
		return nil, err
	}
	b.Subscriber = *sub
	p, err := s.FindPlanByID(ctx, b.Sub.PlanID)
	if err != nil {
		return nil, err
	}
	b.Plan = *p
	if b.Sub.NextPlanID != 0 {
		if b.NextPlan, err = s.FindPlanByID(ctx, b.Sub.NextPlanID); err != nil {
			return nil, err
		}
	}
	return &b, nil
}

// saveSubscriptionSQL writes a subscription after a step and moves its subscriber to
// its plan (a scheduled plan that a renewal made current).
const saveSubscriptionSQL = `
WITH u AS (
    UPDATE subscriptions SET
        plan_id = $2, next_plan_id = nullif($3, 0), state = $4, paid = $5, anchor_day = $6,
        period_start = $7, period_end = $8, grace_until = $9, updated_at = now()
    WHERE id = $1
    RETURNING subscriber_id, plan_id, updated_at
), moved AS (
    UPDATE subscribers s SET plan_id = u.plan_id, updated_at = now()
    FROM u WHERE s.id = u.subscriber_id AND s.plan_id <> u.plan_id
)
SELECT updated_at FROM u`

// SaveSubscription writes the plan, next plan, state, paid flag, anchor, period and
// grace of sub, and moves the subscriber to sub.PlanID. ENOTFOUND, EINVALID when the
// schema refuses a value.
func (s *Store) SaveSubscription(ctx context.Context, sub *billing.Subscription) error {
	err := s.db.QueryRow(ctx, saveSubscriptionSQL, sub.ID, sub.PlanID, sub.NextPlanID, string(sub.State), sub.Paid,
		int16(sub.AnchorDay), sub.PeriodStart, sub.PeriodEnd, nullTime(sub.GraceUntil)).Scan(&sub.UpdatedAt)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("subscription: no subscription %d", sub.ID))
		} else if cerr := pg.CheckField(err, nil); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("postgres: save subscription %d: %w", sub.ID, err)
	}
	return nil
}

const recordRenewalSQL = `
INSERT INTO renewals (subscription_id, period_start, period_end, plan_id, amount_cents, ledger_entry_id, invoice_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, at`

// RecordRenewal inserts r and sets its ID and At. ECONFLICT when the period was renewed
// before (renewals_once_per_period).
func (s *Store) RecordRenewal(ctx context.Context, r *billing.Renewal) error {
	err := s.db.QueryRow(ctx, recordRenewalSQL, r.SubscriptionID, r.PeriodStart, r.PeriodEnd, r.PlanID,
		r.AmountCents, r.LedgerEntryID, r.InvoiceID).Scan(&r.ID, &r.At)
	if err != nil {
		// renewals_once_per_period, or the entry or invoice of a renewal recorded before.
		if pg.IsUnique(err, "") {
			err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("subscription %d: the period from %s was renewed before",
				r.SubscriptionID, r.PeriodStart.UTC().Format(time.RFC3339)))
		}
		return fmt.Errorf("postgres: record renewal: %w", err)
	}
	return nil
}

// findBillableIDsSQL lists what a pass looks at, the soonest due first.
const findBillableIDsSQL = `
SELECT id FROM subscriptions
WHERE state <> 'cancelled' AND (NOT paid OR period_end <= $1)
ORDER BY CASE WHEN paid THEN period_end ELSE period_start END, id`

// FindBillableIDs returns the subscriptions not cancelled that are unpaid or whose
// period ends before until, soonest due first.
func (s *Store) FindBillableIDs(ctx context.Context, until time.Time) ([]int64, error) {
	rows, err := s.db.Query(ctx, findBillableIDsSQL, until)
	if err != nil {
		return nil, fmt.Errorf("postgres: billable subscriptions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: billable subscriptions: %w", err)
	}
	return ids, nil
}

const findRenewalsSQL = `
SELECT id, subscription_id, period_start, period_end, plan_id, amount_cents, ledger_entry_id, invoice_id, at
FROM renewals WHERE subscription_id = $1 ORDER BY period_start, id`

// FindRenewals returns the renewals of subscription id, oldest first.
func (s *Store) FindRenewals(ctx context.Context, id int64) ([]billing.Renewal, error) {
	rows, err := s.db.Query(ctx, findRenewalsSQL, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: renewals of %d: %w", id, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Renewal, error) {
		var x billing.Renewal
		err := r.Scan(&x.ID, &x.SubscriptionID, &x.PeriodStart, &x.PeriodEnd, &x.PlanID, &x.AmountCents,
			&x.LedgerEntryID, &x.InvoiceID, &x.At)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: renewals of %d: %w", id, err)
	}
	return list, nil
}

// PassJob is the cron job name of the billing pass: its advisory lock is the one
// WithPassLock takes, so a pass run by hand and one run by cron never overlap.
const PassJob = "billing"

// passLockSQL waits for the lock pg.WithJobLock tries for the job PassJob.
const passLockSQL = `SELECT pg_advisory_xact_lock(hashtext('tollgate.cron'), hashtext($1))`

// WithPassLock runs fn while holding the billing pass's advisory lock, waiting for it
// when another pass (cron's, or another `billing run`) holds it, until ctx ends.
func WithPassLock(ctx context.Context, db pg.Beginner, fn func(ctx context.Context) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: billing pass lock: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, passLockSQL, PassJob); err != nil {
		return fmt.Errorf("postgres: billing pass lock: %w", err)
	}
	if err := fn(ctx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// InTx returns the billing.MoneyTx of db: fn runs in one transaction with a Store bound
// to it.
func InTx(db pg.Beginner) billing.MoneyTx {
	return func(ctx context.Context, fn func(billing.MoneyStore) error) error {
		return pg.WithTx(ctx, db, func(tx pgx.Tx) error { return fn(NewStore(tx)) })
	}
}
