package billing

import (
	"context"
	"encoding/json"
	"time"
)

// Access and portability: one JSON document with everything tollgate holds about a
// subscriber, read in one snapshot. Each section names the table it comes from in
// Sources, and a test compares Sources with every table of the schema that has a
// subscriber or username column, so a table added without its section fails it.
// Amounts are integer minor units with the currency; times are UTC.

// ExportFormat names the document's layout; a change that removes or renames a field
// takes a new one.
const ExportFormat = "tollgate-export/1"

// Export is the document.
type Export struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	Currency    string    `json:"currency,omitempty"`
	// Sources are the tables the document was read from.
	Sources []string `json:"sources"`

	Profile            ExportProfile         `json:"profile"`
	Consents           Consents              `json:"consents"`
	Restricted         bool                  `json:"restricted"`
	ConsentHistory     []ConsentChange       `json:"consent_history"`
	RestrictionHistory []RestrictionChange   `json:"restriction_history"`
	PortalAccount      *ExportPortalAccount  `json:"portal_account"`
	PasswordLinks      []ExportLink          `json:"password_links"`
	EmailChanges       []ExportEmailChange   `json:"email_changes"`
	PolicyAcceptances  []ExportAcceptance    `json:"policy_acceptances"`
	Subscription       *ExportSubscription   `json:"subscription"`
	Renewals           []ExportRenewal       `json:"renewals"`
	Wallet             ExportWallet          `json:"wallet"`
	Invoices           []ExportInvoice       `json:"invoices"`
	TopUps             []ExportTopUp         `json:"top_ups"`
	Payments           []ExportPayment       `json:"payments"`
	PaymentReviews     []ExportPaymentReview `json:"payment_reviews"`
	Sessions           []ExportSession       `json:"sessions"`
	AuthLog            []ExportAuthAttempt   `json:"auth_log"`
	Disconnects        []ExportDisconnect    `json:"disconnects"`
	Events             []ExportEvent         `json:"events"`
	Notifications      []ExportNotification  `json:"notifications"`
	NotificationLog    []ExportAttempt       `json:"notification_log"`
	Requests           []DataRequest         `json:"requests"`
	Audit              []ExportAudit         `json:"audit"`
	// Extensions are the sections of stores that read the subscriber's data outside
	// this package's tables, by name (ExportSection): the extension point for a table
	// added beside billing's until its section joins the store.
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
}

