package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/billing/payments"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var _ payments.Store = (*Store)(nil)

// PaymentsInTx returns the payments.InTx of db: fn runs in one transaction with a Store
// bound to it as both the payments store and the money store.
func PaymentsInTx(db pg.Beginner) payments.InTx {
	return func(ctx context.Context, fn func(payments.Store, billing.MoneyStore) error) error {
		return pg.WithTx(ctx, db, func(tx pgx.Tx) error {
			st := NewStore(tx)
			return fn(st, st)
		})
	}
}

// topUpColumns are the columns of a top-up "t" with its subscriber "s".
const topUpColumns = `t.id, t.reference, t.subscriber_id, s.username, t.provider, t.amount_cents, t.currency, t.state,
       t.authorization_url, t.created_at, t.expires_at, t.closed_at, t.note, coalesce(t.ledger_entry_id, 0)`

func scanTopUp(row pgx.Row, t *payments.TopUp) error {
	var provider, state string
	var closed *time.Time
	err := row.Scan(&t.ID, &t.Reference, &t.SubscriberID, &t.Username, &provider, &t.AmountCents, &t.Currency, &state,
		&t.AuthorizationURL, &t.CreatedAt, &t.ExpiresAt, &closed, &t.Note, &t.LedgerEntryID)
	if err != nil {
		return err
	}
	t.Provider, t.State, t.ClosedAt = payments.Provider(provider), payments.State(state), timeOrZero(closed)
	return nil
}

const createTopUpSQL = `
INSERT INTO topups (reference, subscriber_id, provider, amount_cents, currency, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, state`

// CreateTopUp inserts a pending top-up and sets its ID. ECONFLICT when the reference is
// taken, EINVALID for a value the schema refuses.
func (s *Store) CreateTopUp(ctx context.Context, t *payments.TopUp) error {
	var state string
	err := s.db.QueryRow(ctx, createTopUpSQL, t.Reference, t.SubscriberID, string(t.Provider), t.AmountCents, t.Currency,
		t.CreatedAt, t.ExpiresAt).Scan(&t.ID, &state)
	switch {
	case pg.IsUnique(err, "topups_reference_key"):
		err = pg.Translate(err, radius.ECONFLICT, "reference: taken")
	case pg.IsCheck(err, ""):
		err = pg.CheckField(err, map[string]string{"topups_amount_cents_check": "amount", "topups_currency_check": "currency",
			"topups_reference_check": "reference", "topups_provider_check": "provider", "topups_expiry": "ttl"})
	}
	if err != nil {
		return fmt.Errorf("postgres: create top-up: %w", err)
	}
	t.State = payments.State(state)
	return nil
}

const setTopUpURLSQL = `UPDATE topups SET authorization_url = $2 WHERE id = $1 AND state = 'pending' RETURNING id`

// SetTopUpURL records the checkout page of a pending top-up. ECONFLICT when it is no
// longer pending (or does not exist).
func (s *Store) SetTopUpURL(ctx context.Context, id int64, url string) error {
	var got int64
	err := s.db.QueryRow(ctx, setTopUpURLSQL, id, url).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("top-up %d: not pending", id))
	}
	if err != nil {
		return fmt.Errorf("postgres: top-up %d url: %w", id, err)
	}
	return nil
}

const closeTopUpSQL = `
UPDATE topups SET state = $2, closed_at = $3, note = $4, ledger_entry_id = $5
WHERE id = $1 AND state = 'pending'
RETURNING id`

// CloseTopUp moves a pending top-up to state at. ECONFLICT when it is no longer pending
// (the trigger would refuse it anyway), ENOTFOUND folds into ECONFLICT.
func (s *Store) CloseTopUp(ctx context.Context, id int64, state payments.State, at time.Time, note string, ledgerEntryID int64) error {
	if !payments.CanMove(payments.Pending, state) {
		return radius.Errorf(radius.EINVALID, "state: a top-up leaves pending for paid, failed or expired, not %q", state)
	}
	var got int64
	err := s.db.QueryRow(ctx, closeTopUpSQL, id, string(state), at, note, nullID(ledgerEntryID)).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("top-up %d: not pending", id))
	}
	if err != nil {
		return fmt.Errorf("postgres: close top-up %d: %w", id, err)
	}
	return nil
}

