// Package postgres is the Postgres adapter of the webhook domain: endpoints, the
// delivery queue with its log, and the fan-out of billing events and sessions into it,
// which happens in SQL so that an event becomes its deliveries in one statement.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/radius"
	"tollgate/radius/pg"
	"tollgate/webhook"
)

// Store is the webhook domain's Postgres store.
type Store struct {
	db pg.DBTX
}

var _ webhook.Store = (*Store)(nil)

// New returns a Store on a pool or a transaction.
func New(db pg.DBTX) *Store { return &Store{db: db} }

// InTx returns the webhook.InTx of transactions begun on db.
func InTx(db pg.Beginner) webhook.InTx {
	return func(ctx context.Context, fn func(webhook.Store) error) error {
		return pg.WithTx(ctx, db, func(tx pgx.Tx) error { return fn(New(tx)) })
	}
}

const nextEndpointIDSQL = `SELECT nextval(pg_get_serial_sequence('webhook_endpoints', 'id'))`

// NextEndpointID reserves the id of a new endpoint.
func (s *Store) NextEndpointID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.db.QueryRow(ctx, nextEndpointIDSQL).Scan(&id); err != nil {
		return 0, fmt.Errorf("postgres: next webhook endpoint id: %w", err)
	}
	return id, nil
}

const createEndpointSQL = `
INSERT INTO webhook_endpoints (id, url, description, events, secret, enabled, created_by)
OVERRIDING SYSTEM VALUE
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING created_at`

// CreateEndpoint stores e under its reserved id with its sealed secret. EINVALID.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint, sealedSecret []byte) error {
	err := s.db.QueryRow(ctx, createEndpointSQL, e.ID, e.URL, e.Description, e.Events, sealedSecret, e.Enabled, e.CreatedBy).Scan(&e.CreatedAt)
	if pg.IsCheck(err, "") {
		return pg.Translate(err, radius.EINVALID, "webhook: the endpoint breaks a rule of the schema (url, events, description)")
	}
	if err != nil {
		return fmt.Errorf("postgres: create webhook endpoint: %w", err)
	}
	return nil
}

const listEndpointsSQL = `
SELECT id, url, description, events, enabled, created_by, created_at
FROM webhook_endpoints
ORDER BY id`

// ListEndpoints returns every endpoint, by id.
func (s *Store) ListEndpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	rows, err := s.db.Query(ctx, listEndpointsSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook endpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Endpoint, error) {
		var e webhook.Endpoint
		err := r.Scan(&e.ID, &e.URL, &e.Description, &e.Events, &e.Enabled, &e.CreatedBy, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook endpoints: %w", err)
	}
	return out, nil
}

const endpointSecretSQL = `SELECT secret FROM webhook_endpoints WHERE id = $1`

// EndpointSecret returns endpoint id's sealed secret. ENOTFOUND.
func (s *Store) EndpointSecret(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	err := s.db.QueryRow(ctx, endpointSecretSQL, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, radius.Errorf(radius.ENOTFOUND, "id: no webhook endpoint %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: webhook endpoint secret: %w", err)
	}
	return b, nil
}

const setEndpointEnabledSQL = `UPDATE webhook_endpoints SET enabled = $2 WHERE id = $1`

// SetEndpointEnabled turns endpoint id on or off. ENOTFOUND.
func (s *Store) SetEndpointEnabled(ctx context.Context, id int64, enabled bool) error {
	return s.execOne(ctx, "enable webhook endpoint", id, setEndpointEnabledSQL, id, enabled)
}

const deleteEndpointSQL = `DELETE FROM webhook_endpoints WHERE id = $1`

// DeleteEndpoint removes endpoint id with its queue and log. ENOTFOUND.
func (s *Store) DeleteEndpoint(ctx context.Context, id int64) error {
	return s.execOne(ctx, "delete webhook endpoint", id, deleteEndpointSQL, id)
}

func (s *Store) execOne(ctx context.Context, what string, id int64, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s %d: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return radius.Errorf(radius.ENOTFOUND, "id: no webhook endpoint %d", id)
	}
	return nil
}

const wantsSessionsSQL = `
SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND events && ARRAY['session.start', 'session.stop'])`

// WantsSessions reports whether an enabled endpoint takes session events.
func (s *Store) WantsSessions(ctx context.Context) (bool, error) {
	var on bool
	if err := s.db.QueryRow(ctx, wantsSessionsSQL).Scan(&on); err != nil {
		return false, fmt.Errorf("postgres: webhooks want sessions: %w", err)
	}
	return on, nil
}

