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

var _ billing.NotificationStore = (*Store)(nil)

const findContactsSQL = `
SELECT id, username, name, COALESCE(email, ''), COALESCE(phone, ''), notify_email, notify_sms, marketing, restricted
FROM subscribers
WHERE id = ANY($1)`

// FindContacts returns the contacts of the subscribers ids, by id.
func (s *Store) FindContacts(ctx context.Context, ids []int64) (map[int64]billing.Contact, error) {
	rows, err := s.db.Query(ctx, findContactsSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: find contacts: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]billing.Contact, len(ids))
	for rows.Next() {
		var c billing.Contact
		if err := rows.Scan(&c.SubscriberID, &c.Username, &c.Name, &c.Email, &c.Phone, &c.NotifyEmail, &c.NotifySMS, &c.Marketing, &c.Restricted); err != nil {
			return nil, fmt.Errorf("postgres: find contacts: %w", err)
		}
		out[c.SubscriberID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find contacts: %w", err)
	}
	return out, nil
}

// queueNotificationsSQL inserts the messages given as parallel arrays; a message of an
// event already queued on its channel is skipped (ON CONFLICT on event and channel).
const queueNotificationsSQL = `
INSERT INTO notifications (event_id, subscriber_id, kind, channel, recipient, subject, body, next_attempt_at)
SELECT NULLIF(e, 0), NULLIF(s, 0), k, c, r, sub, b, t
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
     AS m(e, s, k, c, r, sub, b, t)
ON CONFLICT ON CONSTRAINT notifications_event_channel DO NOTHING`

// notificationChecks name the field a CHECK of notifications guards.
var notificationChecks = map[string]string{
	"notifications_kind_check":      "kind",
	"notifications_channel_check":   "channel",
	"notifications_recipient_check": "recipient",
	"notifications_subject_check":   "subject",
	"notifications_body_check":      "body",
	"notifications_audience":        "audience",
}

