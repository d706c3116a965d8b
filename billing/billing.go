// Package billing is tollgate's commercial domain: the plans an operator sells and the
// subscribers who hold them, resellers, the wallets and ledger both use, PPPoE
// subscriptions renewed from the wallet, invoices and receipts, and the outbox of what
// happened to a subscriber. The rules are pure functions (periods, tax, reminders, the
// next step of a subscription); thin services (Service, ResellerService,
// SubscriberService) fetch, check and persist. It imports only the standard library and
// radius; the Postgres adapter is billing/postgres.
package billing

import (
	"context"
	"net/netip"
	"time"

	"tollgate/radius"
)

// Plan is what a subscriber buys: the service kind, the price and the entitlement the
// RADIUS path enforces. Zero limits mean "unlimited" and a zero Validity means "no end".
type Plan struct {
	ID          int64
	Name        string
	Kind        radius.PlanKind
	PriceCents  int64
	RateLimit   string        // MikroTik Rate-Limit, "" for none
	Validity    time.Duration // from activation; 0 = no end
	UptimeLimit time.Duration // 0 = unlimited
	DataLimit   int64         // bytes; 0 = unlimited
	SharedUsers int           // simultaneous sessions; 0 = unlimited
	Interim     time.Duration // Acct-Interim-Interval; 0 = the NAS default
	Pool        string        // IP pool on the router, "" for the NAS default
	AddressList string        // firewall address list on the router, "" for none
	CreatedAt   time.Time

	// What hotspot vouchers of the plan add.
	ResellerPriceCents int64        // what a reseller pays per voucher
	ValidityFrom       ValidityFrom // when a voucher's Validity starts counting
	LockMAC            bool         // a voucher works only on the device of its first login
	// NASNames and HotspotServers (Called-Station-Id values) are where the plan is
	// valid; empty means everywhere.
	NASNames       []string
	HotspotServers []string

	// What a priced PPPoE plan's subscriptions use (see Billed).
	Period Period        // one paid period; "" is DefaultPeriod
	Grace  time.Duration // how long an unpaid subscriber keeps service before isolation
	// IsolationPlanID is the plan whose rate limit, pool and address list an isolated
	// subscriber gets (0: none; he is rejected as unpaid). IsolationPlan is its name, the
	// input of Service.CreatePlan.
	IsolationPlanID int64
	IsolationPlan   string
}

// Billed reports whether subscribers of p have a subscription renewed from their
// wallet: p is a PPPoE plan with a price.
func (p *Plan) Billed() bool { return p.Kind == radius.KindPPPoE && p.PriceCents > 0 }

// PeriodOrDefault returns p's period, DefaultPeriod when it names none.
func (p *Plan) PeriodOrDefault() Period {
	if p.Period == "" {
		return DefaultPeriod
	}
	return p.Period
}

// ValidityFrom says when a voucher's validity starts: at its first login, or when it is
// sold (the batch's creation, or its sale to a reseller).
type ValidityFrom string

// Validity starts.
const (
	FromFirstLogin ValidityFrom = "first_login"
	FromSale       ValidityFrom = "sale"
)

// Valid reports whether v is a known validity start.
func (v ValidityFrom) Valid() bool { return v == FromFirstLogin || v == FromSale }

// ParseValidityFrom reads the CLI spelling ("first-login", "sale"; underscores work too).
func ParseValidityFrom(s string) (ValidityFrom, error) {
	switch s {
	case "first-login", "first_login":
		return FromFirstLogin, nil
	case "sale":
		return FromSale, nil
	}
	return "", invalid("validity-from: %q is not first-login or sale", s)
}

