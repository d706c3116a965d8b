package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
)

var _ billing.ErasureStore = (*Store)(nil)

// findErasureSubjectSQL reads the subscriber, its portal account, whether it was erased
// already, and every other address or number it was written to or asked for.
const findErasureSubjectSQL = `
SELECT s.id, s.username, s.name, COALESCE(s.email, ''), COALESCE(s.phone, ''), COALESCE(s.mac, ''),
       COALESCE((SELECT u.id FROM portal_users u WHERE u.subscriber_id = s.id), 0),
       EXISTS (SELECT 1 FROM erasures e WHERE e.pseudonym = s.username),
       ARRAY(SELECT c.email FROM email_confirmations c WHERE c.subscriber_id = s.id
             UNION SELECT n.recipient FROM notifications n WHERE n.subscriber_id = s.id AND n.recipient <> 'erased'
             UNION SELECT l.recipient FROM notification_log l JOIN notifications n ON n.id = l.notification_id
                   WHERE n.subscriber_id = s.id AND l.recipient <> 'erased')
FROM subscribers s WHERE s.id = $1`

// FindErasureSubject returns what erasing subscriber id touches in billing's and the
// portal's tables. ENOTFOUND.
func (s *Store) FindErasureSubject(ctx context.Context, id int64) (*billing.ErasureSubject, error) {
	var x billing.ErasureSubject
	var mac string
	err := s.db.QueryRow(ctx, findErasureSubjectSQL, id).Scan(&x.SubscriberID, &x.Username, &x.Name, &x.Email, &x.Phone,
		&mac, &x.PortalUserID, &x.Erased, &x.Addresses)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "no subscriber %d", id)
	case err != nil:
		return nil, fmt.Errorf("postgres: find erasure subject %d: %w", id, err)
	}
	if mac != "" {
		x.MACs = []string{mac}
	}
	return &x, nil
}

const disableSubscriberSQL = `UPDATE subscribers SET status = 'disabled', updated_at = now() WHERE id = $1`

// DisableSubscriber disables subscriber id. ENOTFOUND.
func (s *Store) DisableSubscriber(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, disableSubscriberSQL, id)
	if err != nil {
		return fmt.Errorf("postgres: disable subscriber %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return radius.Errorf(radius.ENOTFOUND, "no subscriber %d", id)
	}
	return nil
}

// markErasureSQL declares the transaction an erasure: the append-only tables let it
// rewrite the columns that name people (migration 0021).
const markErasureSQL = `SELECT set_config('tollgate.erasure', 'on', true)`

