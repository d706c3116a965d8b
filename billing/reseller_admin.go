package billing

import "context"

// ResellerUpdate is the input of ResellerService.UpdateReseller; nil fields stay as they
// are. A suspended reseller can no longer buy but can still be credited.
type ResellerUpdate struct {
	Email            *string
	CreditLimitCents *int64
	Status           *ResellerStatus
}

// Empty reports whether u changes nothing.
func (u *ResellerUpdate) Empty() bool {
	return u.Email == nil && u.CreditLimitCents == nil && u.Status == nil
}

// Validate checks the fields u sets. EINVALID naming the field.
func (u *ResellerUpdate) Validate() error {
	if u.Email != nil {
		if err := validateEmail(*u.Email); err != nil {
			return err
		}
	}
	if u.CreditLimitCents != nil && (*u.CreditLimitCents < 0 || *u.CreditLimitCents > MaxAmountCents) {
		return invalid("credit-limit: must be 0 to %s", FormatCents(MaxAmountCents))
	}
	if u.Status != nil && !u.Status.Valid() {
		return invalid("status: %q is not %s or %s", *u.Status, ResellerActive, ResellerSuspended)
	}
	return nil
}

// UpdateReseller changes the reseller called name and returns it as stored. A credit
// limit below what the wallet owes is refused. ENOTFOUND, EINVALID naming the field.
func (s *ResellerService) UpdateReseller(ctx context.Context, name string, upd ResellerUpdate) (*Reseller, error) {
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	if upd.Empty() {
		return s.Store.FindResellerByName(ctx, name)
	}
	return s.Store.UpdateReseller(ctx, name, upd)
}
