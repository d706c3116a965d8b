package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// The privacy center's requests, notices and address changes (migration 0021).

var (
	_ billing.RightsStore      = (*Store)(nil)
	_ billing.NoticeStore      = (*Store)(nil)
	_ billing.EmailChangeStore = (*Store)(nil)
)

// requestColumns are the columns of "r" (privacy_requests) joined with its subscriber
// "s".
const requestColumns = `r.id, r.kind, r.subscriber_id, s.username, r.source, r.requested_by, r.created_at, r.due_at,
       r.run_at, r.decision, r.decision_ref, r.message, r.state, r.outcome, r.note, r.closed_at, r.closed_by,
       COALESCE(r.notice_id, 0)`

func scanRequest(row pgx.Row) (*billing.DataRequest, error) {
	var r billing.DataRequest
	var kind, source, state string
	var run, closed *time.Time
	err := row.Scan(&r.ID, &kind, &r.SubscriberID, &r.Username, &source, &r.RequestedBy, &r.CreatedAt, &r.DueAt,
		&run, &r.Decision, &r.DecisionRef, &r.Message, &state, &r.Outcome, &r.Note, &closed, &r.ClosedBy, &r.NoticeID)
	if err != nil {
		return nil, err
	}
	r.Kind, r.Source, r.State = billing.RequestKind(kind), billing.Source(source), billing.RequestState(state)
	r.RunAt, r.ClosedAt = timeOrZero(run), timeOrZero(closed)
	return &r, nil
}

// requestChecks name the field a CHECK of privacy_requests guards.
var requestChecks = map[string]string{
	"privacy_requests_message_check":      "message",
	"privacy_requests_note_check":         "note",
	"privacy_requests_decision_check":     "decision",
	"privacy_requests_requested_by_check": "actor",
}

const createRequestSQL = `
INSERT INTO privacy_requests (kind, subscriber_id, source, requested_by, created_at, due_at, run_at,
    decision, decision_ref, message, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id, (SELECT username FROM subscribers WHERE id = $2)`

// CreateRequest stores r and sets r.ID and r.Username. ECONFLICT for a second open
// erasure, ENOTFOUND for an unknown subscriber.
func (s *Store) CreateRequest(ctx context.Context, r *billing.DataRequest) error {
	err := s.db.QueryRow(ctx, createRequestSQL, string(r.Kind), r.SubscriberID, string(r.Source), r.RequestedBy,
		r.CreatedAt, r.DueAt, nullTime(r.RunAt), r.Decision, r.DecisionRef, r.Message, r.Note).Scan(&r.ID, &r.Username)
	switch {
	case pg.IsUnique(err, "privacy_requests_one_erasure"):
		return pg.Translate(err, radius.ECONFLICT, "erasure: one is scheduled already")
	case pg.IsForeignKey(err, ""):
		return pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("no subscriber %d", r.SubscriberID))
	case err != nil:
		if cerr := pg.CheckField(err, requestChecks); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("postgres: create %s request: %w", r.Kind, err)
	}
	return nil
}

const findRequestSQL = `SELECT ` + requestColumns + `
FROM privacy_requests r JOIN subscribers s ON s.id = r.subscriber_id WHERE r.id = $1`

// FindRequest returns request id. ENOTFOUND.
func (s *Store) FindRequest(ctx context.Context, id int64) (*billing.DataRequest, error) {
	return s.findRequest(ctx, findRequestSQL, id)
}

const lockRequestSQL = findRequestSQL + ` FOR UPDATE OF r`

// LockRequest returns request id locked until the transaction ends. ENOTFOUND.
func (s *Store) LockRequest(ctx context.Context, id int64) (*billing.DataRequest, error) {
	return s.findRequest(ctx, lockRequestSQL, id)
}

func (s *Store) findRequest(ctx context.Context, sql string, id int64) (*billing.DataRequest, error) {
	r, err := scanRequest(s.db.QueryRow(ctx, sql, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "request: no request %d", id)
	case err != nil:
		return nil, fmt.Errorf("postgres: find request %d: %w", id, err)
	}
	return r, nil
}

const findRequestsSQL = `SELECT ` + requestColumns + `
FROM privacy_requests r JOIN subscribers s ON s.id = r.subscriber_id
WHERE ($1::bigint = 0 OR r.subscriber_id = $1)
  AND ($2 = '' OR r.kind = $2)
  AND (r.state = 'open' OR (NOT $3 AND ($4::timestamptz IS NULL OR r.closed_at >= $4)))
ORDER BY r.state <> 'open', CASE WHEN r.state = 'open' THEN r.due_at END, r.id DESC
LIMIT $5`