// The statements of an erasure: $1 is the subscriber, $2 the pseudonym, $3 the
// identifiers to scrub; each names its further parameters.
const (
	// $3 the time, $4 the sealed random PPPoE password. The subscription ends: the
	// billing pass charges an erased account no more.
	eraseSubscriberSQL = `
WITH c AS (
    UPDATE subscriptions SET state = 'cancelled', next_plan_id = NULL, updated_at = $3 WHERE subscriber_id = $1
)
UPDATE subscribers SET username = $2, name = '', email = NULL, phone = NULL, mac = NULL, mac_login = false,
    static_ip = NULL, password = $4, status = 'disabled', auto_renew = false, notify_email = false,
    notify_sms = false, marketing = false, restricted = false, updated_at = $3
WHERE id = $1`
	erasePortalSQL = `
WITH u AS (DELETE FROM portal_users WHERE subscriber_id = $1),
     l AS (DELETE FROM subscriber_links WHERE subscriber_id = $1),
     e AS (DELETE FROM email_confirmations WHERE subscriber_id = $1),
     c AS (DELETE FROM consent_history WHERE subscriber_id = $1),
     r AS (DELETE FROM restriction_history WHERE subscriber_id = $1)
DELETE FROM policy_acceptances WHERE subscriber_id = $1`
	// Messages keep their kind, channel, state and times; their addresses and texts go.
	// A message still queued will not go out.
	eraseMessagesSQL = `
WITH n AS (
    UPDATE notifications SET recipient = 'erased', subject = '', body = '',
        last_error = CASE WHEN state = 'queued' THEN 'erased' ELSE erasure_scrub(last_error, $3, $2) END,
        state = CASE WHEN state = 'queued' THEN 'failed' ELSE state END
    WHERE subscriber_id = $1
    RETURNING id
)
UPDATE notification_log l SET recipient = 'erased', error = erasure_scrub(l.error, $3, $2),
    provider_id = erasure_scrub(l.provider_id, $3, $2)
FROM n WHERE l.notification_id = n.id`
	// Events keep their kind and time; links and addresses in their data go.
	eraseEventsSQL = `
UPDATE billing_events SET data = erasure_scrub_jsonb(data - 'link' - 'email', $3, $2), key = erasure_scrub(key, $3, $2)
WHERE subscriber_id = $1`
	// Documents keep every amount; the customer's identity is pseudonymised.
	eraseInvoicesSQL = `
WITH i AS (
    UPDATE invoices SET username = $2, customer_name = '' WHERE subscriber_id = $1 RETURNING id
)
UPDATE invoice_lines l SET description = erasure_scrub(l.description, $3, $2)
FROM i WHERE l.invoice_id = i.id AND l.description IS DISTINCT FROM erasure_scrub(l.description, $3, $2)`
	// The ledger keeps every amount and balance.
	eraseLedgerSQL = `
UPDATE ledger_entries e SET note = erasure_scrub(e.note, $3, $2), ref = erasure_scrub(e.ref, $3, $2),
    actor = erasure_scrub(e.actor, $3, $2), idempotency_key = erasure_scrub(e.idempotency_key, $3, $2)
FROM wallets w
WHERE w.id = e.wallet_id AND w.subscriber_id = $1
  AND (e.note, e.ref, e.actor, e.idempotency_key) IS DISTINCT FROM
      (erasure_scrub(e.note, $3, $2), erasure_scrub(e.ref, $3, $2), erasure_scrub(e.actor, $3, $2), erasure_scrub(e.idempotency_key, $3, $2))`
	eraseRequestsSQL = `
UPDATE privacy_requests SET message = erasure_scrub(message, $3, $2), note = erasure_scrub(note, $3, $2),
    decision = erasure_scrub(decision, $3, $2), requested_by = erasure_scrub(requested_by, $3, $2),
    closed_by = erasure_scrub(closed_by, $3, $2)
WHERE subscriber_id = $1`
	// The audit log. Entries about the subscriber or its requests, or by it ($4: the
	// distinctive identifiers lower-cased, as an actor is written), are scrubbed of every
	// identifier ($3), and lose the subscriber's own addresses. Other entries that name
	// it are scrubbed of the distinctive identifiers alone: never of a name, which
	// another person may share.
	eraseAuditSQL = `
UPDATE audit_log a SET actor = erasure_scrub(a.actor, $3, $2), target = erasure_scrub(a.target, $3, $2),
    detail = erasure_scrub_jsonb(a.detail, $3, $2), ip = CASE WHEN lower(a.actor) = ANY($4) THEN NULL ELSE a.ip END
WHERE a.target = 'subscriber:' || $1::bigint
   OR a.target IN (SELECT 'privacy_request:' || r.id FROM privacy_requests r WHERE r.subscriber_id = $1)
   OR lower(a.actor) = ANY($4)`
	// $1 the pseudonym, $2 the patterns, $3 the actors, $4 the distinctive identifiers.
	eraseAuditNamedSQL = `
UPDATE audit_log a SET actor = erasure_scrub(a.actor, $4, $1), target = erasure_scrub(a.target, $4, $1),
    detail = erasure_scrub_jsonb(a.detail, $4, $1)
WHERE lower(a.target) = ANY($3) OR a.actor ILIKE ANY($2) OR a.target ILIKE ANY($2) OR a.detail::text ILIKE ANY($2)`
	// The payments (migration 0019): a pending top-up fails (an erased account takes no
	// more payments; one that comes goes to review); the account a payer typed, the
	// reference, notes and a review's raw event lose the identifiers: every one in the
	// subscriber's own rows ($3), the distinctive ones ($6) in the rows that name it
	// ($4, $5 as for the audit log). $2 of eraseTopUpsSQL is the time.
	eraseTopUpsSQL = `
UPDATE topups SET state = 'failed', closed_at = $2, note = 'erased' WHERE subscriber_id = $1 AND state = 'pending'`
	scrubTopUpsSQL = `
UPDATE topups SET note = erasure_scrub(note, $3, $2), authorization_url = erasure_scrub(authorization_url, $3, $2)
WHERE subscriber_id = $1
  AND (note, authorization_url) IS DISTINCT FROM (erasure_scrub(note, $3, $2), erasure_scrub(authorization_url, $3, $2))`
	scrubPaymentsSQL = `
WITH own AS (
    SELECT p.id FROM payments p
    WHERE p.subscriber_id = $1 OR p.topup_id IN (SELECT id FROM topups WHERE subscriber_id = $1)
), ids AS (
    SELECT p.id, CASE WHEN p.id IN (SELECT id FROM own) THEN $3::text[] ELSE $6::text[] END AS olds
    FROM payments p
    WHERE p.id IN (SELECT id FROM own) OR lower(p.account) = ANY($5) OR p.account ILIKE ANY($4) OR p.reference ILIKE ANY($4)
)
UPDATE payments p SET account = erasure_scrub(p.account, ids.olds, $2), reference = erasure_scrub(p.reference, ids.olds, $2)
FROM ids WHERE ids.id = p.id
  AND (p.account, p.reference) IS DISTINCT FROM (erasure_scrub(p.account, ids.olds, $2), erasure_scrub(p.reference, ids.olds, $2))`
	scrubPaymentReviewsSQL = `
WITH own AS (
    SELECT r.id FROM payment_reviews r JOIN payments p ON p.id = r.payment_id
    WHERE r.subscriber_id = $1 OR p.subscriber_id = $1 OR p.topup_id IN (SELECT id FROM topups WHERE subscriber_id = $1)
), ids AS (
    SELECT r.id, CASE WHEN r.id IN (SELECT id FROM own) THEN $3::text[] ELSE $6::text[] END AS olds
    FROM payment_reviews r JOIN payments p ON p.id = r.payment_id
    WHERE r.id IN (SELECT id FROM own) OR lower(p.account) = ANY($5) OR r.raw ILIKE ANY($4) OR r.note ILIKE ANY($4)
)
UPDATE payment_reviews r SET raw = erasure_scrub(r.raw, ids.olds, $2), note = erasure_scrub(r.note, ids.olds, $2),
    resolved_by = erasure_scrub(r.resolved_by, ids.olds, $2)
FROM ids WHERE ids.id = r.id
  AND (r.raw, r.note, r.resolved_by) IS DISTINCT FROM
      (erasure_scrub(r.raw, ids.olds, $2), erasure_scrub(r.note, ids.olds, $2), erasure_scrub(r.resolved_by, ids.olds, $2))`
	// The outgoing webhooks' messages (migration 0022), queued or kept in the delivery
	// log, are JSON: one about the subscriber (its subscriber_id or username in data)
	// loses every identifier ($3), another that names it the distinctive ones ($6). A
	// message still queued goes out under the pseudonym. $4 and $5 as for the payments.
	scrubWebhooksSQL = `
WITH d AS (
    SELECT w.id, convert_from(w.payload, 'UTF8')::jsonb AS j
    FROM webhook_deliveries w
    WHERE encode(w.payload, 'escape') ILIKE ANY($4)
), ids AS (
    SELECT d.id, d.j,
           CASE WHEN d.j #>> '{data,subscriber_id}' = ($1::bigint)::text OR lower(d.j #>> '{data,username}') = ANY($5)
                THEN $3::text[] ELSE $6::text[] END AS olds
    FROM d
)
UPDATE webhook_deliveries w SET payload = convert_to(erasure_scrub_jsonb(ids.j, ids.olds, $2)::text, 'UTF8')
FROM ids WHERE ids.id = w.id`
	// $1 the pseudonym, $2 the time.
	recordErasureSQL = `INSERT INTO erasures (pseudonym, erased_at) VALUES ($1, $2)`
)