// msgIDSQL is webhook.MessageID(type, key) in SQL: "msg_" and the URL-safe base64 of
// the first 18 bytes of SHA-256(type ":" key).
func msgIDSQL(typ, key string) string {
	return `'msg_' || translate(encode(substring(sha256(convert_to(` + typ + ` || ':' || ` + key + `, 'UTF8')) FROM 1 FOR 18), 'base64'), '+/', '-_')`
}

// utcSQL writes a timestamptz as RFC 3339 in UTC, to the second.
func utcSQL(col string) string {
	return `to_char(` + col + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`
}

const lockCursorSQL = `SELECT below FROM webhook_outbox_cursor WHERE consumer = 'webhooks' FOR UPDATE`

// collectBillingSQL reads the outbox's events of the kinds webhooks announce above the
// cursor and not marked yet ($1, at most $2), marks them, and queues one delivery per
// event and enabled endpoint that wants its type, once. The events of a subscriber who
// restricted processing are marked and not sent: sending them is not essential to the
// service (billing.MayNotify is the same rule for messages).
var collectBillingSQL = `
WITH ev AS (
    SELECT e.id, e.at, e.key, e.data, s.id AS subscriber_id, s.username, s.restricted,
           CASE e.kind WHEN 'isolated' THEN 'subscriber.isolated'
                       WHEN 'restored' THEN 'subscriber.restored'
                       ELSE 'payment.received' END AS type
    FROM billing_events e
    JOIN subscribers s ON s.id = e.subscriber_id
    WHERE e.id > $1 AND e.kind IN ('isolated', 'restored', 'payment_received')
      AND NOT EXISTS (SELECT 1 FROM webhook_outbox_seen m WHERE m.event_id = e.id)
    ORDER BY e.id
    LIMIT $2
), seen AS (
    INSERT INTO webhook_outbox_seen (event_id) SELECT id FROM ev ON CONFLICT DO NOTHING
), q AS (
    INSERT INTO webhook_deliveries (endpoint_id, msg_id, event_type, payload)
    SELECT w.id, ` + msgIDSQL("ev.type", "ev.key") + `, ev.type,
           convert_to(jsonb_build_object(
               'type', ev.type,
               'timestamp', ` + utcSQL("ev.at") + `,
               'data', ev.data || jsonb_build_object('event_id', ev.id, 'subscriber_id', ev.subscriber_id, 'username', ev.username)
           )::text, 'UTF8')
    FROM ev
    JOIN webhook_endpoints w ON w.enabled AND ev.type = ANY (w.events)
    WHERE NOT ev.restricted
    ON CONFLICT (endpoint_id, msg_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM q)`

// advanceCursorSQL moves the cursor to the highest id of the events older than $1 seconds
// (their transactions are long over), but never past an event of the announced kinds
// that is not marked yet; the marks below the cursor go.
const advanceCursorSQL = `
WITH c AS (
    SELECT below FROM webhook_outbox_cursor WHERE consumer = 'webhooks'
), n AS (
    SELECT greatest(c.below, least(
        (SELECT coalesce(max(e.id), c.below) FROM billing_events e WHERE e.id > c.below AND e.at < now() - make_interval(secs => $1)),
        (SELECT coalesce(min(e.id) - 1, 9223372036854775807) FROM billing_events e
         WHERE e.id > c.below AND e.kind IN ('isolated', 'restored', 'payment_received')
           AND NOT EXISTS (SELECT 1 FROM webhook_outbox_seen m WHERE m.event_id = e.id))
    )) AS below
    FROM c
), u AS (
    UPDATE webhook_outbox_cursor SET below = n.below FROM n WHERE consumer = 'webhooks'
    RETURNING webhook_outbox_cursor.below
)
DELETE FROM webhook_outbox_seen WHERE event_id <= (SELECT below FROM u)`

// CollectBilling queues the outbox's unread billing events for the endpoints that want
// them (see webhook.Store). It must run in a transaction: the cursor's row lock keeps
// two collectors apart.
func (s *Store) CollectBilling(ctx context.Context, limit int, settle time.Duration) (int, error) {
	var below int64
	if err := s.db.QueryRow(ctx, lockCursorSQL).Scan(&below); err != nil {
		return 0, fmt.Errorf("postgres: webhooks: lock the outbox cursor: %w", err)
	}
	var read, queued int64
	if err := s.db.QueryRow(ctx, collectBillingSQL, below, limit).Scan(&read, &queued); err != nil {
		return 0, fmt.Errorf("postgres: webhooks: collect billing events: %w", err)
	}
	if _, err := s.db.Exec(ctx, advanceCursorSQL, settle.Seconds()); err != nil {
		return 0, fmt.Errorf("postgres: webhooks: advance the outbox cursor: %w", err)
	}
	return int(read), nil
}

// queueSessionsSQL reads each session of the refs ($1 NAS ids, $2 Acct-Session-Ids, $3
// stop) as stored now (the latest of that key; a stop only once stopped), and queues
// one delivery per session, type and enabled endpoint that wants it, once: the message
// id is made of the type, the NAS, the session id and its start. A session of a
// subscriber who restricted processing is not sent (see collectBillingSQL).
var queueSessionsSQL = `
WITH r AS (
    SELECT DISTINCT * FROM unnest($1::bigint[], $2::text[], $3::bool[]) AS r(nas_id, sid, stop)
), t AS (
    SELECT DISTINCT ON (r.nas_id, r.sid, r.stop)
           CASE WHEN r.stop THEN 'session.stop' ELSE 'session.start' END AS type, r.stop,
           s.nas_id, coalesce(n.name, '') AS nas, s.acct_session_id, s.username, s.framed_ip, s.mac,
           s.started_at, s.stopped_at, s.session_time, s.input_octets, s.output_octets, s.terminate_cause
    FROM r
    JOIN sessions s ON s.nas_id = r.nas_id AND s.acct_session_id = r.sid
    LEFT JOIN nas n ON n.id = s.nas_id
    WHERE (NOT r.stop OR s.stopped_at IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM subscribers u WHERE u.username = s.username AND u.restricted)
    ORDER BY r.nas_id, r.sid, r.stop, s.started_at DESC
), q AS (
    INSERT INTO webhook_deliveries (endpoint_id, msg_id, event_type, payload)
    SELECT w.id, ` + msgIDSQL("t.type", "t.nas_id || ':' || t.acct_session_id || ':' || floor(extract(epoch FROM t.started_at))::bigint") + `, t.type,
           convert_to(jsonb_build_object(
               'type', t.type,
               'timestamp', ` + utcSQL("CASE WHEN t.stop THEN t.stopped_at ELSE t.started_at END") + `,
               'data', jsonb_build_object(
                   'nas', t.nas, 'acct_session_id', t.acct_session_id, 'username', t.username,
                   'ip', host(t.framed_ip), 'mac', nullif(t.mac, ''),
                   'start', ` + utcSQL("t.started_at") + `,
                   'stop', CASE WHEN t.stop THEN ` + utcSQL("t.stopped_at") + ` END,
                   'duration_seconds', t.session_time, 'input_octets', t.input_octets, 'output_octets', t.output_octets,
                   'terminate_cause', CASE WHEN t.stop THEN nullif(t.terminate_cause, '') END)
           )::text, 'UTF8')
    FROM t
    JOIN webhook_endpoints w ON w.enabled AND t.type = ANY (w.events)
    ON CONFLICT (endpoint_id, msg_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM q`

// QueueSessions queues session.start and session.stop messages of refs for the
// endpoints that want them, once per session and type.
func (s *Store) QueueSessions(ctx context.Context, refs []webhook.SessionRef) (int, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	nas := make([]int64, len(refs))
	ids := make([]string, len(refs))
	stops := make([]bool, len(refs))
	for i, r := range refs {
		nas[i], ids[i], stops[i] = r.NASID, r.SessionID, r.Stop
	}
	var n int64
	if err := s.db.QueryRow(ctx, queueSessionsSQL, nas, ids, stops).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: webhooks: queue sessions: %w", err)
	}
	return int(n), nil
}

const queueMessageSQL = `
INSERT INTO webhook_deliveries (endpoint_id, msg_id, event_type, payload)
VALUES ($1, $2, $3, $4)
ON CONFLICT (endpoint_id, msg_id) DO NOTHING`

// QueueMessage queues m for endpoint id. ENOTFOUND for no such endpoint.
func (s *Store) QueueMessage(ctx context.Context, endpointID int64, m webhook.Message) error {
	_, err := s.db.Exec(ctx, queueMessageSQL, endpointID, m.ID, m.Type, m.Payload)
	if pg.IsForeignKey(err, "") {
		return radius.Errorf(radius.ENOTFOUND, "id: no webhook endpoint %d", endpointID)
	}
	if err != nil {
		return fmt.Errorf("postgres: webhooks: queue message: %w", err)
	}
	return nil
}

const deliveryColumns = `d.id, d.endpoint_id, w.url, d.msg_id, d.event_type, d.payload, d.created_at, d.state,
       d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.delivered_at`

func scanDelivery(row pgx.Row) (webhook.Delivery, error) {
	var d webhook.Delivery
	var delivered pgtype.Timestamptz
	err := row.Scan(&d.ID, &d.EndpointID, &d.URL, &d.MsgID, &d.Type, &d.Payload, &d.CreatedAt, &d.State,
		&d.Attempts, &d.NextAttemptAt, &d.LastStatus, &d.LastError, &delivered)
	if delivered.Valid {
		d.DeliveredAt = delivered.Time
	}
	return d, err
}

// The queued delivery due soonest, of an enabled endpoint; a disabled endpoint's wait.
// A new delivery is due from the database's now(), a retry from the sender's clock
// ($1): the later of both decides, so neither clock's skew holds a message back.
const claimDeliverySQL = `
SELECT ` + deliveryColumns + `
FROM webhook_deliveries d
JOIN webhook_endpoints w ON w.id = d.endpoint_id
WHERE d.state = 'queued' AND d.next_attempt_at <= greatest($1, now()) AND w.enabled
ORDER BY d.next_attempt_at, d.id
LIMIT 1
FOR UPDATE OF d SKIP LOCKED`

// ClaimDelivery returns the delivery due soonest, locked by the caller's transaction.
// ENOTFOUND when none is due.
func (s *Store) ClaimDelivery(ctx context.Context, now time.Time) (*webhook.Delivery, error) {
	d, err := scanDelivery(s.db.QueryRow(ctx, claimDeliverySQL, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, radius.Errorf(radius.ENOTFOUND, "no webhook delivery is due")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: claim delivery: %w", err)
	}
	return &d, nil
}

const (
	recordAttemptSQL = `
INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6)`
	moveDeliverySQL = `
UPDATE webhook_deliveries SET
    state = $2, attempts = $3, last_status = $4, last_error = $5,
    next_attempt_at = coalesce($6, next_attempt_at),
    delivered_at = CASE WHEN $2 = 'delivered' THEN $7::timestamptz END
WHERE id = $1`
)

// RecordAttempt logs a and moves its delivery to state.
func (s *Store) RecordAttempt(ctx context.Context, a webhook.Attempt, state string, next time.Time) error {
	b := &pgx.Batch{}
	b.Queue(recordAttemptSQL, a.DeliveryID, a.Attempt, a.At, a.Status, a.Error, a.Duration.Milliseconds())
	var nextArg *time.Time
	if !next.IsZero() {
		nextArg = &next
	}
	b.Queue(moveDeliverySQL, a.DeliveryID, state, a.Attempt, a.Status, a.Error, nextArg, a.At)
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: webhooks: record attempt: %w", err)
	}
	return nil
}

// FindDeliveries lists deliveries newest first.
func (s *Store) FindDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, error) {
	// An admin listing: the WHERE is built from constant pieces.
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.EndpointID != 0 {
		where = append(where, "d.endpoint_id = "+arg(f.EndpointID))
	}
	if f.State != "" {
		where = append(where, "d.state = "+arg(f.State))
	}
	if f.BeforeID != 0 {
		where = append(where, "d.id < "+arg(f.BeforeID))
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	sql := "SELECT " + deliveryColumns + "\nFROM webhook_deliveries d\nJOIN webhook_endpoints w ON w.id = d.endpoint_id"
	if len(where) > 0 {
		sql += "\nWHERE " + strings.Join(where, " AND ")
	}
	sql += "\nORDER BY d.id DESC\nLIMIT " + arg(limit)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: find deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: find deliveries: %w", err)
	}
	return out, nil
}

const findAttemptsSQL = `
SELECT delivery_id, attempt, at, status, error, duration_ms
FROM webhook_attempts
WHERE delivery_id = $1
ORDER BY attempt`

// FindAttempts lists a delivery's attempts, first first.
func (s *Store) FindAttempts(ctx context.Context, deliveryID int64) ([]webhook.Attempt, error) {
	rows, err := s.db.Query(ctx, findAttemptsSQL, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: find attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Attempt, error) {
		var a webhook.Attempt
		var ms int64
		err := r.Scan(&a.DeliveryID, &a.Attempt, &a.At, &a.Status, &a.Error, &ms)
		a.Duration = time.Duration(ms) * time.Millisecond
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: find attempts: %w", err)
	}
	return out, nil
}

const retryDeliverySQL = `
UPDATE webhook_deliveries SET state = 'queued', next_attempt_at = $2, delivered_at = NULL
WHERE id = $1`

// RetryDelivery queues delivery id again at now. ENOTFOUND.
func (s *Store) RetryDelivery(ctx context.Context, id int64, now time.Time) error {
	tag, err := s.db.Exec(ctx, retryDeliverySQL, id, now)
	if err != nil {
		return fmt.Errorf("postgres: webhooks: retry delivery %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return radius.Errorf(radius.ENOTFOUND, "id: no webhook delivery %d", id)
	}
	return nil
}

const pruneDeliveriesSQL = `DELETE FROM webhook_deliveries WHERE state <> 'queued' AND created_at < $1`

// PruneDeliveries deletes the deliveries done and created before before.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, pruneDeliveriesSQL, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: webhooks: prune deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}
