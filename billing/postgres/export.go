package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
)

var _ billing.ExportStore = (*Store)(nil)

// The subscriber's export: every table that holds the subscriber's data, read in one
// snapshot. exportSources lists them, in the order the sections are read; a table that
// gains a subscriber's data needs its section here (TestE2EExportComplete checks the
// schema against this list).

// exportSources are the tables the export reads.
var exportSources = []string{
	"subscribers", "plans", "consent_history", "restriction_history", "portal_users", "subscriber_links",
	"email_confirmations", "policy_acceptances", "subscriptions", "renewals", "wallets", "ledger_entries",
	"invoices", "invoice_lines", "topups", "payments", "payment_reviews", "sessions", "nas", "auth_log", "coa_log", "billing_events", "notifications",
	"notification_log", "privacy_requests", "audit_log",
}

// The sections' queries; $1 is the subscriber's id.
const (
	exportProfileSQL = `
SELECT s.id, s.username, s.name, COALESCE(s.email, ''), COALESCE(s.phone, ''), p.name, s.status,
       COALESCE(host(s.static_ip), ''), COALESCE(s.mac, ''), s.mac_login, s.auto_renew, s.valid_from, s.valid_until,
       s.created_at, s.updated_at, s.notify_email, s.notify_sms, s.marketing, s.restricted
FROM subscribers s JOIN plans p ON p.id = s.plan_id WHERE s.id = $1`
	exportPortalSQL = `
SELECT created_at, totp_secret IS NOT NULL, failed_logins, locked_until, disabled_at
FROM portal_users WHERE subscriber_id = $1`
	exportLinksSQL = `
SELECT purpose, created_at, expires_at, used_at FROM subscriber_links WHERE subscriber_id = $1 ORDER BY id`
	exportEmailChangesSQL = `
SELECT email, created_at, expires_at, used_at FROM email_confirmations WHERE subscriber_id = $1 ORDER BY id`
	exportAcceptancesSQL = `
SELECT version, at, COALESCE(host(ip), '') FROM policy_acceptances WHERE subscriber_id = $1 ORDER BY version`
	exportSubscriptionSQL = `
SELECT p.name, COALESCE(n.name, ''), u.state, u.paid, u.period_start, u.period_end, u.grace_until, u.created_at
FROM subscriptions u JOIN plans p ON p.id = u.plan_id LEFT JOIN plans n ON n.id = u.next_plan_id
WHERE u.subscriber_id = $1`
	exportRenewalsSQL = `
SELECT r.period_start, r.period_end, r.amount_cents, i.number, r.at
FROM renewals r JOIN subscriptions u ON u.id = r.subscription_id JOIN invoices i ON i.id = r.invoice_id
WHERE u.subscriber_id = $1 ORDER BY r.id`
	exportWalletSQL = `SELECT balance_cents FROM wallets WHERE subscriber_id = $1`
	exportLedgerSQL = `
SELECT e.at, e.kind, e.amount_cents, e.balance_after_cents, e.note, e.ref, e.actor
FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id WHERE w.subscriber_id = $1 ORDER BY e.id`
	exportInvoicesSQL = `
SELECT i.id, i.number, i.kind, i.issued_at, i.username, i.customer_name, i.plan_name, i.currency, i.net_cents,
       i.tax_cents, i.total_cents, i.period_start, i.period_end
FROM invoices i WHERE i.subscriber_id = $1 ORDER BY i.id`
	exportInvoiceLinesSQL = `
SELECT l.invoice_id, l.line, l.description, l.quantity, l.unit_cents, l.net_cents, l.tax_cents, l.total_cents
FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.subscriber_id = $1 ORDER BY l.invoice_id, l.line`
	exportTopUpsSQL = `
SELECT reference, provider, amount_cents, currency, state, created_at, expires_at, closed_at, note
FROM topups WHERE subscriber_id = $1 ORDER BY id`
	// The subscriber's payments: credited to it, or paying one of its top-ups.
	exportPaymentsSQL = `
SELECT p.provider, p.provider_id, p.reference, p.account, p.amount_cents, p.currency, p.received_at, COALESCE(p.outcome, '')
FROM payments p
WHERE p.subscriber_id = $1 OR p.topup_id IN (SELECT id FROM topups WHERE subscriber_id = $1)
ORDER BY p.id`
	exportPaymentReviewsSQL = `
SELECT p.provider_id, r.reason, r.created_at, r.state, r.resolved_at, r.note, r.raw
FROM payment_reviews r JOIN payments p ON p.id = r.payment_id
WHERE r.subscriber_id = $1 OR p.subscriber_id = $1 OR p.topup_id IN (SELECT id FROM topups WHERE subscriber_id = $1)
ORDER BY r.id`
	exportSessionsSQL = `
SELECT COALESCE(n.name, ''), x.acct_session_id, x.started_at, x.stopped_at, x.last_update, COALESCE(host(x.framed_ip), ''),
       x.mac, x.called_station_id, x.session_time, x.output_octets, x.input_octets, x.terminate_cause
FROM sessions x JOIN subscribers s ON s.username = x.username LEFT JOIN nas n ON n.id = x.nas_id
WHERE s.id = $1 ORDER BY x.started_at, x.acct_session_id`
	exportAuthLogSQL = `
SELECT a.at, COALESCE(n.name, ''), a.mac, a.method, a.reason
FROM auth_log a JOIN subscribers s ON s.username = a.username LEFT JOIN nas n ON n.id = a.nas_id
WHERE s.id = $1 ORDER BY a.at`
	exportCoASQL = `
SELECT c.at, COALESCE(n.name, ''), c.acct_session_id, c.kind, c.result, c.reason
FROM coa_log c JOIN subscribers s ON s.username = c.username LEFT JOIN nas n ON n.id = c.nas_id
WHERE s.id = $1 ORDER BY c.id`
	exportEventsSQL = `
SELECT at, kind, data, processed_at FROM billing_events WHERE subscriber_id = $1 ORDER BY id`
	exportNotificationsSQL = `
SELECT id, created_at, kind, channel, recipient, subject, body, state, sent_at
FROM notifications WHERE subscriber_id = $1 ORDER BY id`
	exportNotificationLogSQL = `
SELECT l.at, l.notification_id, l.attempt, l.channel, l.recipient, l.result, l.error
FROM notification_log l JOIN notifications n ON n.id = l.notification_id
WHERE n.subscriber_id = $1 ORDER BY l.at, l.notification_id, l.attempt`
	exportRequestsSQL = `SELECT ` + requestColumns + `
FROM privacy_requests r JOIN subscribers s ON s.id = r.subscriber_id WHERE r.subscriber_id = $1 ORDER BY r.id`
	// The audit log: entries about the subscriber, its requests, and its own actions.
	exportAuditSQL = `
SELECT a.at, a.actor, a.action, a.target, a.detail, COALESCE(host(a.ip), '')
FROM audit_log a, subscribers s
WHERE s.id = $1 AND (a.target = 'subscriber:' || s.id
   OR a.target IN (SELECT 'privacy_request:' || r.id FROM privacy_requests r WHERE r.subscriber_id = s.id)
   OR a.actor = 'subscriber:' || s.username)
ORDER BY a.id`
)