// Subscriber is a PPPoE or hotspot account sold on a plan. It has no password field on
// purpose: passwords are write-only, sealed on the way in and read back only by the
// RADIUS path.
type Subscriber struct {
	ID       int64
	Username string
	PlanID   int64
	PlanName string
	Status   radius.Status
	StaticIP netip.Addr // invalid (zero) when the pool assigns the address
	MAC      string     // normalized "AA:BB:CC:DD:EE:FF", or "" when not bound
	// MACLogin lets the router log the subscriber in by MAC (hotspot plans only).
	MACLogin bool
	// Name, Email (lower-cased) and Phone (E.164) are the profile; "" when unknown.
	Name       string
	Email      string
	Phone      string
	ValidFrom  time.Time // zero: no lower bound
	ValidUntil time.Time // zero: no end
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// Whether the subscription renews from the wallet by itself, and the messages the
	// subscriber agreed to (reminders and notices by e-mail and by SMS, and marketing).
	AutoRenew   bool
	NotifyEmail bool
	NotifySMS   bool
	Marketing   bool
	// Restricted: the subscriber restricted processing, so a staff read of the
	// profile takes a reason (CheckStaffRead).
	Restricted bool
}

// NewSubscriber is the input of Service.AddSubscriber, as typed by an admin.
// StaticIP and MAC are optional; MACLogin needs MAC and a hotspot plan. Name, Email and
// Phone are optional (see NormalizeEmail and NormalizePhone); AutoRenew nil means on.
type NewSubscriber struct {
	Username  string
	Password  string
	Plan      string
	StaticIP  string
	MAC       string
	MACLogin  bool
	Name      string
	Email     string
	Phone     string
	AutoRenew *bool
}

// SubscriberUpdate is the input of Service.UpdateSubscriber; nil fields stay unchanged.
// An empty MAC unbinds the device (and ends MAC login); an empty Email, Phone or StaticIP
// clears it (the pool assigns the address again). A new Plan for a subscriber with a subscription takes effect at the next renewal
// (the paid period keeps its plan) unless PlanNow, which switches at once without
// proration.
type SubscriberUpdate struct {
	Status    *radius.Status
	Plan      *string
	PlanNow   bool
	Password  *string
	MAC       *string
	MACLogin  *bool
	Name      *string
	Email     *string
	Phone     *string
	AutoRenew *bool
	StaticIP  *string
}

// SubscriberChange is what Store.UpdateSubscriber writes; nil fields stay unchanged. A
// non-nil zero ValidUntil clears the end of validity, a non-nil empty MAC unbinds it, a
// non-nil empty Email or Phone clears it, a non-nil zero StaticIP clears the address.
// Subscription is written in the same transaction.
type SubscriberChange struct {
	Status         *radius.Status
	PlanID         *int64
	ValidUntil     *time.Time
	SealedPassword []byte
	MAC            *string
	MACLogin       *bool
	Name           *string
	Email          *string
	Phone          *string
	AutoRenew      *bool
	StaticIP       *netip.Addr
	Subscription   *SubscriptionChange
}

// SubscriptionChange is what a subscriber change does to the subscription.
type SubscriptionChange struct {
	// Start creates the subscription, or restarts a cancelled one, with its fields
	// (PlanID, State, Paid, AnchorDay, PeriodStart, PeriodEnd).
	Start *Subscription
	// NextPlanID schedules a plan for the next renewal (0 clears it).
	NextPlanID *int64
	// PlanID switches the plan of the current period now (and clears the schedule).
	PlanID *int64
	// Cancel ends billing: the subscriber moved to a plan that is not billed.
	Cancel bool
}

// ImportRow is one subscriber of a bulk import, with its reserved ID and its password
// sealed to that ID.
type ImportRow struct {
	ID       int64
	Username string
	Sealed   []byte
	// Line is the row's line in the imported file, so a store can name it in a
	// conflict; 0 when unknown.
	Line int
	// PlanID, when not zero, is the row's own plan, valid until ValidUntil (zero: no
	// end), instead of the import's.
	PlanID     int64
	ValidUntil time.Time
	// The optional profile, device and address ("" or invalid: none).
	Name, Email, Phone, MAC string
	StaticIP                netip.Addr
}

