package radius

import (
	"net/netip"
	"strconv"
	"time"
)

// Reason says why a request was accepted or rejected. Every reject has one; it goes to
// the auth log and is the metric label, so the set is fixed.
type Reason uint8

// Reasons.
const (
	ReasonOK Reason = iota
	ReasonUnknownUser
	ReasonBadPassword
	ReasonSuspended
	ReasonDisabled
	ReasonNotYetValid
	ReasonExpired
	ReasonMACMismatch
	ReasonWrongService
	ReasonUnsupportedMethod
	ReasonTooManySessions
	ReasonUptimeExhausted
	ReasonDataExhausted
	ReasonInternal
	// Added with vouchers; new reasons go at the end so the codes above keep their values.
	ReasonRevoked
	ReasonWrongLocation
	// Added with the hardening of issue 7.
	ReasonMalformed // a User-Password that does not decode: never read as empty
	ReasonThrottled // too many failed voucher logins from the device or the NAS
	// Added with the money engine of issue 8.
	ReasonUnpaid // a subscription isolated for non-payment, and no isolation plan
	reasonCount
)

var reasonCodes = [reasonCount]string{
	"ok", "unknown_user", "bad_password", "suspended", "disabled", "not_yet_valid", "expired",
	"mac_mismatch", "wrong_service", "unsupported_method", "too_many_sessions",
	"uptime_exhausted", "data_exhausted", "internal", "revoked", "wrong_location",
	"malformed", "throttled", "unpaid",
}

// Reply-Messages are short and say nothing an attacker could use to tell users apart:
// an unknown user and a wrong password read the same.
var reasonMessages = [reasonCount]string{
	"Welcome", "Invalid username or password", "Invalid username or password",
	"Account suspended", "Account disabled", "Account not yet valid", "Account expired",
	"Device not allowed for this account", "Service not allowed for this account",
	"Authentication method not supported", "Too many sessions for this account",
	"Time limit reached", "Data limit reached", "Temporary failure, try again",
	"Voucher revoked", "Not valid at this location",
	"Invalid username or password", "Too many failed attempts, try again later",
	"Payment due",
}

// String returns the reason's stable code, e.g. "bad_password".
func (r Reason) String() string {
	if r < reasonCount {
		return reasonCodes[r]
	}
	return "unknown"
}

// Message returns the short Reply-Message sent with a reject.
func (r Reason) Message() string {
	if r < reasonCount {
		return reasonMessages[r]
	}
	return reasonMessages[ReasonInternal]
}

// ParseReason returns the reason with code s.
func ParseReason(s string) (Reason, bool) {
	for i, c := range reasonCodes {
		if c == s {
			return Reason(i), true
		}
	}
	return 0, false
}

// Reasons returns every reason, for metrics that pre-create their labels.
func Reasons() []Reason {
	r := make([]Reason, reasonCount)
	for i := range r {
		r[i] = Reason(i)
	}
	return r
}

// Decision is the outcome of Decide: accept with the reply attributes, or reject with a reason.
type Decision struct {
	Accept bool
	Reason Reason
	// SessionTimeout in seconds; 0 sends none.
	SessionTimeout uint32
	// Interim is Acct-Interim-Interval in seconds; 0 sends none.
	Interim     uint32
	RateLimit   string
	Pool        string
	FramedIP    netip.Addr
	AddressList string
	// DataLeft is the byte budget left; 0 with DataLimited false means unlimited.
	DataLeft    int64
	DataLimited bool
	// Class identifies the authorization in accounting ("tg:<account id>", or
	// "tg:v<voucher id>" for a voucher, "tg:c<voucher id>" for one that logs in by its
	// code).
	Class string
	// UserName is the account's own name, sent back as User-Name so that the router
	// accounts a MAC login or a voucher code under the account (RFC 2865 §5.1).
	UserName string
}

// Reject returns a rejecting decision with reason r.
func Reject(r Reason) Decision { return Decision{Reason: r} }

// maxSessionTimeout caps Session-Timeout at 10 years so it fits 32 bits with room to spare.
const maxSessionTimeout = 10 * 365 * 24 * time.Hour

// IsolationSessionTimeout is the Session-Timeout of an isolated subscriber's session: a
// fixed 10 minutes, so that a router that missed the Disconnect sent after a payment
// still brings the subscriber back to the paid plan soon (the session ends, the router
// redials and the new Accept carries the paid plan).
const IsolationSessionTimeout = 10 * time.Minute

