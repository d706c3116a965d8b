package hotspot

import (
	"strings"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

func invalid(format string, args ...any) error {
	return radius.Errorf(radius.EINVALID, format, args...)
}

// GenerateRequest is the input of Service.Generate, as typed by an admin. Zero Length,
// Charset and Mode take the defaults (DefaultLength, DefaultAlphabet, ModeCode).
type GenerateRequest struct {
	Plan     string
	Count    int
	Length   int
	Prefix   string
	Charset  string
	Mode     Mode
	Reseller string
	// Progress, when set, is told how many vouchers are drawn as the batch is made, and
	// done == total once it is stored (a progress page of a large batch).
	Progress func(done, total int)
}

// withDefaults fills the zero fields that have defaults.
func (r GenerateRequest) withDefaults() GenerateRequest {
	if r.Length == 0 {
		r.Length = DefaultLength
	}
	if r.Charset == "" {
		r.Charset = DefaultAlphabet
	}
	if r.Mode == "" {
		r.Mode = ModeCode
	}
	// Codes are case-insensitive: they are made in upper case.
	r.Charset, r.Prefix = strings.ToUpper(r.Charset), strings.ToUpper(r.Prefix)
	return r
}

// ValidateGenerate checks a request (with its defaults filled) except for the plan's
// existence. Its EINVALID errors start with the CLI flag name of the faulty field.
func ValidateGenerate(r GenerateRequest) error {
	r = r.withDefaults()
	if r.Plan == "" {
		return invalid("plan: required")
	}
	if r.Count < 1 || r.Count > MaxBatch {
		return invalid("count: must be 1 to %d", MaxBatch)
	}
	if r.Length < MinLength || r.Length > MaxLength {
		return invalid("length: must be %d to %d", MinLength, MaxLength)
	}
	if err := ValidatePrefix(r.Prefix); err != nil {
		return err
	}
	if err := ValidateCharset(r.Charset); err != nil {
		return err
	}
	if !r.Mode.Valid() {
		return invalid("mode: %q is not code or userpass", r.Mode)
	}
	space := CodeSpace(len(r.Charset), r.Length)
	if space < MinCodeSpace {
		return invalid("length: %d characters of a %d-character charset make %.0f codes, fewer than 2^40 (%d): too easy to guess; use a longer code", r.Length, len(r.Charset), space, int64(MinCodeSpace))
	}
	if space < float64(r.Count)*SpacePerVoucher {
		return invalid("length: %d characters of %d are too few for %d vouchers; use a longer code", r.Length, len(r.Charset), r.Count)
	}
	if r.Reseller != "" {
		// A batch is made for a billing reseller, so the name follows billing's rule.
		if err := billing.ValidateNewReseller(billing.NewReseller{Name: r.Reseller}); err != nil {
			return invalid("reseller: %s", radius.ErrorMessage(err))
		}
	}
	return nil
}

// checkPlan checks that vouchers can be sold on p.
func checkPlan(p *billing.Plan) error {
	if p.Kind != radius.KindHotspot {
		return invalid("plan: %q is a %s plan; vouchers need a hotspot plan", p.Name, p.Kind)
	}
	return nil
}

// SaleValidUntil returns the end of validity a voucher on p gets when it is sold at
// sale: sale plus the validity for plans counted from the sale, and zero otherwise
// (no end, or one set at the first login).
func SaleValidUntil(p *billing.Plan, sale time.Time) time.Time {
	if p.ValidityFrom != billing.FromSale || p.Validity <= 0 {
		return time.Time{}
	}
	return sale.Add(p.Validity)
}

// EffectiveState returns v's state at now given its usage: a usable voucher whose
// validity ended is expired, an active one that used its uptime or data is exhausted,
// whatever the stored state says (the expiry job persists it later). It agrees with
// radius.Decide.
func EffectiveState(v *Voucher, u radius.Usage, now time.Time) radius.VoucherState {
	if !v.State.Usable() {
		return v.State
	}
	if !v.ValidUntil.IsZero() && !now.Before(v.ValidUntil) {
		return radius.VoucherExpired
	}
	if v.State == radius.VoucherActive &&
		(v.UptimeLimit > 0 && u.Uptime >= v.UptimeLimit || v.DataLimit > 0 && u.Bytes >= v.DataLimit) {
		return radius.VoucherExhausted
	}
	return v.State
}

// ParseState reads a voucher state as typed. It returns an EINVALID error starting with
// "state:".
func ParseState(s string) (radius.VoucherState, error) {
	st := radius.VoucherState(s)
	if !st.Valid() {
		return "", invalid("state: %q is not new, sold, active, expired, exhausted or revoked", s)
	}
	return st, nil
}