// collect runs sql for subscriber id and scans every row with scan.
func collect[T any](ctx context.Context, db pgx.Tx, sql string, id int64, scan func(pgx.CollectableRow) (T, error)) ([]T, error) {
	rows, err := db.Query(ctx, sql, id)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, scan)
	if list == nil {
		list = []T{}
	}
	return list, err
}

// timePtr maps a nullable time to a JSON time or null.
func timePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ExportSubscriber returns everything held about subscriber id, read in one REPEATABLE
// READ snapshot when the store runs on a pool. ENOTFOUND.
func (s *Store) ExportSubscriber(ctx context.Context, id int64) (*billing.Export, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: export subscriber %d: %w", id, err)
	}
	defer tx.Rollback(ctx)
	if _, nested := s.db.(pgx.Tx); !nested {
		if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
			return nil, fmt.Errorf("postgres: export subscriber %d: %w", id, err)
		}
	}
	doc, err := exportSections(ctx, tx, id)
	if err != nil {
		if radius.ErrorCode(err) == radius.ENOTFOUND {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: export subscriber %d: %w", id, err)
	}
	return doc, nil
}

func exportSections(ctx context.Context, tx pgx.Tx, id int64) (*billing.Export, error) {
	doc := &billing.Export{Sources: append([]string(nil), exportSources...)}
	p := &doc.Profile
	var from, until *time.Time
	err := tx.QueryRow(ctx, exportProfileSQL, id).Scan(&p.ID, &p.Username, &p.Name, &p.Email, &p.Phone, &p.Plan, &p.Status,
		&p.StaticIP, &p.MAC, &p.MACLogin, &p.AutoRenew, &from, &until, &p.CreatedAt, &p.UpdatedAt,
		&doc.Consents.RemindersEmail, &doc.Consents.RemindersSMS, &doc.Consents.Marketing, &doc.Restricted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, radius.Errorf(radius.ENOTFOUND, "no subscriber %d", id)
	}
	if err != nil {
		return nil, err
	}
	p.ValidFrom, p.ValidUntil, p.CreatedAt, p.UpdatedAt = timePtr(from), timePtr(until), p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	st := NewStore(tx)
	if doc.ConsentHistory, err = st.FindConsentHistory(ctx, id); err != nil {
		return nil, err
	}
	if doc.RestrictionHistory, err = st.FindRestrictionHistory(ctx, id); err != nil {
		return nil, err
	}
	var acct billing.ExportPortalAccount
	var locked, disabled *time.Time
	switch err := tx.QueryRow(ctx, exportPortalSQL, id).Scan(&acct.CreatedAt, &acct.TOTP, &acct.FailedLogins, &locked, &disabled); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		acct.LockedUntil, acct.DisabledAt = timePtr(locked), timePtr(disabled)
		doc.PortalAccount = &acct
	}
	if doc.PasswordLinks, err = collect(ctx, tx, exportLinksSQL, id, func(r pgx.CollectableRow) (billing.ExportLink, error) {
		var l billing.ExportLink
		var used *time.Time
		err := r.Scan(&l.Purpose, &l.CreatedAt, &l.ExpiresAt, &used)
		l.UsedAt = timePtr(used)
		return l, err
	}); err != nil {
		return nil, err
	}
	if doc.EmailChanges, err = collect(ctx, tx, exportEmailChangesSQL, id, func(r pgx.CollectableRow) (billing.ExportEmailChange, error) {
		var c billing.ExportEmailChange
		var used *time.Time
		err := r.Scan(&c.Email, &c.CreatedAt, &c.ExpiresAt, &used)
		c.UsedAt = timePtr(used)
		return c, err
	}); err != nil {
		return nil, err
	}
	if doc.PolicyAcceptances, err = collect(ctx, tx, exportAcceptancesSQL, id, func(r pgx.CollectableRow) (billing.ExportAcceptance, error) {
		var a billing.ExportAcceptance
		err := r.Scan(&a.Version, &a.At, &a.IP)
		return a, err
	}); err != nil {
		return nil, err
	}
	if err := exportMoney(ctx, tx, id, doc); err != nil {
		return nil, err
	}
	if err := exportLogs(ctx, tx, id, doc); err != nil {
		return nil, err
	}
	if err := exportMessages(ctx, tx, id, doc); err != nil {
		return nil, err
	}
	if doc.Requests, err = collect(ctx, tx, exportRequestsSQL, id, func(r pgx.CollectableRow) (billing.DataRequest, error) {
		req, err := scanRequest(r)
		if err != nil {
			return billing.DataRequest{}, err
		}
		return *req, nil
	}); err != nil {
		return nil, err
	}
	if doc.Audit, err = collect(ctx, tx, exportAuditSQL, id, func(r pgx.CollectableRow) (billing.ExportAudit, error) {
		var a billing.ExportAudit
		var detail []byte
		err := r.Scan(&a.At, &a.Actor, &a.Action, &a.Target, &detail, &a.IP)
		a.Detail = json.RawMessage(detail)
		return a, err
	}); err != nil {
		return nil, err
	}
	return doc, nil
}

