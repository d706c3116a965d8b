package billing

import (
	"context"
	"strings"
	"time"

	"tollgate/radius"
)

// Channel is a way to reach a person: email or SMS (an SMS/WhatsApp HTTP gateway).
type Channel string

// The channels.
const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
)

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool { return c == ChannelEmail || c == ChannelSMS }

// KindAdminAlert is the kind of a message to the portal's admins (a router down, say):
// it has no event and no subscriber, and goes by email.
const KindAdminAlert EventKind = "admin_alert"

// Marketing reports whether k is a marketing message, sent only to subscribers who
// agreed to marketing: its name starts with "marketing." (none is sent yet; the rule
// stands for the first).
func (k EventKind) Marketing() bool { return strings.HasPrefix(string(k), "marketing.") }

// Contact is what the dispatcher reads of a subscriber: where he can be reached and
// what he agreed to receive.
type Contact struct {
	SubscriberID int64
	Username     string
	Name         string
	Email        string // "" when none is known
	Phone        string // E.164, "" when none is known
	// NotifyEmail and NotifySMS are the consents to service messages (reminders and
	// account notices) by email and by SMS; Marketing the consent to marketing.
	NotifyEmail bool
	NotifySMS   bool
	Marketing   bool
	// Restricted: the subscriber restricted processing (MayNotify).
	Restricted bool
}

// Channels says which channels this process can send on: a channel without a sender
// (TOLLGATE_SMTP_URL or TOLLGATE_SMS_URL unset) is off.
type Channels struct {
	Email bool
	SMS   bool
}

// List returns the channels that are on.
func (on Channels) List() []Channel {
	var out []Channel
	if on.Email {
		out = append(out, ChannelEmail)
	}
	if on.SMS {
		out = append(out, ChannelSMS)
	}
	return out
}

// NotifyChannels returns the channels a message of kind goes to for c: each channel
// that is on, on which c can be reached (an address, a number), and that MayNotify
// allows: for a service message the channels c agreed to; for a marketing kind nothing
// unless c agreed to marketing; while c restricted processing no optional reminder and
// no marketing; a password link c (or an admin) asked for, whatever the consents.
func NotifyChannels(kind EventKind, c Contact, on Channels) []Channel {
	st := NotifyState{Consents: Consents{RemindersEmail: c.NotifyEmail, RemindersSMS: c.NotifySMS, Marketing: c.Marketing}, Restricted: c.Restricted}
	var out []Channel
	if on.Email && c.Email != "" && MayNotify(kind, ChannelEmail, st) {
		out = append(out, ChannelEmail)
	}
	if on.SMS && c.Phone != "" && MayNotify(kind, ChannelSMS, st) {
		out = append(out, ChannelSMS)
	}
	return out
}

// NotificationState is where a queued message stands.
type NotificationState string

// The states of a message: queued until it is sent, or until its last retry failed.
const (
	StateQueued NotificationState = "queued"
	StateSent   NotificationState = "sent"
	StateFailed NotificationState = "failed"
)

// Valid reports whether s is a known state.
func (s NotificationState) Valid() bool {
	return s == StateQueued || s == StateSent || s == StateFailed
}

// Notification is one message in the delivery queue: its text as rendered when it was
// queued, for one recipient on one channel.
type Notification struct {
	ID        int64
	CreatedAt time.Time
	// EventID and SubscriberID are 0 for an admin alert.
	EventID      int64
	SubscriberID int64
	// Username is the subscriber's (read from subscribers; "" for an admin alert).
	Username  string
	Kind      EventKind
	Channel   Channel
	Recipient string // the address or E.164 number as it was at queue time
	Subject   string // email only
	Body      string
	State     NotificationState
	// Attempts counts the delivery attempts made; NextAttemptAt is when a queued
	// message is due.
	Attempts      int
	NextAttemptAt time.Time
	SentAt        time.Time // zero until sent
	LastError     string
}

// Attempt is one row of the notification log: a delivery attempt and how it went.
type Attempt struct {
	At             time.Time
	NotificationID int64
	Attempt        int // 1 for the first try
	Channel        Channel
	Recipient      string
	OK             bool
	Error          string // "" when OK
	ProviderID     string // the provider's message id, "" when it gave none
	// Kind and Username are read from the message for listing ("" once it is gone).
	Kind     EventKind
	Username string
}

// RetryDelays are the waits after each failed attempt: a message is tried MaxAttempts
// times over about two and a half hours, then it has failed.
var RetryDelays = [...]time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// MaxAttempts is how many times a message is tried.
const MaxAttempts = len(RetryDelays) + 1

// NextAttempt returns when a message whose attempt number attempt (1 for the first)
// failed at now is tried again, or ok false when that was its last.
func NextAttempt(attempt int, now time.Time) (next time.Time, ok bool) {
	if attempt < 1 || attempt > len(RetryDelays) {
		return time.Time{}, false
	}
	return now.Add(RetryDelays[attempt-1]), true
}

// NotificationFilter selects messages and attempts for the admin's list. Zero fields
// select everything; Limit caps each list (1 to 10000).
type NotificationFilter struct {
	SubscriberID int64
	State        NotificationState
	Limit        int
}

// NotificationStore is the delivery queue and its log (Postgres). Its methods run on the
// caller's transaction when the store was built on one.
type NotificationStore interface {
	// FindContacts returns the contacts of the subscribers ids, by id (an unknown id is
	// left out).
	FindContacts(ctx context.Context, ids []int64) (map[int64]Contact, error)
	// QueueNotifications inserts list (state queued) and returns how many it inserted:
	// a message of an event already queued on that channel is skipped. EINVALID.
	QueueNotifications(ctx context.Context, list []Notification) (int, error)
	// ClaimNotification returns the queued message on one of channels due soonest (its
	// NextAttemptAt not after now), locked until the caller's transaction ends (others
	// skip it). ENOTFOUND when none is due.
	ClaimNotification(ctx context.Context, now time.Time, channels []Channel) (*Notification, error)
	// RecordAttempt writes a to the log and moves its message to state: sent (at a.At),
	// queued again until next, or failed; it counts the attempt and keeps a.Error as the
	// message's last error.
	RecordAttempt(ctx context.Context, a Attempt, state NotificationState, next time.Time) error
	// FindNotifications lists queued, sent and failed messages, newest first.
	FindNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
	// FindNotificationLog lists attempts, newest first; f.State selects by the state
	// their message is in now.
	FindNotificationLog(ctx context.Context, f NotificationFilter) ([]Attempt, error)
	// EnsureNotificationPartitions creates the log's monthly partitions from this month
	// to two months ahead (idempotent, for the partitions job).
	EnsureNotificationPartitions(ctx context.Context) error
}

// Sender delivers messages on one channel (billing/smtp, billing/sms).
type Sender interface {
	// Send delivers n's Subject and Body to n.Recipient and returns the provider's id
	// for the message ("" when it gives none). Any error is a failed attempt; its text
	// goes to the notification log, so it must not hold a secret.
	Send(ctx context.Context, n *Notification) (providerID string, err error)
}

// AdminAlerter tells the portal's admins about something that needs a person (the
// RouterOS health job: a router down, or up again).
type AdminAlerter interface {
	// SendAdminAlert queues subject and body as an email to every enabled portal admin;
	// it queues nothing when the email channel is off or there is no admin. EINVALID
	// for an empty subject or body.
	SendAdminAlert(ctx context.Context, subject, body string) error
}

func notFound(format string, args ...any) error {
	return radius.Errorf(radius.ENOTFOUND, format, args...)
}
