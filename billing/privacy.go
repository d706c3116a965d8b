package billing

import (
	"context"
	"strings"
	"time"

	"tollgate/radius"
)

// The privacy center's domain: a subscriber's consents and their history, restriction
// of processing, the one rule that says which messages may go out (MayNotify), and the
// rule that staff reads of a restricted subscriber name a reason.

// Consents are what a subscriber agreed to be sent: service reminders and account
// notices by email and by SMS (columns notify_email, notify_sms), and marketing (off
// until the subscriber turns it on).
type Consents struct {
	RemindersEmail bool `json:"reminders_email"`
	RemindersSMS   bool `json:"reminders_sms"`
	Marketing      bool `json:"marketing"`
}

// NotifyState is what MayNotify reads about a subscriber, at send time.
type NotifyState struct {
	Consents
	// Restricted: the subscriber restricted processing (SetRestricted).
	Restricted bool
}

// messageClass is how MayNotify treats a kind of event.
type messageClass int

const (
	// classRequested: a message the subscriber or an admin asked for right now (a
	// password link): it goes whatever the consents say.
	classRequested messageClass = iota
	// classNotice: an account notice (renewed, grace, isolated, restored, payment,
	// policy change): it goes on the channels the subscriber consented to, restricted
	// or not, since it tells what happened to the service or the subscriber's rights.
	classNotice
	// classOptional: an optional reminder: consented channels only, and not while
	// restricted.
	classOptional
	// classMarketing: the marketing consent too, and not while restricted.
	classMarketing
)

// classOf sorts kinds; an unknown kind is treated as optional, the cautious guess.
func classOf(kind EventKind) messageClass {
	switch {
	case kind == EventPortalInvite || kind == EventPasswordReset ||
		kind == EventEmailConfirm || kind == EventReviewDecided || kind == EventErasureDone:
		// Asked for: a link, the answer to a request, the notice that an erasure is done.
		return classRequested
	case kind == EventRenewed || kind == EventGrace || kind == EventIsolated || kind == EventRestored ||
		kind == EventPaymentReceived || kind == EventPolicyPublished:
		return classNotice
	case kind.Marketing():
		return classMarketing
	}
	return classOptional
}

// MayNotify is the one rule of what may be sent: whether a message about an event of
// kind may go to a subscriber in state st over ch. The notification dispatcher asks it
// (through NotifyChannels) for every message when it queues it, and SendDue again when
// it sends it, reading the consents and the restriction each time, so a change applies
// at once, to what is queued too. Password links always go; account notices follow the channel's
// consent; optional reminders also stop while restricted; marketing also needs the
// marketing consent.
func MayNotify(kind EventKind, ch Channel, st NotifyState) bool {
	channelOK := ch == ChannelEmail && st.RemindersEmail || ch == ChannelSMS && st.RemindersSMS
	switch classOf(kind) {
	case classRequested:
		return ch == ChannelEmail || ch == ChannelSMS
	case classNotice:
		return channelOK
	case classOptional:
		return channelOK && !st.Restricted
	}
	return channelOK && st.Marketing && !st.Restricted
}

// Source is where a privacy change was made.
type Source string

// The sources.
const (
	SourceWeb   Source = "web"   // the subscriber's pages
	SourceAPI   Source = "api"   // the subscriber's JSON API
	SourceAdmin Source = "admin" // staff, in the portal, on the subscriber's word
	SourceCLI   Source = "cli"   // staff, on the command line
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	return s == SourceWeb || s == SourceAPI || s == SourceAdmin || s == SourceCLI
}

// ConsentChange is one row of a subscriber's consent history: the values after the
// change.
type ConsentChange struct {
	At     time.Time `json:"at"`
	Source Source    `json:"source"`
	Consents
}

// RestrictionChange is one restriction or lift.
type RestrictionChange struct {
	At         time.Time `json:"at"`
	Source     Source    `json:"source"`
	Restricted bool      `json:"restricted"`
}

