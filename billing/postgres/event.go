package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/billing"
	"tollgate/radius"
)

var _ billing.EventStore = (*Store)(nil)

const recordEventSQL = `
INSERT INTO billing_events (kind, subscriber_id, key, data)
VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO NOTHING
RETURNING id, at`

// RecordEvent writes e to the outbox unless its key is there (see billing.EventStore).
func (s *Store) RecordEvent(ctx context.Context, e *billing.Event) (bool, error) {
	if !e.Kind.Valid() {
		return false, radius.Errorf(radius.EINVALID, "event: kind %q", e.Kind)
	}
	if e.Key == "" || len(e.Key) > 200 {
		return false, radius.Errorf(radius.EINVALID, "event: key must be 1 to 200 characters")
	}
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	err := s.db.QueryRow(ctx, recordEventSQL, string(e.Kind), e.SubscriberID, e.Key, data).Scan(&e.ID, &e.At)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil // recorded before: once per key
	case err != nil:
		return false, fmt.Errorf("postgres: record event %s: %w", e.Key, err)
	}
	return true, nil
}

const claimEventsSQL = `
SELECT id, at, kind, subscriber_id, key, data
FROM billing_events
WHERE processed_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED`

// ClaimEvents returns pending events, oldest first, locked by the caller's transaction.
func (s *Store) ClaimEvents(ctx context.Context, limit int) ([]billing.Event, error) {
	return s.events(ctx, claimEventsSQL, limit)
}

const findEventsSQL = `
SELECT id, at, kind, subscriber_id, key, data, processed_at
FROM billing_events
WHERE subscriber_id = $1
ORDER BY id DESC
LIMIT $2`

// FindEvents lists a subscriber's events, newest first.
func (s *Store) FindEvents(ctx context.Context, subscriberID int64, limit int) ([]billing.Event, error) {
	return s.events(ctx, findEventsSQL, subscriberID, limit)
}

func (s *Store) events(ctx context.Context, sql string, args ...any) ([]billing.Event, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: events: %w", err)
	}
	withProcessed := sql == findEventsSQL
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Event, error) {
		var e billing.Event
		var kind string
		var processed pgtype.Timestamptz
		dst := []any{&e.ID, &e.At, &kind, &e.SubscriberID, &e.Key, &e.Data}
		if withProcessed {
			dst = append(dst, &processed)
		}
		if err := r.Scan(dst...); err != nil {
			return e, fmt.Errorf("postgres: events: %w", err)
		}
		e.Kind = billing.EventKind(kind)
		if processed.Valid {
			e.ProcessedAt = processed.Time
		}
		return e, nil
	})
}

const markEventsProcessedSQL = `UPDATE billing_events SET processed_at = $2 WHERE id = ANY($1) AND processed_at IS NULL`

// MarkEventsProcessed sets processed_at of ids.
func (s *Store) MarkEventsProcessed(ctx context.Context, ids []int64, at time.Time) error {
	if _, err := s.db.Exec(ctx, markEventsProcessedSQL, ids, at); err != nil {
		return fmt.Errorf("postgres: mark events processed: %w", err)
	}
	return nil
}