// ExportProfile is the subscribers row, without the sealed PPPoE password.
type ExportProfile struct {
	ID         int64      `json:"id"`
	Username   string     `json:"username"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	Phone      string     `json:"phone"`
	Plan       string     `json:"plan"`
	Status     string     `json:"status"`
	StaticIP   string     `json:"static_ip"`
	MAC        string     `json:"mac"`
	MACLogin   bool       `json:"mac_login"`
	AutoRenew  bool       `json:"auto_renew"`
	ValidFrom  *time.Time `json:"valid_from"`
	ValidUntil *time.Time `json:"valid_until"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// ExportPortalAccount is the portal sign-in (portal_users), without the password hash
// or the second factor's secret.
type ExportPortalAccount struct {
	CreatedAt    time.Time  `json:"created_at"`
	TOTP         bool       `json:"totp"`
	FailedLogins int        `json:"failed_logins"`
	LockedUntil  *time.Time `json:"locked_until"`
	DisabledAt   *time.Time `json:"disabled_at"`
}

// ExportLink is a one-time password link (subscriber_links), without its token.
type ExportLink struct {
	Purpose   string     `json:"purpose"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at"`
}

// ExportEmailChange is an address change asked for (email_confirmations).
type ExportEmailChange struct {
	Email     string     `json:"email"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"confirmed_at"`
}

// ExportAcceptance is a policy acceptance (policy_acceptances).
type ExportAcceptance struct {
	Version int       `json:"version"`
	At      time.Time `json:"at"`
	IP      string    `json:"ip"`
}

// ExportSubscription is the subscription (subscriptions).
type ExportSubscription struct {
	Plan        string     `json:"plan"`
	NextPlan    string     `json:"next_plan,omitempty"`
	State       string     `json:"state"`
	Paid        bool       `json:"paid"`
	PeriodStart time.Time  `json:"period_start"`
	PeriodEnd   time.Time  `json:"period_end"`
	GraceUntil  *time.Time `json:"grace_until"`
	CreatedAt   time.Time  `json:"created_at"`
}

// ExportRenewal is one paid period (renewals).
type ExportRenewal struct {
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	AmountCents int64     `json:"amount_cents"`
	Invoice     string    `json:"invoice"`
	At          time.Time `json:"at"`
}

// ExportWallet is the wallet (wallets) and every ledger entry (ledger_entries), oldest
// first.
type ExportWallet struct {
	BalanceCents int64         `json:"balance_cents"`
	Entries      []ExportEntry `json:"entries"`
}

// ExportEntry is one ledger entry.
type ExportEntry struct {
	At                time.Time `json:"at"`
	Kind              string    `json:"kind"`
	AmountCents       int64     `json:"amount_cents"`
	BalanceAfterCents int64     `json:"balance_after_cents"`
	Note              string    `json:"note"`
	Ref               string    `json:"ref"`
	Actor             string    `json:"actor"`
}

// ExportInvoice is an invoice or receipt with its lines (invoices, invoice_lines).
type ExportInvoice struct {
	Number     string        `json:"number"`
	Kind       string        `json:"kind"`
	IssuedAt   time.Time     `json:"issued_at"`
	Username   string        `json:"username"`
	Customer   string        `json:"customer"`
	Plan       string        `json:"plan"`
	Currency   string        `json:"currency"`
	NetCents   int64         `json:"net_cents"`
	TaxCents   int64         `json:"tax_cents"`
	TotalCents int64         `json:"total_cents"`
	Lines      []InvoiceLine `json:"lines"`
	Period     *ExportPeriod `json:"period,omitempty"`
}

// ExportPeriod is the period an invoice sells.
type ExportPeriod struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// ExportTopUp is an online top-up the subscriber started (topups).
type ExportTopUp struct {
	Reference   string     `json:"reference"`
	Provider    string     `json:"provider"`
	AmountCents int64      `json:"amount_cents"`
	Currency    string     `json:"currency"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	Note        string     `json:"note"`
}

// ExportPayment is a payment a provider reported for the subscriber (payments).
type ExportPayment struct {
	Provider    string    `json:"provider"`
	ProviderID  string    `json:"provider_id"`
	Reference   string    `json:"reference"`
	Account     string    `json:"account"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	ReceivedAt  time.Time `json:"received_at"`
	Outcome     string    `json:"outcome"`
}

// ExportPaymentReview is a payment of the subscriber's that staff reviewed
// (payment_reviews), with the provider's event as received until it is cleared.
type ExportPaymentReview struct {
	ProviderID string     `json:"provider_id"`
	Reason     string     `json:"reason"`
	CreatedAt  time.Time  `json:"created_at"`
	State      string     `json:"state"`
	ResolvedAt *time.Time `json:"resolved_at"`
	Note       string     `json:"note"`
	Raw        *string    `json:"raw"`
}

// ExportSession is one accounting session (sessions).
type ExportSession struct {
	NAS             string     `json:"nas"`
	SessionID       string     `json:"acct_session_id"`
	StartedAt       time.Time  `json:"started_at"`
	StoppedAt       *time.Time `json:"stopped_at"`
	LastUpdate      time.Time  `json:"last_update"`
	IP              string     `json:"ip"`
	MAC             string     `json:"mac"`
	CalledStationID string     `json:"called_station_id"`
	Seconds         int64      `json:"seconds"`
	Download        int64      `json:"download_bytes"`
	Upload          int64      `json:"upload_bytes"`
	TerminateCause  string     `json:"terminate_cause"`
}

// ExportAuthAttempt is one auth log entry (auth_log).
type ExportAuthAttempt struct {
	At     time.Time `json:"at"`
	NAS    string    `json:"nas"`
	MAC    string    `json:"mac"`
	Method string    `json:"method"`
	Result string    `json:"result"`
}

// ExportDisconnect is one Disconnect or CoA sent for the subscriber (coa_log).
type ExportDisconnect struct {
	At        time.Time `json:"at"`
	NAS       string    `json:"nas"`
	SessionID string    `json:"acct_session_id"`
	Kind      string    `json:"kind"`
	Result    string    `json:"result"`
	Reason    string    `json:"reason"`
}

// ExportEvent is one outbox event (billing_events).
type ExportEvent struct {
	At          time.Time         `json:"at"`
	Kind        string            `json:"kind"`
	Data        map[string]string `json:"data"`
	ProcessedAt *time.Time        `json:"processed_at"`
}

// ExportNotification is one message queued or sent (notifications).
type ExportNotification struct {
	ID        int64      `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	Kind      string     `json:"kind"`
	Channel   string     `json:"channel"`
	Recipient string     `json:"recipient"`
	Subject   string     `json:"subject"`
	Body      string     `json:"body"`
	State     string     `json:"state"`
	SentAt    *time.Time `json:"sent_at"`
}

// ExportAttempt is one delivery attempt (notification_log).
type ExportAttempt struct {
	At             time.Time `json:"at"`
	NotificationID int64     `json:"notification_id"`
	Attempt        int       `json:"attempt"`
	Channel        string    `json:"channel"`
	Recipient      string    `json:"recipient"`
	Result         string    `json:"result"`
	Error          string    `json:"error"`
}

// ExportAudit is one audit log entry about the subscriber or by the subscriber: staff
// who viewed or changed the data, and the subscriber's own actions (audit_log).
type ExportAudit struct {
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Detail json.RawMessage `json:"detail"`
	IP     string          `json:"ip"`
}

// ExportStore reads the document (Postgres), in one snapshot.
type ExportStore interface {
	// ExportSubscriber returns everything held about subscriber id, Format, Sources
	// and every section set. ENOTFOUND.
	ExportSubscriber(ctx context.Context, id int64) (*Export, error)
}

// ExportSection adds one named section to the document, read from a store outside
// billing's (Export.Extensions).
type ExportSection interface {
	// ExportName is the section's key.
	ExportName() string
	// ExportSubscriber returns the section of subscriber id (username).
	ExportSubscriber(ctx context.Context, id int64, username string) (any, error)
}

// Exporter makes the document.
type Exporter struct {
	Store    ExportStore
	Sections []ExportSection
	Currency string
	Now      func() time.Time
}

// Export returns the document of subscriber id. ENOTFOUND.
func (x *Exporter) Export(ctx context.Context, id int64) (*Export, error) {
	doc, err := x.Store.ExportSubscriber(ctx, id)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if x.Now != nil {
		now = x.Now
	}
	doc.Format, doc.GeneratedAt, doc.Currency = ExportFormat, now().UTC().Round(0), x.Currency
	for _, s := range x.Sections {
		v, err := s.ExportSubscriber(ctx, id, doc.Profile.Username)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if doc.Extensions == nil {
			doc.Extensions = map[string]json.RawMessage{}
		}
		doc.Extensions[s.ExportName()] = b
	}
	return doc, nil
}