// QueueNotifications inserts list as queued messages and returns how many it inserted.
func (s *Store) QueueNotifications(ctx context.Context, list []billing.Notification) (int, error) {
	if len(list) == 0 {
		return 0, nil
	}
	n := len(list)
	events, subs, times := make([]int64, n), make([]int64, n), make([]time.Time, n)
	kinds, chans, tos, subjects, bodies := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, m := range list {
		if !m.Channel.Valid() {
			return 0, radius.Errorf(radius.EINVALID, "channel: %q is not email or sms", m.Channel)
		}
		events[i], subs[i], times[i] = m.EventID, m.SubscriberID, m.NextAttemptAt
		kinds[i], chans[i], tos[i], subjects[i], bodies[i] = string(m.Kind), string(m.Channel), m.Recipient, m.Subject, m.Body
	}
	tag, err := s.db.Exec(ctx, queueNotificationsSQL, events, subs, kinds, chans, tos, subjects, bodies, times)
	if err != nil {
		if cerr := pg.CheckField(err, notificationChecks); cerr != nil {
			err = cerr
		}
		return 0, fmt.Errorf("postgres: queue %d notifications: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// notificationColumns are the columns of "n" (notifications) left-joined with its
// subscriber "s".
const notificationColumns = `n.id, n.created_at, COALESCE(n.event_id, 0), COALESCE(n.subscriber_id, 0),
       COALESCE(s.username, ''), n.kind, n.channel, n.recipient, n.subject, n.body, n.state,
       n.attempts, n.next_attempt_at, n.sent_at, n.last_error`

func scanNotification(row pgx.Row, m *billing.Notification) error {
	var kind, ch, state string
	var sent *time.Time
	err := row.Scan(&m.ID, &m.CreatedAt, &m.EventID, &m.SubscriberID, &m.Username, &kind, &ch,
		&m.Recipient, &m.Subject, &m.Body, &state, &m.Attempts, &m.NextAttemptAt, &sent, &m.LastError)
	if err != nil {
		return err
	}
	m.Kind, m.Channel, m.State = billing.EventKind(kind), billing.Channel(ch), billing.NotificationState(state)
	m.SentAt = timeOrZero(sent)
	return nil
}

// claimNotificationSQL locks the due message of the sender's channels that is due
// soonest; FOR UPDATE OF n locks the message alone, not its subscriber.
const claimNotificationSQL = `
SELECT ` + notificationColumns + `
FROM notifications n LEFT JOIN subscribers s ON s.id = n.subscriber_id
WHERE n.state = 'queued' AND n.next_attempt_at <= $1 AND n.channel = ANY($2)
ORDER BY n.next_attempt_at, n.id
LIMIT 1
FOR UPDATE OF n SKIP LOCKED`

// ClaimNotification returns the message due soonest on channels, locked by the caller's
// transaction. ENOTFOUND when none is due.
func (s *Store) ClaimNotification(ctx context.Context, now time.Time, channels []billing.Channel) (*billing.Notification, error) {
	chans := make([]string, len(channels))
	for i, c := range channels {
		chans[i] = string(c)
	}
	var m billing.Notification
	if err := scanNotification(s.db.QueryRow(ctx, claimNotificationSQL, now, chans), &m); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, pg.Translate(err, radius.ENOTFOUND, "notification: none due")
		}
		return nil, fmt.Errorf("postgres: claim notification: %w", err)
	}
	return &m, nil
}

// recordAttemptSQL logs the attempt and moves its message on in one statement: sent at
// the attempt's time, queued again until $9, or failed.
const recordAttemptSQL = `
WITH logged AS (
    INSERT INTO notification_log (at, notification_id, attempt, channel, recipient, result, error, provider_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
)
UPDATE notifications SET
    state           = $10,
    attempts        = $3,
    next_attempt_at = COALESCE($9, next_attempt_at),
    sent_at         = CASE WHEN $10 = 'sent' THEN $1::timestamptz END,
    last_error      = $7
WHERE id = $2`

// RecordAttempt writes a to the log and moves its message to state (see
// billing.NotificationStore). ENOTFOUND when the message does not exist, EINVALID for an
// unknown state.
func (s *Store) RecordAttempt(ctx context.Context, a billing.Attempt, state billing.NotificationState, next time.Time) error {
	if !state.Valid() {
		return radius.Errorf(radius.EINVALID, "state: %q is not queued, sent or failed", state)
	}
	result := "error"
	if a.OK {
		result = "ok"
	}
	tag, err := s.db.Exec(ctx, recordAttemptSQL, a.At, a.NotificationID, a.Attempt, string(a.Channel), a.Recipient,
		result, a.Error, a.ProviderID, nullTime(next), string(state))
	if err != nil {
		return fmt.Errorf("postgres: record attempt of notification %d: %w", a.NotificationID, err)
	}
	if tag.RowsAffected() == 0 {
		return radius.Errorf(radius.ENOTFOUND, "notification: no notification with id %d", a.NotificationID)
	}
	return nil
}

// limit bounds a list's length.
func listLimit(n int) int {
	if n <= 0 || n > 10000 {
		return 100
	}
	return n
}

const findNotificationsSQL = `
SELECT ` + notificationColumns + `
FROM notifications n LEFT JOIN subscribers s ON s.id = n.subscriber_id
WHERE ($1::bigint = 0 OR n.subscriber_id = $1) AND ($2 = '' OR n.state = $2)
ORDER BY n.id DESC
LIMIT $3`

// FindNotifications lists messages, newest first.
func (s *Store) FindNotifications(ctx context.Context, f billing.NotificationFilter) ([]billing.Notification, error) {
	rows, err := s.db.Query(ctx, findNotificationsSQL, f.SubscriberID, string(f.State), listLimit(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: find notifications: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Notification, error) {
		var m billing.Notification
		return m, scanNotification(r, &m)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find notifications: %w", err)
	}
	return list, nil
}

const findNotificationLogSQL = `
SELECT l.at, l.notification_id, l.attempt, l.channel, l.recipient, l.result = 'ok', l.error, l.provider_id,
       COALESCE(n.kind, ''), COALESCE(s.username, '')
FROM notification_log l
LEFT JOIN notifications n ON n.id = l.notification_id
LEFT JOIN subscribers s ON s.id = n.subscriber_id
WHERE ($1::bigint = 0 OR n.subscriber_id = $1) AND ($2 = '' OR n.state = $2)
ORDER BY l.at DESC, l.notification_id DESC, l.attempt DESC
LIMIT $3`

// FindNotificationLog lists attempts, newest first.
func (s *Store) FindNotificationLog(ctx context.Context, f billing.NotificationFilter) ([]billing.Attempt, error) {
	rows, err := s.db.Query(ctx, findNotificationLogSQL, f.SubscriberID, string(f.State), listLimit(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: find notification log: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Attempt, error) {
		var a billing.Attempt
		var ch, kind string
		err := r.Scan(&a.At, &a.NotificationID, &a.Attempt, &ch, &a.Recipient, &a.OK, &a.Error, &a.ProviderID, &kind, &a.Username)
		a.Channel, a.Kind = billing.Channel(ch), billing.EventKind(kind)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find notification log: %w", err)
	}
	return list, nil
}

const ensureNotificationPartitionsSQL = `SELECT ensure_monthly_partitions('notification_log', 2)`

// EnsureNotificationPartitions creates the notification log's monthly partitions from
// this month to two months ahead; rows already in the default partition move to theirs.
func (s *Store) EnsureNotificationPartitions(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, ensureNotificationPartitionsSQL); err != nil {
		return fmt.Errorf("postgres: ensure notification log partitions: %w", err)
	}
	return nil
}
