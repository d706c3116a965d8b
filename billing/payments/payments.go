// Package payments takes money online for subscribers' wallets: top-ups a subscriber
// starts at a payment provider (a checkout with a reference tollgate makes up), and the
// providers' signed webhooks that report payments: Paystack's (x-paystack-signature)
// and a generic provider's in the Standard Webhooks format (webhook-id,
// webhook-timestamp, webhook-signature). A payment that matches a pending top-up, or
// names a subscriber's account, is credited through billing's money engine in the
// transaction that records it; anything else waits for an admin in the review queue.
//
// Exactly once: every payment is recorded under its provider's own id (a unique key),
// a Standard Webhooks delivery under its webhook-id, and a top-up moves from pending
// once, under its row lock, so a webhook delivered twice, ten times at once, or racing
// the billing pass that expires top-ups credits at most once. The schema enforces the
// same (migrations/0019_payments.sql).
//
// The package imports the standard library and the domain packages below it; the
// provider's API is called through Gateway (payments/paystack), the tables through
// Store (billing/postgres).
package payments

import (
	"context"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// Provider names where a payment comes from.
type Provider string

// The providers. Generic is any gateway that signs its webhooks per Standard Webhooks
// (a mobile-money aggregator, for instance).
const (
	Paystack Provider = "paystack"
	Generic  Provider = "generic"
)

// Valid reports whether p is a known provider.
func (p Provider) Valid() bool { return p == Paystack || p == Generic }

// State is where a top-up is in its life.
type State string

// The states of a top-up: pending until paid (credited), failed (the provider could not
// start it, reported it failed, or the money did not match) or expired (not paid within
// its time to live). Only pending moves, and only once.
const (
	Pending State = "pending"
	Paid    State = "paid"
	Failed  State = "failed"
	Expired State = "expired"
)

// CanMove reports whether a top-up may go from one state to another: pending to any
// other state, and nothing else (a paid top-up never changes again; an expired one is
// never paid: a late payment goes to review).
func CanMove(from, to State) bool {
	return from == Pending && (to == Paid || to == Failed || to == Expired)
}

// TopUp is one checkout of a subscriber at a provider.
type TopUp struct {
	ID           int64
	Reference    string // tg- and 24 random letters and digits (NewReference)
	SubscriberID int64
	Username     string
	Provider     Provider
	AmountCents  int64
	Currency     string
	State        State
	// AuthorizationURL is the provider's checkout page ("" for a generic provider).
	AuthorizationURL string
	CreatedAt        time.Time
	ExpiresAt        time.Time
	ClosedAt         time.Time // when it left pending
	Note             string    // why it failed
	LedgerEntryID    int64     // the credit of a paid one
}

// Reason is why a payment went to review.
type Reason string

// The reasons for review.
const (
	// ReasonUnknownReference: no top-up has the payment's reference.
	ReasonUnknownReference Reason = "unknown_reference"
	// ReasonAmountMismatch and ReasonCurrencyMismatch: the money is not what the top-up
	// asked for (or, for an account payment, not in the operator's currency).
	ReasonAmountMismatch   Reason = "amount_mismatch"
	ReasonCurrencyMismatch Reason = "currency_mismatch"
	// ReasonExpired: the top-up had expired when the payment came.
	ReasonExpired Reason = "topup_expired"
	// ReasonNotPending: the top-up was paid or failed before.
	ReasonNotPending Reason = "topup_not_pending"
	// ReasonProviderMismatch: the top-up was started at another provider.
	ReasonProviderMismatch Reason = "provider_mismatch"
	// ReasonUnknownAccount: an account payment names no subscriber.
	ReasonUnknownAccount Reason = "unknown_account"
)

// Payment is a payment a provider reported, recorded once per provider and provider id.
type Payment struct {
	ID          int64
	Provider    Provider
	ProviderID  string // Paystack's data.id, the generic provider's data.id
	Reference   string // a top-up's reference, or ""
	Account     string // a subscriber's username typed by the payer, or ""
	AmountCents int64
	Currency    string
	ReceivedAt  time.Time
	// Outcome is "credited" or "review" once decided.
	Outcome       string
	TopUpID       int64
	SubscriberID  int64
	LedgerEntryID int64
}

// Outcomes of a payment.
const (
	OutcomeCredited = "credited"
	OutcomeReview   = "review"
)

// ReviewState is where a review is.
type ReviewState string

// The states of a review: open until an admin credits the money to a subscriber or
// dismisses it with a note; then it never changes.
const (
	ReviewOpen      ReviewState = "open"
	ReviewCredited  ReviewState = "credited"
	ReviewDismissed ReviewState = "dismissed"
)

// Review is a payment tollgate did not credit by itself.
type Review struct {
	ID      int64
	Payment Payment
	Reason  Reason
	// Raw is the event as received (JSON), nil once cleared (RawRetention after the
	// review was resolved): it may hold the payer's personal data.
	Raw        []byte
	CreatedAt  time.Time
	State      ReviewState
	ResolvedAt time.Time
	ResolvedBy string
	Note       string
	// SubscriberID and Username name whom a credited review went to.
	SubscriberID  int64
	Username      string
	LedgerEntryID int64
	// TopUpReference is the reference of the payment's top-up, when it had one.
	TopUpReference string
	// PaymentUsername is the subscriber the payment points at (its top-up's, or the one
	// its account names), "" when none: what an admin most likely credits.
	PaymentUsername string
	// RestrictedID is the subscriber the review names who restricted processing (the
	// payment's, else the one credited), 0 when none: a staff read of the event
	// takes a reason (billing.CheckStaffRead).
	RestrictedID int64
}

// ReviewFilter selects reviews: by state ("" for all), newest first.
type ReviewFilter struct {
	State ReviewState
	Limit int // 0: DefaultReviewLimit
}

// Limits of lists.
const (
	DefaultReviewLimit = 100
	MaxReviewLimit     = 1000
	DefaultTopUpLimit  = 50
	MaxTopUpLimit      = 1000
)

// TopUpFilter selects top-ups, newest first.
type TopUpFilter struct {
	SubscriberID int64 // 0: everyone's
	State        State // "": any
	Limit        int   // 0: DefaultTopUpLimit
}

// Store persists top-ups, payments and reviews (billing/postgres). Its methods run on
// the transaction InTx binds them to, or on a pool.
type Store interface {
	// CreateTopUp inserts a pending top-up and sets its ID. ECONFLICT when the
	// reference is taken.
	CreateTopUp(ctx context.Context, t *TopUp) error
	// SetTopUpURL records the checkout page of a pending top-up. ECONFLICT when it is no
	// longer pending, ENOTFOUND.
	SetTopUpURL(ctx context.Context, id int64, url string) error
	// CloseTopUp moves a pending top-up to state (paid with its ledger entry, failed
	// with a note, expired) at. ECONFLICT when it is no longer pending, ENOTFOUND.
	CloseTopUp(ctx context.Context, id int64, state State, at time.Time, note string, ledgerEntryID int64) error
	// LockTopUp returns the top-up with reference ref, locked until the transaction
	// ends. ENOTFOUND.
	LockTopUp(ctx context.Context, ref string) (*TopUp, error)
	// FindTopUp returns the top-up with reference ref. ENOTFOUND.
	FindTopUp(ctx context.Context, ref string) (*TopUp, error)
	// FindTopUps lists top-ups, newest first.
	FindTopUps(ctx context.Context, f TopUpFilter) ([]TopUp, error)
	// ExpireTopUps moves every top-up still pending at now whose expiry is not after now
	// to expired, and returns how many.
	ExpireTopUps(ctx context.Context, now time.Time) (int, error)

	// RecordDelivery records a webhook delivery; false when provider's id was recorded
	// before (the call waits for a concurrent recording of the same id to end).
	RecordDelivery(ctx context.Context, provider Provider, id string, at time.Time) (bool, error)
	// PurgeDeliveries forgets deliveries received before before, and returns how many.
	PurgeDeliveries(ctx context.Context, before time.Time) (int, error)
	// RecordPayment inserts p (without outcome) and sets its ID; false when the
	// provider's id was recorded before (as RecordDelivery waits).
	RecordPayment(ctx context.Context, p *Payment) (bool, error)
	// SetPaymentOutcome writes the outcome of payment id once. ECONFLICT when it has
	// one.
	SetPaymentOutcome(ctx context.Context, p *Payment) error

	// CreateReview inserts an open review of r.Payment.ID and sets its ID.
	CreateReview(ctx context.Context, r *Review) error
	// FindReviews lists reviews, newest first.
	FindReviews(ctx context.Context, f ReviewFilter) ([]Review, error)
	// LockReview returns review id with its payment, locked until the transaction ends.
	// ENOTFOUND.
	LockReview(ctx context.Context, id int64) (*Review, error)
	// FindReview returns review id with its payment. ENOTFOUND.
	FindReview(ctx context.Context, id int64) (*Review, error)
	// ResolveReview writes the resolution of an open review. ECONFLICT when it was
	// resolved before.
	ResolveReview(ctx context.Context, r *Review) error
	// ClearReviewRaw clears the raw events of reviews resolved before before, and
	// returns how many.
	ClearReviewRaw(ctx context.Context, before, now time.Time) (int, error)
}

// InTx runs fn in one transaction with a Store and billing's MoneyStore bound to it, so
// a top-up, its payment and the wallet's credit commit together or not at all.
type InTx func(ctx context.Context, fn func(st Store, money billing.MoneyStore) error) error

// Gateway starts checkouts at a provider (payments/paystack).
type Gateway interface {
	// Initialize starts the checkout of t for the payer with email and returns the
	// provider's page to send the payer to. EINVALID when the provider refuses the
	// request (a currency it does not take, a bad key), EINTERNAL when it cannot be
	// reached.
	Initialize(ctx context.Context, t *TopUp, email string) (authorizationURL string, err error)
}

func invalid(format string, args ...any) error {
	return radius.Errorf(radius.EINVALID, format, args...)
}
