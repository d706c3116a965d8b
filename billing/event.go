package billing

import (
	"context"
	"regexp"
	"time"
)

// EventKind names something that happened to a subscriber that he may be told about.
type EventKind string

// The events of the money engine. The notification dispatcher maps each to a message.
// Data is formatted for people: amounts with the currency ("20.00 KES"), dates as days
// in the operator's time zone ("2027-02-28").
const (
	// EventReminder: the next renewal is due in Data["days"] days and will not be paid
	// by itself (Data: "days", "due_date", "amount", "balance", "plan", "auto_renew").
	EventReminder EventKind = "reminder"
	// EventRenewed: a period was paid from the wallet (Data: "plan", "period_end",
	// "amount", "invoice").
	EventRenewed EventKind = "renewed"
	// EventGrace: a renewal could not be paid; service goes on until Data["until"].
	EventGrace EventKind = "grace"
	// EventIsolated: the grace ended unpaid; the subscriber is isolated (Data: "amount").
	EventIsolated EventKind = "isolated"
	// EventRestored: a payment covered what was due; the paid plan is back.
	EventRestored EventKind = "restored"
	// EventPaymentReceived: money reached the wallet (Data: "amount", "balance",
	// "receipt", "provider").
	EventPaymentReceived EventKind = "payment_received"
)

// The events of the subscriber portal and its privacy center (issue 9). The links in
// their data hold a one-time token: the dispatcher sends them and keeps no copy.
const (
	// EventPortalInvite: an admin invited the subscriber to the portal (Data: "link",
	// the one-time address that sets the password, and "expires").
	EventPortalInvite EventKind = "portal_invite"
	// EventPasswordReset: the subscriber asked for a new portal password (Data: "link",
	// "expires").
	EventPasswordReset EventKind = "password_reset"
	// EventPolicyPublished: a material change of the privacy policy was published
	// (Data: "version", "effective", the date it takes effect, and "link", the public
	// page that shows it). Only subscribers who consented to email get one.
	EventPolicyPublished EventKind = "policy_published"
)

var eventKindRE = regexp.MustCompile(`^[a-z][a-z_.]{0,63}$`)

// Valid reports whether k is spelled as the outbox requires.
func (k EventKind) Valid() bool { return eventKindRE.MatchString(string(k)) }

// Event is one row of the outbox: what happened to whom, once per Key. Billing records
// it in the same transaction as the change it announces.
type Event struct {
	ID           int64
	At           time.Time
	Kind         EventKind
	SubscriberID int64
	// Key makes the event happen once: a second RecordEvent with the same key records
	// nothing (e.g. "renewed:<subscription id>:<period start unix>").
	Key  string
	Data map[string]string
	// ProcessedAt is when the dispatcher queued its messages; zero while pending.
	ProcessedAt time.Time
}

// EventStore is the outbox (Postgres). Its methods run on the caller's transaction when
// the store was built on one.
type EventStore interface {
	// RecordEvent writes e unless an event with e.Key exists; it reports whether it
	// wrote, and sets e.ID and e.At when it did. EINVALID for a bad kind or key.
	RecordEvent(ctx context.Context, e *Event) (bool, error)
	// ClaimEvents returns up to limit pending events, oldest first, locked until the
	// caller's transaction ends (others skip them), for the dispatcher.
	ClaimEvents(ctx context.Context, limit int) ([]Event, error)
	// MarkEventsProcessed sets processed_at of ids to at.
	MarkEventsProcessed(ctx context.Context, ids []int64, at time.Time) error
	// FindEvents lists a subscriber's events, newest first (at most limit).
	FindEvents(ctx context.Context, subscriberID int64, limit int) ([]Event, error)
}