// Profile is what the subscriber's pages show of the account, with its privacy state.
type Profile struct {
	SubscriberID int64
	Username     string
	Name         string
	Email        string // "" when none
	Phone        string // E.164, "" when none
	PlanName     string
	Status       radius.Status
	ValidFrom    time.Time // zero: no lower bound
	ValidUntil   time.Time // zero: no end
	Consents     Consents
	Restricted   bool
}

// NotifyState returns what MayNotify needs of p.
func (p *Profile) NotifyState() NotifyState {
	return NotifyState{Consents: p.Consents, Restricted: p.Restricted}
}

// MaskEmail shows enough of an address to recognise it: "j***@example.com".
func MaskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return ""
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// MaskPhone shows the country code's plus and the last three digits: "+•••••••123".
func MaskPhone(p string) string {
	if len(p) < 5 {
		return ""
	}
	return "+" + strings.Repeat("•", len(p)-4) + p[len(p)-3:]
}

// PrivacyStore keeps the privacy state of subscribers (Postgres).
type PrivacyStore interface {
	// FindProfile returns subscriber id's profile. ENOTFOUND.
	FindProfile(ctx context.Context, id int64) (*Profile, error)
	// FindProfileByUsername returns the profile of the subscriber called username.
	// ENOTFOUND.
	FindProfileByUsername(ctx context.Context, username string) (*Profile, error)
	// SetConsents writes c to subscriber id and, when it changed anything, a history
	// row at at from source; it reports whether it did. ENOTFOUND.
	SetConsents(ctx context.Context, id int64, c Consents, source Source, at time.Time) (bool, error)
	// FindConsentHistory lists subscriber id's consent changes, oldest first.
	FindConsentHistory(ctx context.Context, id int64) ([]ConsentChange, error)
	// SetRestricted sets or lifts subscriber id's restriction and, when it changed, a
	// history row at at from source; it reports whether it did. ENOTFOUND.
	SetRestricted(ctx context.Context, id int64, restricted bool, source Source, at time.Time) (bool, error)
	// FindRestrictionHistory lists subscriber id's restrictions and lifts, oldest first.
	FindRestrictionHistory(ctx context.Context, id int64) ([]RestrictionChange, error)
}

// Privacy runs the privacy center's changes: it checks them and records them, with
// their history, at Now.
type Privacy struct {
	Store PrivacyStore
	Now   func() time.Time
}

func (p *Privacy) now() time.Time {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

// SetConsents makes c subscriber id's consents, recording the change from source.
// It reports whether anything changed. EINVALID for an unknown source, ENOTFOUND.
func (p *Privacy) SetConsents(ctx context.Context, id int64, c Consents, source Source) (bool, error) {
	if !source.Valid() {
		return false, invalid("source: %q is not web, api, admin or cli", source)
	}
	return p.Store.SetConsents(ctx, id, c, source, p.now())
}

// SetRestricted restricts processing of subscriber id's data (or lifts the
// restriction), recording it from source. EINVALID for an unknown source, ENOTFOUND.
func (p *Privacy) SetRestricted(ctx context.Context, id int64, restricted bool, source Source) (bool, error) {
	if !source.Valid() {
		return false, invalid("source: %q is not web, api, admin or cli", source)
	}
	return p.Store.SetRestricted(ctx, id, restricted, source, p.now())
}

// MaxReasonLen bounds the reason a staff read gives.
const MaxReasonLen = 500

// CheckStaffRead is the rule of staff reads: reading a restricted subscriber's data
// needs a reason, which the caller audits with the read. It returns the reason trimmed.
// EINVALID naming reason when it is missing (or too long).
func CheckStaffRead(p *Profile, reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case len(reason) > MaxReasonLen:
		return "", invalid("reason: at most %d bytes", MaxReasonLen)
	case p.Restricted && reason == "":
		return "", invalid("reason: subscriber %q restricted the processing of their data: give the reason for this read (--reason)", p.Username)
	}
	return reason, nil
}

// FormatEventTime is how times are written into event data for messages: the
// operator's local time, with its zone.
func FormatEventTime(t time.Time) string {
	return t.Local().Format("Mon 2 Jan 2006 15:04 MST")
}
