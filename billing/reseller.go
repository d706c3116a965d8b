package billing

import (
	"context"
	"net/mail"
	"time"

	"tollgate/radius"
)

// ResellerStatus says whether a reseller may buy: a suspended reseller can still be
// credited (an admin takes cash for old debt) but cannot be debited.
type ResellerStatus string

// The reseller statuses.
const (
	ResellerActive    ResellerStatus = "active"
	ResellerSuspended ResellerStatus = "suspended"
)

// Valid reports whether s is a known status.
func (s ResellerStatus) Valid() bool { return s == ResellerActive || s == ResellerSuspended }

// Reseller sells vouchers paid from a prepaid wallet. BalanceCents is the wallet's balance
// when the reseller was read; CreditLimitCents is how far below zero the wallet may go.
type Reseller struct {
	ID               int64
	Name             string
	Email            string // "" when unknown
	CreditLimitCents int64
	Status           ResellerStatus
	BalanceCents     int64
	CreatedAt        time.Time
}

// NewReseller is the input of ResellerService.CreateReseller, as typed by an admin.
type NewReseller struct {
	Name             string
	Email            string
	CreditLimitCents int64
}

// ResellerStore persists resellers (Postgres).
type ResellerStore interface {
	// CreateReseller inserts r with an empty wallet (balance 0, r's credit limit), active,
	// and sets ID, Status, BalanceCents and CreatedAt. ECONFLICT when the name is taken,
	// EINVALID.
	CreateReseller(ctx context.Context, r *Reseller) error
	// FindResellerByName returns the reseller called name with its balance. ENOTFOUND.
	FindResellerByName(ctx context.Context, name string) (*Reseller, error)
	// ListResellers returns every reseller with its balance, by name.
	ListResellers(ctx context.Context) ([]Reseller, error)
	// UpdateReseller writes the fields upd sets to the reseller called name and returns
	// it with its balance. ENOTFOUND, EINVALID for a credit limit below the wallet's
	// debt.
	UpdateReseller(ctx context.Context, name string, upd ResellerUpdate) (*Reseller, error)
}

// Limits of reseller and wallet input.
const (
	// MaxEmailLen is the longest e-mail address (RFC 5321 path limit).
	MaxEmailLen = 254
	// MaxAmountCents bounds one movement and a credit limit: 100 million in the main
	// unit, far above any real top-up, far below bigint overflow.
	MaxAmountCents = 100_000_000_00
)

// ValidateNewReseller checks an admin's input. It returns an EINVALID error whose message
// starts with the CLI flag name of the first faulty field ("credit-limit: …").
func ValidateNewReseller(in NewReseller) error {
	// Reseller names follow the rules of plan names: they are typed and listed the same way.
	if err := validatePlanName(in.Name); err != nil {
		return err
	}
	if err := validateEmail(in.Email); err != nil {
		return err
	}
	if in.CreditLimitCents < 0 || in.CreditLimitCents > MaxAmountCents {
		return invalid("credit-limit: must be 0 to %s", FormatCents(MaxAmountCents))
	}
	return nil
}

// validateEmail accepts "" or one bare address such as "shop@example.com".
func validateEmail(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxEmailLen {
		return invalid("email: must be at most %d characters", MaxEmailLen)
	}
	// ParseAddress also accepts `Name <addr>` and comments; only a bare address is kept.
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return invalid("email: %q is not an address like shop@example.com", s)
	}
	return nil
}

// ResellerService manages resellers and their wallets: it validates input with the pure
// rules of this package and persists through Store and Wallets (which may be the same
// Postgres store).
type ResellerService struct {
	Store   ResellerStore
	Wallets WalletStore
}

// CreateReseller validates in and stores an active reseller with an empty wallet.
// EINVALID, ECONFLICT when the name is taken.
func (s *ResellerService) CreateReseller(ctx context.Context, in NewReseller) (*Reseller, error) {
	if err := ValidateNewReseller(in); err != nil {
		return nil, err
	}
	r := &Reseller{Name: in.Name, Email: in.Email, CreditLimitCents: in.CreditLimitCents}
	if err := s.Store.CreateReseller(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// FindResellerByName returns the reseller called name with its balance. ENOTFOUND.
func (s *ResellerService) FindResellerByName(ctx context.Context, name string) (*Reseller, error) {
	if name == "" {
		return nil, invalid("name: required")
	}
	return s.Store.FindResellerByName(ctx, name)
}

// ListResellers returns every reseller with its balance, by name.
func (s *ResellerService) ListResellers(ctx context.Context) ([]Reseller, error) {
	return s.Store.ListResellers(ctx)
}

// reseller finds a reseller for a wallet operation.
func (s *ResellerService) reseller(ctx context.Context, name string) (*Reseller, error) {
	if name == "" {
		return nil, invalid("reseller: required")
	}
	return s.Store.FindResellerByName(ctx, name)
}

// ensureCanBuy returns an EUNAUTHORIZED error when r may not be debited.
func ensureCanBuy(r *Reseller) error {
	if r.Status != ResellerActive {
		return radius.Errorf(radius.EUNAUTHORIZED, "reseller: %q is %s", r.Name, r.Status)
	}
	return nil
}