// exportMoney reads the subscription, renewals, wallet, ledger and documents.
func exportMoney(ctx context.Context, tx pgx.Tx, id int64, doc *billing.Export) error {
	var sub billing.ExportSubscription
	var grace *time.Time
	switch err := tx.QueryRow(ctx, exportSubscriptionSQL, id).Scan(&sub.Plan, &sub.NextPlan, &sub.State, &sub.Paid,
		&sub.PeriodStart, &sub.PeriodEnd, &grace, &sub.CreatedAt); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		sub.GraceUntil = timePtr(grace)
		doc.Subscription = &sub
	}
	var err error
	if doc.Renewals, err = collect(ctx, tx, exportRenewalsSQL, id, func(r pgx.CollectableRow) (billing.ExportRenewal, error) {
		var x billing.ExportRenewal
		err := r.Scan(&x.PeriodStart, &x.PeriodEnd, &x.AmountCents, &x.Invoice, &x.At)
		return x, err
	}); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, exportWalletSQL, id).Scan(&doc.Wallet.BalanceCents); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if doc.Wallet.Entries, err = collect(ctx, tx, exportLedgerSQL, id, func(r pgx.CollectableRow) (billing.ExportEntry, error) {
		var e billing.ExportEntry
		err := r.Scan(&e.At, &e.Kind, &e.AmountCents, &e.BalanceAfterCents, &e.Note, &e.Ref, &e.Actor)
		return e, err
	}); err != nil {
		return err
	}
	ids := map[int64]int{}
	if doc.Invoices, err = collect(ctx, tx, exportInvoicesSQL, id, func(r pgx.CollectableRow) (billing.ExportInvoice, error) {
		var inv billing.ExportInvoice
		var invID int64
		var start, end *time.Time
		err := r.Scan(&invID, &inv.Number, &inv.Kind, &inv.IssuedAt, &inv.Username, &inv.Customer, &inv.Plan, &inv.Currency,
			&inv.NetCents, &inv.TaxCents, &inv.TotalCents, &start, &end)
		if start != nil && end != nil {
			inv.Period = &billing.ExportPeriod{Start: start.UTC(), End: end.UTC()}
		}
		inv.Lines = []billing.InvoiceLine{}
		ids[invID] = len(ids)
		return inv, err
	}); err != nil {
		return err
	}
	if err := exportPayments(ctx, tx, id, doc); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, exportInvoiceLinesSQL, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var invID int64
		var l billing.InvoiceLine
		if err := rows.Scan(&invID, &l.Line, &l.Description, &l.Quantity, &l.UnitCents, &l.NetCents, &l.TaxCents, &l.TotalCents); err != nil {
			return err
		}
		if i, ok := ids[invID]; ok {
			doc.Invoices[i].Lines = append(doc.Invoices[i].Lines, l)
		}
	}
	return rows.Err()
}