// likeEscape escapes LIKE's wildcards in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// EraseSubscriber removes and pseudonymises what billing and the portal keep about x
// and records the erasure (see billing.Erasure), on the caller's transaction.
func (s *Store) EraseSubscriber(ctx context.Context, x *billing.ErasureSubject, pseudonym string, sealed []byte, at time.Time) error {
	ids, strong := x.Identifiers(), x.Distinctive()
	// A distinctive identifier (an address, a number, a MAC) is found anywhere; the
	// username only as a whole JSON string ("alice", not "malice").
	patterns := []string{`%"` + likeEscape(x.Username) + `"%`}
	for _, v := range strong {
		if v != x.Username {
			patterns = append(patterns, "%"+likeEscape(v)+"%")
		}
	}
	actors := []string{strings.ToLower("subscriber:" + x.Username)}
	for _, v := range strong {
		actors = append(actors, strings.ToLower(v))
	}
	if _, err := s.db.Exec(ctx, markErasureSQL); err != nil {
		return fmt.Errorf("postgres: erase subscriber %d: %w", x.SubscriberID, err)
	}
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"subscriber", eraseSubscriberSQL, []any{x.SubscriberID, pseudonym, at, sealed}},
		{"portal account, consents and acceptances", erasePortalSQL, []any{x.SubscriberID}},
		{"messages", eraseMessagesSQL, nil},
		{"events", eraseEventsSQL, nil},
		{"invoices", eraseInvoicesSQL, nil},
		{"ledger", eraseLedgerSQL, nil},
		{"requests", eraseRequestsSQL, nil},
		{"audit log", eraseAuditSQL, []any{x.SubscriberID, pseudonym, ids, actors}},
		{"audit log entries naming it", eraseAuditNamedSQL, []any{pseudonym, patterns, actors, strong}},
		{"pending top-ups", eraseTopUpsSQL, []any{x.SubscriberID, at}},
		{"top-ups", scrubTopUpsSQL, nil},
		{"payments", scrubPaymentsSQL, []any{x.SubscriberID, pseudonym, ids, patterns, actors, strong}},
		{"payment reviews", scrubPaymentReviewsSQL, []any{x.SubscriberID, pseudonym, ids, patterns, actors, strong}},
		{"webhook messages", scrubWebhooksSQL, []any{x.SubscriberID, pseudonym, ids, patterns, actors, strong}},
	}
	for _, st := range steps {
		args := st.args
		if args == nil {
			args = []any{x.SubscriberID, pseudonym, ids}
		}
		tag, err := s.db.Exec(ctx, st.sql, args...)
		if err != nil {
			return fmt.Errorf("postgres: erase subscriber %d: %s: %w", x.SubscriberID, st.what, err)
		}
		if st.what == "subscriber" && tag.RowsAffected() == 0 {
			return radius.Errorf(radius.ENOTFOUND, "no subscriber %d", x.SubscriberID)
		}
	}
	if _, err := s.db.Exec(ctx, recordErasureSQL, pseudonym, at); err != nil {
		return fmt.Errorf("postgres: record erasure: %w", err)
	}
	return nil
}