// Store persists plans and subscribers (Postgres).
type Store interface {
	// CreatePlan inserts p and sets its ID and CreatedAt. ECONFLICT when the name is taken, EINVALID.
	CreatePlan(ctx context.Context, p *Plan) error
	// FindPlanByName returns the plan called name. ENOTFOUND.
	FindPlanByName(ctx context.Context, name string) (*Plan, error)
	// ListPlans returns every plan, by name.
	ListPlans(ctx context.Context) ([]Plan, error)
	// FindPlanByID returns plan id. ENOTFOUND.
	FindPlanByID(ctx context.Context, id int64) (*Plan, error)
	// UpdatePlan writes every field of p but its kind to plan p.ID. ENOTFOUND,
	// ECONFLICT when the name is taken, EINVALID.
	UpdatePlan(ctx context.Context, p *Plan) error
	// DeletePlan removes plan id. ENOTFOUND; ECONFLICT naming what uses it when
	// subscribers, subscriptions, renewals, vouchers or another plan refer to it.
	DeletePlan(ctx context.Context, id int64) error

	// NextSubscriberIDs reserves n subscriber IDs, so passwords can be sealed to their
	// rows before the rows are stored.
	NextSubscriberIDs(ctx context.Context, n int) ([]int64, error)
	// CreateSubscriber inserts s with its reserved ID, its sealed password and an empty
	// wallet, and the subscription sub unless nil, and sets PlanName, CreatedAt and
	// UpdatedAt. ECONFLICT when the username or the MAC is taken, EINVALID when the plan
	// does not exist.
	CreateSubscriber(ctx context.Context, s *Subscriber, sealedPassword []byte, sub *Subscription) error
	// FindSubscriberByUsername returns the subscriber called username. ENOTFOUND.
	FindSubscriberByUsername(ctx context.Context, username string) (*Subscriber, error)
	// FindSubscriberByID returns subscriber id. ENOTFOUND.
	FindSubscriberByID(ctx context.Context, id int64) (*Subscriber, error)
	// FindSubscribers lists the subscribers f selects, by ascending ID, at most f.Limit.
	FindSubscribers(ctx context.Context, f SubscriberFilter) ([]Subscriber, error)
	// UpdateSubscriber writes the non-nil fields of ch to subscriber id (and ch's
	// subscription change) in one transaction and returns the subscriber as stored.
	// ENOTFOUND, EINVALID, ECONFLICT for a MAC bound to another subscriber.
	UpdateSubscriber(ctx context.Context, id int64, ch SubscriberChange) (*Subscriber, error)
	// ImportSubscribers inserts rows (with their reserved IDs) on plan planID (or each
	// row's own plan), valid from now until validUntil (zero: no end), each with a wallet
	// and, when subs holds its plan's ID, a subscription like subs[plan], all or nothing,
	// and returns how many it inserted. ECONFLICT naming the first username (in rows
	// order) that already exists, EINVALID.
	ImportSubscribers(ctx context.Context, planID int64, validUntil time.Time, rows []ImportRow, subs map[int64]*Subscription) (int, error)
	// FindSubscription returns the subscription of subscriber subscriberID (cancelled
	// ones too) with its plans' names. ENOTFOUND when it never had one.
	FindSubscription(ctx context.Context, subscriberID int64) (*Subscription, error)
}

// Sealer encrypts secrets that must be read back, such as PPPoE passwords for CHAP and
// MS-CHAP, bound to their rows (radius/seal).
type Sealer interface {
	Seal(plain, ad []byte) []byte
}

// Changes is told about every committed change, so that caches (the Redis account cache,
// in-memory snapshots) drop stale entries.
type Changes interface {
	// AccountsChanged is called after accounts were created or changed.
	AccountsChanged(ctx context.Context, usernames ...string) error
	// MACsChanged is called after devices were unbound from accounts: what is cached
	// under their MAC (a MAC login) must go.
	MACsChanged(ctx context.Context, macs ...string) error
	// PlansChanged is called after a plan was created or changed.
	PlansChanged(ctx context.Context, planID int64) error
}