// exportPayments reads the online top-ups, the payments and their reviews.
func exportPayments(ctx context.Context, tx pgx.Tx, id int64, doc *billing.Export) error {
	var err error
	if doc.TopUps, err = collect(ctx, tx, exportTopUpsSQL, id, func(r pgx.CollectableRow) (billing.ExportTopUp, error) {
		var t billing.ExportTopUp
		var closed *time.Time
		err := r.Scan(&t.Reference, &t.Provider, &t.AmountCents, &t.Currency, &t.State, &t.CreatedAt, &t.ExpiresAt, &closed, &t.Note)
		t.ClosedAt = timePtr(closed)
		return t, err
	}); err != nil {
		return err
	}
	if doc.Payments, err = collect(ctx, tx, exportPaymentsSQL, id, func(r pgx.CollectableRow) (billing.ExportPayment, error) {
		var p billing.ExportPayment
		err := r.Scan(&p.Provider, &p.ProviderID, &p.Reference, &p.Account, &p.AmountCents, &p.Currency, &p.ReceivedAt, &p.Outcome)
		return p, err
	}); err != nil {
		return err
	}
	doc.PaymentReviews, err = collect(ctx, tx, exportPaymentReviewsSQL, id, func(r pgx.CollectableRow) (billing.ExportPaymentReview, error) {
		var x billing.ExportPaymentReview
		var resolved *time.Time
		err := r.Scan(&x.ProviderID, &x.Reason, &x.CreatedAt, &x.State, &resolved, &x.Note, &x.Raw)
		x.ResolvedAt = timePtr(resolved)
		return x, err
	})
	return err
}