const (
	lockTopUpSQL = `SELECT ` + topUpColumns + ` FROM topups t JOIN subscribers s ON s.id = t.subscriber_id
WHERE t.reference = $1 FOR UPDATE OF t`
	findTopUpSQL = `SELECT ` + topUpColumns + ` FROM topups t JOIN subscribers s ON s.id = t.subscriber_id
WHERE t.reference = $1`
)

// LockTopUp returns the top-up with reference ref, locked until the transaction ends.
// ENOTFOUND.
func (s *Store) LockTopUp(ctx context.Context, ref string) (*payments.TopUp, error) {
	return s.topUp(ctx, lockTopUpSQL, ref)
}

// FindTopUp returns the top-up with reference ref. ENOTFOUND.
func (s *Store) FindTopUp(ctx context.Context, ref string) (*payments.TopUp, error) {
	return s.topUp(ctx, findTopUpSQL, ref)
}

func (s *Store) topUp(ctx context.Context, sql, ref string) (*payments.TopUp, error) {
	var t payments.TopUp
	if err := scanTopUp(s.db.QueryRow(ctx, sql, ref), &t); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("top-up: no top-up with reference %q", ref))
		}
		return nil, fmt.Errorf("postgres: top-up %q: %w", ref, err)
	}
	return &t, nil
}

const findTopUpsSQL = `SELECT ` + topUpColumns + ` FROM topups t JOIN subscribers s ON s.id = t.subscriber_id
WHERE ($1 = 0 OR t.subscriber_id = $1) AND ($2 = '' OR t.state = $2)
ORDER BY t.id DESC
LIMIT $3`

// FindTopUps lists top-ups, newest first.
func (s *Store) FindTopUps(ctx context.Context, f payments.TopUpFilter) ([]payments.TopUp, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = payments.DefaultTopUpLimit
	}
	rows, err := s.db.Query(ctx, findTopUpsSQL, f.SubscriberID, string(f.State), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: top-ups: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.TopUp, error) {
		var t payments.TopUp
		return t, scanTopUp(r, &t)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: top-ups: %w", err)
	}
	return list, nil
}

// expireTopUpsSQL expires the pending top-ups due at $1. A top-up a webhook holds
// locked is waited for, and then left alone if the webhook moved it.
const expireTopUpsSQL = `
UPDATE topups SET state = 'expired', closed_at = $1, note = 'not paid within its time'
WHERE state = 'pending' AND expires_at <= $1`