// FindRequests lists the requests f selects: open ones by due date, then closed ones,
// newest first.
func (s *Store) FindRequests(ctx context.Context, f billing.RequestFilter) ([]billing.DataRequest, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.db.Query(ctx, findRequestsSQL, f.SubscriberID, string(f.Kind), f.Open, nullTime(f.ClosedSince), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: find requests: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.DataRequest, error) {
		req, err := scanRequest(r)
		if err != nil {
			return billing.DataRequest{}, err
		}
		return *req, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find requests: %w", err)
	}
	return list, nil
}

const closeRequestSQL = `
UPDATE privacy_requests SET state = $2, outcome = $3, note = CASE WHEN $4 = '' THEN note ELSE $4 END,
    closed_by = $5, closed_at = $6
WHERE id = $1 AND state = 'open'`

// CloseRequest closes open request id. ENOTFOUND, ECONFLICT when it is not open.
func (s *Store) CloseRequest(ctx context.Context, id int64, c billing.RequestClose) (*billing.DataRequest, error) {
	tag, err := s.db.Exec(ctx, closeRequestSQL, id, string(c.State), c.Outcome, c.Note, c.By, c.At)
	if err != nil {
		if cerr := pg.CheckField(err, requestChecks); cerr != nil {
			err = cerr
		}
		return nil, fmt.Errorf("postgres: close request %d: %w", id, err)
	}
	r, err := s.FindRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, radius.Errorf(radius.ECONFLICT, "request %d is %s already", id, r.State)
	}
	return r, nil
}

const findDueErasuresSQL = `SELECT ` + requestColumns + `
FROM privacy_requests r JOIN subscribers s ON s.id = r.subscriber_id
WHERE r.kind = 'erasure' AND r.state = 'open' AND r.run_at <= $1
ORDER BY r.run_at, r.id`

