package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
)

var _ billing.PrivacyStore = (*Store)(nil)

const profileSQL = `
SELECT s.id, s.username, s.name, coalesce(s.email, ''), coalesce(s.phone, ''), p.name, s.status,
       s.valid_from, s.valid_until, s.notify_email, s.notify_sms, s.marketing, s.restricted
FROM subscribers s JOIN plans p ON p.id = s.plan_id`

func scanProfile(row pgx.Row) (*billing.Profile, error) {
	var pr billing.Profile
	var status string
	var from, until *time.Time
	err := row.Scan(&pr.SubscriberID, &pr.Username, &pr.Name, &pr.Email, &pr.Phone, &pr.PlanName, &status,
		&from, &until, &pr.Consents.RemindersEmail, &pr.Consents.RemindersSMS, &pr.Consents.Marketing, &pr.Restricted)
	if err != nil {
		return nil, err
	}
	pr.Status = radius.Status(status)
	pr.ValidFrom, pr.ValidUntil = timeOrZero(from), timeOrZero(until)
	return &pr, nil
}

const findProfileSQL = profileSQL + ` WHERE s.id = $1`

// FindProfile returns subscriber id's profile. ENOTFOUND.
func (s *Store) FindProfile(ctx context.Context, id int64) (*billing.Profile, error) {
	pr, err := scanProfile(s.db.QueryRow(ctx, findProfileSQL, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "no subscriber %d", id)
	case err != nil:
		return nil, fmt.Errorf("postgres: find profile of subscriber %d: %w", id, err)
	}
	return pr, nil
}

const findProfileByUsernameSQL = profileSQL + ` WHERE s.username = $1`

// FindProfileByUsername returns the profile of the subscriber called username. ENOTFOUND.
func (s *Store) FindProfileByUsername(ctx context.Context, username string) (*billing.Profile, error) {
	pr, err := scanProfile(s.db.QueryRow(ctx, findProfileByUsernameSQL, username))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "username: no subscriber named %q", username)
	case err != nil:
		return nil, fmt.Errorf("postgres: find profile of %q: %w", username, err)
	}
	return pr, nil
}

// setConsentsSQL changes the row and writes the history in one statement, only when a
// value changed; the row lock orders concurrent changes, so the history's last row is
// always what the row holds.
const setConsentsSQL = `
WITH old AS (
    SELECT id, notify_email, notify_sms, marketing FROM subscribers WHERE id = $1 FOR UPDATE
), upd AS (
    UPDATE subscribers s SET notify_email = $2, notify_sms = $3, marketing = $4, updated_at = $6
    FROM old
    WHERE s.id = old.id AND (old.notify_email, old.notify_sms, old.marketing) IS DISTINCT FROM ($2, $3, $4)
    RETURNING s.id
), hist AS (
    INSERT INTO consent_history (subscriber_id, at, source, reminders_email, reminders_sms, marketing)
    SELECT id, $6, $5, $2, $3, $4 FROM upd
    RETURNING 1
)
SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM hist)`

// SetConsents writes c and, when it changed anything, a consent_history row. ENOTFOUND.
func (s *Store) SetConsents(ctx context.Context, id int64, c billing.Consents, source billing.Source, at time.Time) (bool, error) {
	var found, changed int
	if err := s.db.QueryRow(ctx, setConsentsSQL, id, c.RemindersEmail, c.RemindersSMS, c.Marketing, string(source), at).Scan(&found, &changed); err != nil {
		return false, fmt.Errorf("postgres: set consents of subscriber %d: %w", id, err)
	}
	if found == 0 {
		return false, radius.Errorf(radius.ENOTFOUND, "no subscriber %d", id)
	}
	return changed > 0, nil
}

const findConsentHistorySQL = `
SELECT at, source, reminders_email, reminders_sms, marketing
FROM consent_history WHERE subscriber_id = $1 ORDER BY id`

// FindConsentHistory lists subscriber id's consent changes, oldest first.
func (s *Store) FindConsentHistory(ctx context.Context, id int64) ([]billing.ConsentChange, error) {
	rows, err := s.db.Query(ctx, findConsentHistorySQL, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: consent history of subscriber %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.ConsentChange, error) {
		var c billing.ConsentChange
		var source string
		err := r.Scan(&c.At, &source, &c.RemindersEmail, &c.RemindersSMS, &c.Marketing)
		c.Source = billing.Source(source)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: consent history of subscriber %d: %w", id, err)
	}
	return out, nil
}

const setRestrictedSQL = `
WITH old AS (
    SELECT id, restricted FROM subscribers WHERE id = $1 FOR UPDATE
), upd AS (
    UPDATE subscribers s SET restricted = $2, updated_at = $4
    FROM old WHERE s.id = old.id AND old.restricted <> $2
    RETURNING s.id
), hist AS (
    INSERT INTO restriction_history (subscriber_id, at, source, restricted)
    SELECT id, $4, $3, $2 FROM upd
    RETURNING 1
)
SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM hist)`

// SetRestricted sets or lifts the restriction and, when it changed, writes a
// restriction_history row. ENOTFOUND.
func (s *Store) SetRestricted(ctx context.Context, id int64, restricted bool, source billing.Source, at time.Time) (bool, error) {
	var found, changed int
	if err := s.db.QueryRow(ctx, setRestrictedSQL, id, restricted, string(source), at).Scan(&found, &changed); err != nil {
		return false, fmt.Errorf("postgres: set restriction of subscriber %d: %w", id, err)
	}
	if found == 0 {
		return false, radius.Errorf(radius.ENOTFOUND, "no subscriber %d", id)
	}
	return changed > 0, nil
}

const findRestrictionHistorySQL = `
SELECT at, source, restricted FROM restriction_history WHERE subscriber_id = $1 ORDER BY id`

// FindRestrictionHistory lists subscriber id's restrictions and lifts, oldest first.
func (s *Store) FindRestrictionHistory(ctx context.Context, id int64) ([]billing.RestrictionChange, error) {
	rows, err := s.db.Query(ctx, findRestrictionHistorySQL, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: restriction history of subscriber %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.RestrictionChange, error) {
		var c billing.RestrictionChange
		var source string
		err := r.Scan(&c.At, &source, &c.Restricted)
		c.Source = billing.Source(source)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: restriction history of subscriber %d: %w", id, err)
	}
	return out, nil
}