// Decide authorizes an account whose credential the caller already verified. It is pure:
// everything it needs is in its arguments, and time comes from now.
//
// A subscriber with a subscription (Account.Subscribed) is served by its state, not by
// a validity window: active and grace get the plan; isolated gets the isolation plan's
// rate limit, pool and address list with IsolationSessionTimeout, or a reject with
// ReasonUnpaid when the plan names no isolation plan. The billing pass moves the state;
// the RADIUS path only reads it, so a subscription does not run out between passes.
func Decide(req *AuthRequest, a *Account, u Usage, now time.Time) Decision {
	switch a.Status {
	case StatusActive:
	case StatusSuspended:
		return Reject(ReasonSuspended)
	case StatusDisabled:
		return Reject(ReasonDisabled)
	default:
		return Reject(ReasonDisabled)
	}
	if r, ok := voucherStateReason(a, u); ok {
		return Reject(r)
	}
	subscribed := a.Subscribed()
	isolated := a.Subscription == SubscriptionIsolated
	if isolated && a.IsolationPlanID == 0 {
		return Reject(ReasonUnpaid)
	}
	if !subscribed {
		if !a.ValidFrom.IsZero() && now.Before(a.ValidFrom) {
			return Reject(ReasonNotYetValid)
		}
		if !a.ValidUntil.IsZero() && !now.Before(a.ValidUntil) {
			return Reject(ReasonExpired)
		}
	}
	if a.MAC != "" && req.CallingStationID != a.MAC {
		return Reject(ReasonMACMismatch)
	}
	if a.LockMAC && a.MAC == "" {
		// Not bound yet: the login that activates it must name a device to bind.
		if _, ok := NormalizeMAC(req.CallingStationID); !ok {
			return Reject(ReasonMACMismatch)
		}
	}
	if !a.AllowedAt(req) {
		return Reject(ReasonWrongLocation)
	}
	switch {
	case a.Kind == KindPPPoE && req.Service == ServiceLogin,
		a.Kind == KindHotspot && req.Service == ServiceFramed:
		return Reject(ReasonWrongService)
	}
	if a.SharedUsers > 0 && u.Online >= a.SharedUsers {
		return Reject(ReasonTooManySessions)
	}
	if isolated {
		return isolation(a)
	}
	left := maxSessionTimeout
	limited := false
	if !subscribed && !a.ValidUntil.IsZero() {
		left, limited = min(a.ValidUntil.Sub(now), maxSessionTimeout), true
	}
	if a.UptimeLimit > 0 {
		up := a.UptimeLimit - u.Uptime
		if up <= 0 {
			return Reject(ReasonUptimeExhausted)
		}
		if up < left {
			left = up
		}
		limited = true
	}
	d := Decision{
		Accept:      true,
		Reason:      ReasonOK,
		RateLimit:   a.RateLimit,
		Pool:        a.Pool,
		FramedIP:    a.StaticIP,
		AddressList: a.AddressList,
		Class:       "tg:" + strconv.FormatInt(a.ID, 10),
		UserName:    a.Username,
	}
	if a.VoucherID != 0 {
		d.Class = "tg:v" + strconv.FormatInt(a.VoucherID, 10)
		if a.Username == VoucherAccountName(a.VoucherID) {
			// Logged in by its code: accounting can name the account from Class alone.
			d.Class = voucherCodeClass + strconv.FormatInt(a.VoucherID, 10)
		}
	}
	if a.DataLimit > 0 {
		d.DataLeft, d.DataLimited = a.DataLimit-u.Bytes, true
		if d.DataLeft <= 0 {
			return Reject(ReasonDataExhausted)
		}
	}
	if limited {
		// Round up so a user with 0.4 s left is not told "0 = no limit".
		d.SessionTimeout = uint32((left + time.Second - 1) / time.Second)
	}
	if a.Interim > 0 {
		d.Interim = uint32(a.Interim / time.Second)
	}
	return d
}

// isolation is the Accept of an isolated subscriber: the isolation plan's attributes
// and a short Session-Timeout; no quota applies. The static address is kept unless the
// isolation plan names a pool, which then decides the address (the router's firewall
// matches the isolation pool or address list).
func isolation(a *Account) Decision {
	d := Decision{
		Accept:         true,
		Reason:         ReasonOK,
		SessionTimeout: uint32(IsolationSessionTimeout / time.Second),
		RateLimit:      a.IsolationRateLimit,
		Pool:           a.IsolationPool,
		AddressList:    a.IsolationAddressList,
		Class:          "tg:" + strconv.FormatInt(a.ID, 10),
		UserName:       a.Username,
	}
	if a.IsolationPool == "" {
		d.FramedIP = a.StaticIP
	}
	if a.Interim > 0 {
		d.Interim = uint32(a.Interim / time.Second)
	}
	return d
}

// voucherStateReason returns the reject reason of a voucher whose state alone forbids a
// login, and ok=false for a usable voucher or a subscriber. A persisted "exhausted" names
// the limit the usage shows reached (data first), or the time limit.
func voucherStateReason(a *Account, u Usage) (Reason, bool) {
	switch a.VoucherState {
	case "", VoucherNew, VoucherSold, VoucherActive:
		return ReasonOK, false
	case VoucherRevoked:
		return ReasonRevoked, true
	case VoucherExpired:
		return ReasonExpired, true
	case VoucherExhausted:
		if a.DataLimit > 0 && u.Bytes >= a.DataLimit {
			return ReasonDataExhausted, true
		}
		return ReasonUptimeExhausted, true
	}
	return ReasonDisabled, true
}