// ExpireTopUps moves every top-up pending at now whose expiry is not after now to
// expired, and returns how many.
func (s *Store) ExpireTopUps(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.db.Exec(ctx, expireTopUpsSQL, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: expire top-ups: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

const recordDeliverySQL = `
INSERT INTO payment_deliveries (provider, delivery_id, received_at) VALUES ($1, $2, $3)
ON CONFLICT (provider, delivery_id) DO NOTHING
RETURNING true`

// RecordDelivery records a webhook delivery; false when it was recorded before. A
// concurrent recording of the same id is waited for (the unique index), so of two
// deliveries at once exactly one is fresh once the other committed.
func (s *Store) RecordDelivery(ctx context.Context, provider payments.Provider, id string, at time.Time) (bool, error) {
	var fresh bool
	err := s.db.QueryRow(ctx, recordDeliverySQL, string(provider), id, at).Scan(&fresh)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: record delivery: %w", err)
	}
	return fresh, nil
}

const purgeDeliveriesSQL = `DELETE FROM payment_deliveries WHERE received_at < $1`

// PurgeDeliveries forgets deliveries received before before.
func (s *Store) PurgeDeliveries(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.db.Exec(ctx, purgeDeliveriesSQL, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

const recordPaymentSQL = `
INSERT INTO payments (provider, provider_id, reference, account, amount_cents, currency, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (provider, provider_id) DO NOTHING
RETURNING id`

// RecordPayment inserts p without outcome and sets its ID; false when the provider's id
// was recorded before (a concurrent recording is waited for, as RecordDelivery does).
func (s *Store) RecordPayment(ctx context.Context, p *payments.Payment) (bool, error) {
	err := s.db.QueryRow(ctx, recordPaymentSQL, string(p.Provider), p.ProviderID, p.Reference, p.Account, p.AmountCents,
		p.Currency, p.ReceivedAt).Scan(&p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		if ferr := pg.CheckField(err, map[string]string{"payments_amount_cents_check": "data.amount", "payments_currency_check": "data.currency"}); ferr != nil {
			err = ferr
		}
		return false, fmt.Errorf("postgres: record payment: %w", err)
	}
	return true, nil
}

const setPaymentOutcomeSQL = `
UPDATE payments SET outcome = $2, topup_id = $3, subscriber_id = $4, ledger_entry_id = $5
WHERE id = $1 AND outcome IS NULL
RETURNING id`

// SetPaymentOutcome writes the outcome of payment p.ID once. ECONFLICT when it has one.
func (s *Store) SetPaymentOutcome(ctx context.Context, p *payments.Payment) error {
	var got int64
	err := s.db.QueryRow(ctx, setPaymentOutcomeSQL, p.ID, p.Outcome, nullID(p.TopUpID), nullID(p.SubscriberID), nullID(p.LedgerEntryID)).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("payment %d: decided before", p.ID))
	}
	if err != nil {
		return fmt.Errorf("postgres: payment %d outcome: %w", p.ID, err)
	}
	return nil
}

const createReviewSQL = `
INSERT INTO payment_reviews (payment_id, reason, raw, created_at) VALUES ($1, $2, $3, $4)
RETURNING id`

// CreateReview inserts an open review of r.Payment.ID and sets its ID.
func (s *Store) CreateReview(ctx context.Context, r *payments.Review) error {
	if err := s.db.QueryRow(ctx, createReviewSQL, r.Payment.ID, string(r.Reason), string(r.Raw), r.CreatedAt).Scan(&r.ID); err != nil {
		return fmt.Errorf("postgres: create payment review: %w", err)
	}
	return nil
}

// reviewColumns are the columns of a review "r" with its payment "p", its top-up "t",
// the subscriber it was credited to "s" and the one the payment points at "ps" (LEFT
// JOINs).
const reviewColumns = `r.id, r.reason, r.raw, r.created_at, r.state, r.resolved_at, r.resolved_by, r.note,
       coalesce(r.subscriber_id, 0), coalesce(s.username, ''), coalesce(r.ledger_entry_id, 0), coalesce(t.reference, ''),
       coalesce(ps.username, ''),
       p.id, p.provider, p.provider_id, p.reference, p.account, p.amount_cents, p.currency, p.received_at,
       coalesce(p.outcome, ''), coalesce(p.topup_id, 0), coalesce(p.subscriber_id, 0), coalesce(p.ledger_entry_id, 0),
       CASE WHEN ps.restricted THEN ps.id WHEN s.restricted THEN s.id ELSE 0 END`

const reviewFrom = `
FROM payment_reviews r
JOIN payments p ON p.id = r.payment_id
LEFT JOIN topups t ON t.id = p.topup_id
LEFT JOIN subscribers s ON s.id = r.subscriber_id
LEFT JOIN subscribers ps ON ps.id = p.subscriber_id`

func scanReview(row pgx.Row, r *payments.Review) error {
	var reason, state, provider string
	var raw *string
	var resolved *time.Time
	p := &r.Payment
	err := row.Scan(&r.ID, &reason, &raw, &r.CreatedAt, &state, &resolved, &r.ResolvedBy, &r.Note,
		&r.SubscriberID, &r.Username, &r.LedgerEntryID, &r.TopUpReference, &r.PaymentUsername,
		&p.ID, &provider, &p.ProviderID, &p.Reference, &p.Account, &p.AmountCents, &p.Currency, &p.ReceivedAt,
		&p.Outcome, &p.TopUpID, &p.SubscriberID, &p.LedgerEntryID, &r.RestrictedID)
	if err != nil {
		return err
	}
	r.Reason, r.State, p.Provider, r.ResolvedAt = payments.Reason(reason), payments.ReviewState(state), payments.Provider(provider), timeOrZero(resolved)
	if raw != nil {
		r.Raw = []byte(*raw)
	}
	return nil
}

const findReviewsSQL = `SELECT ` + reviewColumns + reviewFrom + `
WHERE ($1 = '' OR r.state = $1)
ORDER BY r.id DESC
LIMIT $2`

// FindReviews lists reviews, newest first.
func (s *Store) FindReviews(ctx context.Context, f payments.ReviewFilter) ([]payments.Review, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = payments.DefaultReviewLimit
	}
	rows, err := s.db.Query(ctx, findReviewsSQL, string(f.State), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: payment reviews: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.Review, error) {
		var rv payments.Review
		return rv, scanReview(r, &rv)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: payment reviews: %w", err)
	}
	return list, nil
}

