package radius

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VoucherState is where a hotspot voucher is in its life. Subscribers have none ("").
type VoucherState string

// Voucher states. New and sold vouchers have not been used; the first accepted login
// makes a voucher active. Expired and exhausted are derived by Decide from the validity
// and the usage, and persisted by a cron job; revoked is set by an admin.
const (
	VoucherNew       VoucherState = "new"
	VoucherSold      VoucherState = "sold"
	VoucherActive    VoucherState = "active"
	VoucherExpired   VoucherState = "expired"
	VoucherExhausted VoucherState = "exhausted"
	VoucherRevoked   VoucherState = "revoked"
)

// VoucherStates lists every voucher state, in life-cycle order.
func VoucherStates() []VoucherState {
	return []VoucherState{VoucherNew, VoucherSold, VoucherActive, VoucherExpired, VoucherExhausted, VoucherRevoked}
}

// Valid reports whether s is a known voucher state.
func (s VoucherState) Valid() bool { return slices.Contains(VoucherStates(), s) }

// Usable reports whether a voucher in state s may still log in (its limits permitting).
func (s VoucherState) Usable() bool {
	return s == VoucherNew || s == VoucherSold || s == VoucherActive
}

// IsVoucher reports whether a is a hotspot voucher rather than a subscriber.
func (a *Account) IsVoucher() bool { return a.VoucherID != 0 }

// NeedsActivation reports whether a is a voucher whose first login has not happened yet:
// an accepted login must activate it (Activator) before the reply is sent.
func (a *Account) NeedsActivation() bool {
	return a.VoucherID != 0 && a.ActivatedAt.IsZero() && (a.VoucherState == VoucherNew || a.VoucherState == VoucherSold)
}

// MACRelogin reports whether a request that carries no password may log a in from the
// device callingStationID (normalized): RouterOS's MAC-cookie re-login sends the code as
// User-Name and the device's MAC, nothing else. Only a MAC-locked voucher bound to that
// very device qualifies; a subscriber never does.
func (a *Account) MACRelogin(callingStationID string) bool {
	return a.VoucherID != 0 && a.LockMAC && a.MAC != "" && callingStationID == a.MAC
}

// AllowedAt reports whether a's plan is valid on the request's NAS and hotspot server.
func (a *Account) AllowedAt(req *AuthRequest) bool {
	if len(a.AllowedNAS) > 0 && !slices.Contains(a.AllowedNAS, req.NASName) {
		return false
	}
	return len(a.AllowedServers) == 0 || slices.Contains(a.AllowedServers, req.CalledStationID)
}

// Activation is what a voucher's first login set.
type Activation struct {
	State       VoucherState
	ActivatedAt time.Time
	ValidUntil  time.Time // zero: no end
	MAC         string    // the bound device, "" when the plan does not lock the MAC
}

// Activator activates vouchers in the source of truth (Postgres).
type Activator interface {
	// ActivateVoucher activates voucher id at now, unless it was activated before:
	// validity starts now when its plan counts from the first login, and mac (normalized,
	// or "") is bound when the plan locks the MAC. It returns the voucher's activation
	// either way, and won=true only for the one call that made it, however many race.
	// ENOTFOUND.
	ActivateVoucher(ctx context.Context, id int64, mac string, now time.Time) (a Activation, won bool, err error)
}

// Activate activates the voucher a at its first accepted login from mac (normalized, or
// ""), and returns a copy of a with the activation's values: this request's, or those of
// the request that activated it first (another router may have won the race). It then
// drops the cached account, so the next request reads the activated voucher. A failed
// cache drop is not an error: the stale entry only sends the next login here again,
// where it loses and reads the winner's values. ENOTFOUND.
func (s *Accounts) Activate(ctx context.Context, a *Account, mac string, now time.Time) (*Account, error) {
	if s.Activator == nil {
		return nil, fmt.Errorf("activate voucher %d: no activator configured", a.VoucherID)
	}
	act, _, err := s.Activator.ActivateVoucher(ctx, a.VoucherID, mac, now)
	if err != nil {
		return nil, err
	}
	b := *a
	b.VoucherState, b.ActivatedAt, b.ValidUntil, b.MAC = act.State, act.ActivatedAt, act.ValidUntil, act.MAC
	keys := []string{AccountKey(a.Username)}
	if a.CodeHash != nil {
		keys = append(keys, CodeKey(a.CodeHash))
	}
	_ = s.Cache.DeleteAccounts(ctx, keys...)
	return &b, nil
}

// Throttle limits failed voucher logins per device (client MAC) and per NAS, shared by
// every replica (Redis), so that codes cannot be guessed by trying many.
type Throttle interface {
	// Blocked reports whether voucher logins from mac (normalized; "" when the router
	// sent none) on NAS nasID are refused for now because of earlier failures.
	Blocked(ctx context.Context, mac string, nasID int64) (bool, error)
	// Fail counts one failed voucher login from mac on NAS nasID.
	Fail(ctx context.Context, mac string, nasID int64) error
}

// VoucherAccountName is the account name of a voucher that logs in by its code: the
// router sends the code as User-Name, and tollgate answers with this name (User-Name in
// the Access-Accept) and keeps sessions, usage and the auth log under it, never the code.
func VoucherAccountName(id int64) string { return "voucher-" + strconv.FormatInt(id, 10) }

// voucherCodeClass starts the Class of a voucher that logs in by its code.
const voucherCodeClass = "tg:c"

// AccountNameFromClass returns the account name a Class names when it can tell without a
// store (a voucher logged in by its code), and ok=false otherwise.
func AccountNameFromClass(class string) (string, bool) {
	rest, ok := strings.CutPrefix(class, voucherCodeClass)
	if !ok {
		return "", false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 {
		return "", false
	}
	return VoucherAccountName(id), true
}