// exportLogs reads the sessions, the auth log and the CoA log under the subscriber's
// username.
func exportLogs(ctx context.Context, tx pgx.Tx, id int64, doc *billing.Export) error {
	var err error
	if doc.Sessions, err = collect(ctx, tx, exportSessionsSQL, id, func(r pgx.CollectableRow) (billing.ExportSession, error) {
		var x billing.ExportSession
		var stopped *time.Time
		err := r.Scan(&x.NAS, &x.SessionID, &x.StartedAt, &stopped, &x.LastUpdate, &x.IP, &x.MAC, &x.CalledStationID,
			&x.Seconds, &x.Download, &x.Upload, &x.TerminateCause)
		x.StoppedAt = timePtr(stopped)
		return x, err
	}); err != nil {
		return err
	}
	if doc.AuthLog, err = collect(ctx, tx, exportAuthLogSQL, id, func(r pgx.CollectableRow) (billing.ExportAuthAttempt, error) {
		var a billing.ExportAuthAttempt
		err := r.Scan(&a.At, &a.NAS, &a.MAC, &a.Method, &a.Result)
		return a, err
	}); err != nil {
		return err
	}
	doc.Disconnects, err = collect(ctx, tx, exportCoASQL, id, func(r pgx.CollectableRow) (billing.ExportDisconnect, error) {
		var c billing.ExportDisconnect
		err := r.Scan(&c.At, &c.NAS, &c.SessionID, &c.Kind, &c.Result, &c.Reason)
		return c, err
	})
	return err
}

// exportMessages reads the events, the messages and their delivery log.
func exportMessages(ctx context.Context, tx pgx.Tx, id int64, doc *billing.Export) error {
	var err error
	if doc.Events, err = collect(ctx, tx, exportEventsSQL, id, func(r pgx.CollectableRow) (billing.ExportEvent, error) {
		var e billing.ExportEvent
		var processed *time.Time
		err := r.Scan(&e.At, &e.Kind, &e.Data, &processed)
		e.ProcessedAt = timePtr(processed)
		return e, err
	}); err != nil {
		return err
	}
	if doc.Notifications, err = collect(ctx, tx, exportNotificationsSQL, id, func(r pgx.CollectableRow) (billing.ExportNotification, error) {
		var n billing.ExportNotification
		var sent *time.Time
		err := r.Scan(&n.ID, &n.CreatedAt, &n.Kind, &n.Channel, &n.Recipient, &n.Subject, &n.Body, &n.State, &sent)
		n.SentAt = timePtr(sent)
		return n, err
	}); err != nil {
		return err
	}
	doc.NotificationLog, err = collect(ctx, tx, exportNotificationLogSQL, id, func(r pgx.CollectableRow) (billing.ExportAttempt, error) {
		var a billing.ExportAttempt
		err := r.Scan(&a.At, &a.NotificationID, &a.Attempt, &a.Channel, &a.Recipient, &a.Result, &a.Error)
		return a, err
	})
	return err
}