// FindDueErasures lists the open erasures due at now, oldest first.
func (s *Store) FindDueErasures(ctx context.Context, now time.Time) ([]billing.DataRequest, error) {
	rows, err := s.db.Query(ctx, findDueErasuresSQL, now)
	if err != nil {
		return nil, fmt.Errorf("postgres: find due erasures: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.DataRequest, error) {
		req, err := scanRequest(r)
		if err != nil {
			return billing.DataRequest{}, err
		}
		return *req, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find due erasures: %w", err)
	}
	return list, nil
}

const setRequestNoticeSQL = `UPDATE privacy_requests SET notice_id = $2 WHERE id = $1`

// SetRequestNotice records noticeID as request id's notice.
func (s *Store) SetRequestNotice(ctx context.Context, id, noticeID int64) error {
	if _, err := s.db.Exec(ctx, setRequestNoticeSQL, id, noticeID); err != nil {
		return fmt.Errorf("postgres: set notice of request %d: %w", id, err)
	}
	return nil
}

// findDecisionsSQL reads the billing pass's grace and isolation events, and the
// subscriber's rejects for a limit grouped by reason and day (UTC).
const findDecisionsSQL = `
SELECT 'event:' || e.id, e.kind, e.at, 1
FROM billing_events e
WHERE e.subscriber_id = $1 AND e.kind IN ('grace', 'isolated') AND e.at >= $2
UNION ALL
SELECT 'reject:' || a.reason || ':' || to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), a.reason, max(a.at), count(*)::int
FROM auth_log a JOIN subscribers s ON s.username = a.username
WHERE s.id = $1 AND a.at >= $2 AND a.reason = ANY($3)
GROUP BY a.reason, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
ORDER BY 3 DESC
LIMIT 100`

// FindDecisions lists the automated decisions about subscriber id since since, newest
// first.
func (s *Store) FindDecisions(ctx context.Context, id int64, since time.Time) ([]billing.Decision, error) {
	reasons := make([]string, len(billing.LimitReasons))
	for i, r := range billing.LimitReasons {
		reasons[i] = r.String()
	}
	rows, err := s.db.Query(ctx, findDecisionsSQL, id, since, reasons)
	if err != nil {
		return nil, fmt.Errorf("postgres: find decisions of subscriber %d: %w", id, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Decision, error) {
		var d billing.Decision
		var n int
		if err := r.Scan(&d.Ref, &d.Kind, &d.At, &n); err != nil {
			return d, err
		}
		d.Summary = billing.DecisionSummary(d.Kind, d.At, n)
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find decisions of subscriber %d: %w", id, err)
	}
	return list, nil
}

const findRestrictionsSQL = `
SELECT s.id, s.username,
       COALESCE((SELECT max(h.at) FROM restriction_history h WHERE h.subscriber_id = s.id AND h.restricted), s.updated_at)
FROM subscribers s
WHERE s.restricted
ORDER BY 3, s.id`

// FindRestrictions lists the subscribers whose processing is restricted.
func (s *Store) FindRestrictions(ctx context.Context) ([]billing.Restriction, error) {
	rows, err := s.db.Query(ctx, findRestrictionsSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: find restrictions: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Restriction, error) {
		var x billing.Restriction
		err := r.Scan(&x.SubscriberID, &x.Username, &x.Since)
		x.DueAt = x.Since.Add(billing.RequestDue)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find restrictions: %w", err)
	}
	return list, nil
}

const findRequestTrailsSQL = `
SELECT target, at, actor, action FROM audit_log WHERE target = ANY($1) ORDER BY id`

// FindRequestTrails returns the audit trail of each request of ids, oldest first.
func (s *Store) FindRequestTrails(ctx context.Context, ids []int64) (map[int64][]billing.TrailEntry, error) {
	out := map[int64][]billing.TrailEntry{}
	if len(ids) == 0 {
		return out, nil
	}
	targets := make([]string, len(ids))
	for i, id := range ids {
		targets[i] = billing.RequestTarget(id)
	}
	rows, err := s.db.Query(ctx, findRequestTrailsSQL, targets)
	if err != nil {
		return nil, fmt.Errorf("postgres: find request trails: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var target string
		var e billing.TrailEntry
		if err := rows.Scan(&target, &e.At, &e.Actor, &e.Action); err != nil {
			return nil, fmt.Errorf("postgres: find request trails: %w", err)
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(target, "privacy_request:"), 10, 64)
		out[id] = append(out[id], e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find request trails: %w", err)
	}
	return out, nil
}

// recordNoticeSQL writes the event, processed when its message is queued, and the
// message, in one statement.
const recordNoticeSQL = `
WITH ev AS (
    INSERT INTO billing_events (at, kind, subscriber_id, key, data, processed_at)
    VALUES ($1, $2, $3, $4, $5, $1)
    ON CONFLICT (key) DO NOTHING
    RETURNING id, at
)
INSERT INTO notifications (created_at, event_id, subscriber_id, kind, channel, recipient, subject, body, next_attempt_at)
SELECT ev.at, ev.id, $3, $2, $6, $7, $8, $9, $1 FROM ev
RETURNING id, event_id, created_at`

// RecordNotice writes e, processed, and n as its queued message. ECONFLICT when e.Key
// was used.
func (s *Store) RecordNotice(ctx context.Context, e *billing.Event, n *billing.Notification) error {
	if !e.Kind.Valid() || e.Key == "" || len(e.Key) > 200 {
		return radius.Errorf(radius.EINVALID, "event: kind %q, key %q", e.Kind, e.Key)
	}
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	err := s.db.QueryRow(ctx, recordNoticeSQL, n.NextAttemptAt, string(e.Kind), e.SubscriberID, e.Key, data,
		string(n.Channel), n.Recipient, n.Subject, n.Body).Scan(&n.ID, &n.EventID, &e.At)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return radius.Errorf(radius.ECONFLICT, "event: %s was recorded before", e.Key)
	case err != nil:
		if cerr := pg.CheckField(err, notificationChecks); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("postgres: record notice %s: %w", e.Key, err)
	}
	e.ID, n.SubscriberID, n.CreatedAt = n.EventID, e.SubscriberID, e.At
	return nil
}

const lockNotificationSQL = `
SELECT ` + notificationColumns + `
FROM notifications n LEFT JOIN subscribers s ON s.id = n.subscriber_id
WHERE n.id = $1
FOR UPDATE OF n`

// LockNotification returns message id locked until the transaction ends. ENOTFOUND.
func (s *Store) LockNotification(ctx context.Context, id int64) (*billing.Notification, error) {
	var m billing.Notification
	if err := scanNotification(s.db.QueryRow(ctx, lockNotificationSQL, id), &m); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, radius.Errorf(radius.ENOTFOUND, "notification: no notification with id %d", id)
		}
		return nil, fmt.Errorf("postgres: lock notification %d: %w", id, err)
	}
	return &m, nil
}

const createEmailConfirmationSQL = `
INSERT INTO email_confirmations (subscriber_id, email, token_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING id`

// CreateEmailConfirmation stores c and sets c.ID. ENOTFOUND for an unknown subscriber.
func (s *Store) CreateEmailConfirmation(ctx context.Context, c *billing.EmailConfirmation) error {
	err := s.db.QueryRow(ctx, createEmailConfirmationSQL, c.SubscriberID, c.Email, c.Hash, c.CreatedAt, c.ExpiresAt).Scan(&c.ID)
	switch {
	case pg.IsForeignKey(err, ""):
		return pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("no subscriber %d", c.SubscriberID))
	case err != nil:
		if cerr := pg.CheckField(err, map[string]string{"email_confirmations_email_check": "email"}); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("postgres: create email confirmation: %w", err)
	}
	return nil
}