const (
	findReviewSQL = `SELECT ` + reviewColumns + reviewFrom + ` WHERE r.id = $1`
	lockReviewSQL = findReviewSQL + ` FOR UPDATE OF r`
)

// LockReview returns review id, locked until the transaction ends. ENOTFOUND.
func (s *Store) LockReview(ctx context.Context, id int64) (*payments.Review, error) {
	return s.review(ctx, lockReviewSQL, id)
}

// FindReview returns review id. ENOTFOUND.
func (s *Store) FindReview(ctx context.Context, id int64) (*payments.Review, error) {
	return s.review(ctx, findReviewSQL, id)
}

func (s *Store) review(ctx context.Context, sql string, id int64) (*payments.Review, error) {
	var r payments.Review
	if err := scanReview(s.db.QueryRow(ctx, sql, id), &r); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("review: no payment review %d", id))
		}
		return nil, fmt.Errorf("postgres: payment review %d: %w", id, err)
	}
	return &r, nil
}

const resolveReviewSQL = `
UPDATE payment_reviews SET state = $2, resolved_at = $3, resolved_by = $4, note = $5, subscriber_id = $6, ledger_entry_id = $7
WHERE id = $1 AND state = 'open'
RETURNING id`

// ResolveReview writes the resolution of open review r.ID. ECONFLICT when it was
// resolved before.
func (s *Store) ResolveReview(ctx context.Context, r *payments.Review) error {
	var got int64
	err := s.db.QueryRow(ctx, resolveReviewSQL, r.ID, string(r.State), r.ResolvedAt, r.ResolvedBy, r.Note,
		nullID(r.SubscriberID), nullID(r.LedgerEntryID)).Scan(&got)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("review %d: resolved before", r.ID))
	case pg.IsCheck(err, "payment_reviews_dismissed"):
		err = pg.Translate(err, radius.EINVALID, "note: a dismissal says why")
	}
	if err != nil {
		return fmt.Errorf("postgres: resolve payment review %d: %w", r.ID, err)
	}
	return nil
}

const clearReviewRawSQL = `
UPDATE payment_reviews SET raw = NULL, raw_cleared_at = $2
WHERE state <> 'open' AND resolved_at < $1 AND raw IS NOT NULL`

// ClearReviewRaw clears the raw events of reviews resolved before before.
func (s *Store) ClearReviewRaw(ctx context.Context, before, now time.Time) (int, error) {
	tag, err := s.db.Exec(ctx, clearReviewRawSQL, before, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: clear review events: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