const emailConfirmationColumns = `id, subscriber_id, email, token_hash, created_at, expires_at, used_at`

func scanEmailConfirmation(row pgx.Row) (*billing.EmailConfirmation, error) {
	var c billing.EmailConfirmation
	var used *time.Time
	if err := row.Scan(&c.ID, &c.SubscriberID, &c.Email, &c.Hash, &c.CreatedAt, &c.ExpiresAt, &used); err != nil {
		return nil, err
	}
	c.UsedAt = timeOrZero(used)
	return &c, nil
}

const findEmailConfirmationSQL = `SELECT ` + emailConfirmationColumns + ` FROM email_confirmations WHERE token_hash = $1`

// FindEmailConfirmation returns the change of hash. ENOTFOUND.
func (s *Store) FindEmailConfirmation(ctx context.Context, hash []byte) (*billing.EmailConfirmation, error) {
	c, err := scanEmailConfirmation(s.db.QueryRow(ctx, findEmailConfirmationSQL, hash))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "email: no such confirmation")
	case err != nil:
		return nil, fmt.Errorf("postgres: find email confirmation: %w", err)
	}
	return c, nil
}

const pendingEmailSQL = `SELECT ` + emailConfirmationColumns + `
FROM email_confirmations WHERE subscriber_id = $1 AND used_at IS NULL AND expires_at > $2
ORDER BY id DESC LIMIT 1`

// PendingEmail returns subscriber id's newest open change. ENOTFOUND.
func (s *Store) PendingEmail(ctx context.Context, id int64, now time.Time) (*billing.EmailConfirmation, error) {
	c, err := scanEmailConfirmation(s.db.QueryRow(ctx, pendingEmailSQL, id, now))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "email: no change waits for confirmation")
	case err != nil:
		return nil, fmt.Errorf("postgres: pending email of subscriber %d: %w", id, err)
	}
	return c, nil
}

// confirmEmailSQL spends the change (only an open one that has not expired), every
// other open change of its subscriber, and sets the address, in one statement.
const confirmEmailSQL = `
WITH c AS (
    UPDATE email_confirmations SET used_at = $2
    WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
    RETURNING ` + emailConfirmationColumns + `
), others AS (
    UPDATE email_confirmations o SET used_at = $2 FROM c
    WHERE o.subscriber_id = c.subscriber_id AND o.used_at IS NULL AND o.id <> c.id
), sub AS (
    UPDATE subscribers s SET email = c.email, updated_at = $2 FROM c WHERE s.id = c.subscriber_id
)
SELECT ` + emailConfirmationColumns + ` FROM c`

// ConfirmEmail spends the change of hash and makes its address the subscriber's.
// ENOTFOUND for an unknown hash, EEXPIRED for a used or expired one.
func (s *Store) ConfirmEmail(ctx context.Context, hash []byte, now time.Time) (*billing.EmailConfirmation, error) {
	c, err := scanEmailConfirmation(s.db.QueryRow(ctx, confirmEmailSQL, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, ferr := s.FindEmailConfirmation(ctx, hash); ferr != nil {
			return nil, ferr
		}
		return nil, radius.Errorf(radius.EEXPIRED, "email: the link was used or expired")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: confirm email: %w", err)
	}
	return c, nil
}
