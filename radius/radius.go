// Package radius is tollgate's AAA domain: NASes, accounts and their entitlements, the
// pure authorization rules (Decide), and the small interfaces the RADIUS engine and the
// stores meet at. It imports only the standard library; packets and drivers live in
// the adapter packages below it (radius/server, radius/postgres, radius/redis).
package radius

import (
	"net/netip"
	"time"
)

// NAS is a router allowed to talk to tollgate, found by the source address of its packets.
type NAS struct {
	ID   int64
	Name string
	// Prefix is the address (or range) its packets come from.
	Prefix netip.Prefix
	// Secret is the RADIUS shared secret in clear: only ever held in memory; it is
	// sealed at rest.
	Secret []byte
	// CoAPort is the UDP port of the router's `/radius incoming` (Disconnect/CoA). A
	// stored 0 means the router takes none: sessions are removed through its RouterOS
	// API instead.
	CoAPort int
	// RequireMessageAuthenticator drops an Access-Request that lacks Message-Authenticator
	// (BlastRADIUS, CVE-2024-3596). On by default, and always on for a range (see
	// RequiresMessageAuthenticator).
	RequireMessageAuthenticator bool
	// LoginHosts are the hosts of its hotspot's link-login-only (a DNS name or an IPv4
	// address, normalized by ParseLoginHost): the captive page posts guests' logins only
	// to these.
	LoginHosts []string
}

// PlanKind says which service a plan is sold for.
type PlanKind string

// Plan kinds.
const (
	KindPPPoE   PlanKind = "pppoe"
	KindHotspot PlanKind = "hotspot"
)

// Valid reports whether k is a known plan kind.
func (k PlanKind) Valid() bool { return k == KindPPPoE || k == KindHotspot }

// Status is an account's administrative state.
type Status string

// Account states.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusDisabled  Status = "disabled"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusActive || s == StatusSuspended || s == StatusDisabled
}

// SubscriptionState is where a subscriber's PPPoE subscription stands: active (paid, or
// its first period not yet charged), grace (unpaid, service goes on until the grace
// ends), isolated (unpaid after the grace: the isolation plan, or no service) or
// cancelled (no longer billed).
type SubscriptionState string

// Subscription states.
const (
	SubscriptionActive    SubscriptionState = "active"
	SubscriptionGrace     SubscriptionState = "grace"
	SubscriptionIsolated  SubscriptionState = "isolated"
	SubscriptionCancelled SubscriptionState = "cancelled"
)

// Valid reports whether s is a known state.
func (s SubscriptionState) Valid() bool {
	switch s {
	case SubscriptionActive, SubscriptionGrace, SubscriptionIsolated, SubscriptionCancelled:
		return true
	}
	return false
}

// Account is what the RADIUS path needs to authorize one user: the credential and the
// entitlement of the plan, flattened so that one cache read holds all of it.
type Account struct {
	ID       int64
	Username string
	// Password is sealed in every store and in clear only after Accounts.Find opened it.
	Password []byte
	Status   Status
	// MAC is the device the account is bound to (normalized "AA:BB:CC:DD:EE:FF"), or "".
	MAC      string
	StaticIP netip.Addr

	PlanID      int64
	PlanName    string
	Kind        PlanKind
	RateLimit   string
	ValidFrom   time.Time // zero: no lower bound
	ValidUntil  time.Time // zero: no end
	UptimeLimit time.Duration
	DataLimit   int64 // bytes; 0 = unlimited
	SharedUsers int   // 0 = unlimited
	Interim     time.Duration
	Pool        string
	AddressList string

	// VoucherID is the hotspot voucher this account is (0 for a subscriber); a voucher's
	// ID is the same number. The voucher fields below are zero for subscribers.
	VoucherID    int64
	VoucherState VoucherState
	// ActivatedAt is the voucher's first accepted login; zero until then.
	ActivatedAt time.Time
	// LockMAC binds the voucher to the device of its first login: activation stores that
	// device's MAC in MAC.
	LockMAC bool
	// AllowedNAS and AllowedServers restrict where the plan is valid: NAS names, and
	// hotspot servers (Called-Station-Id). Empty allows every one.
	AllowedNAS     []string
	AllowedServers []string
	// CodeHash is a voucher's code hash (HashVoucherCode), so that its cache entry under
	// the code can be dropped; nil for a subscriber and a userpass voucher.
	CodeHash []byte
	// MACLogin lets a subscriber on a hotspot plan log in by the MAC it is bound to
	// (the router sends the MAC as User-Name, and no password or the MAC as password).
	MACLogin bool

	// Subscription is the state of the subscriber's subscription, "" for an account
	// without one (a voucher, a subscriber on a free or hotspot plan, or a cancelled
	// subscription). With one, the state decides the service and the validity window
	// does not apply (see Decide).
	Subscription SubscriptionState
	// IsolationPlanID is the plan an isolated subscriber gets (0: none, he is rejected
	// as unpaid), with its rate limit, pool and address list.
	IsolationPlanID      int64
	IsolationRateLimit   string
	IsolationPool        string
	IsolationAddressList string

	// StoreUsage, when set, is the account's usage since its validity began as the store
	// read it with the account (Uptime and Bytes), so that a cold login costs one query;
	// nil on an account from the cache, which never keeps it.
	StoreUsage *Usage
}

// Subscribed reports whether the account's service follows a subscription's state.
func (a *Account) Subscribed() bool {
	return a.Subscription != "" && a.Subscription != SubscriptionCancelled
}

// Method is the way a request proves its credential.
type Method uint8

// Authentication methods.
const (
	MethodUnknown Method = iota
	MethodPAP
	MethodCHAP
	MethodMSCHAPv1
	MethodMSCHAPv2
	MethodMAC
)

var methodNames = [...]string{"unknown", "pap", "chap", "mschapv1", "mschapv2", "mac"}

// String returns the method's short name, used in the auth log and metrics.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "unknown"
}

// Service is what the NAS says the user asks for (Service-Type).
type Service uint8

// Services: PPP sessions are Framed-User, hotspot logins Login-User. ServiceUnknown is a
// request without Service-Type; ServiceOther one with a Service-Type that is neither
// (Call-Check, Authenticate-Only, …), which a MAC login may not use.
const (
	ServiceUnknown Service = iota
	ServiceFramed
	ServiceLogin
	ServiceOther
)

// AuthRequest is an Access-Request in domain terms, decoded from the packet by radius/server.
type AuthRequest struct {
	NASID    int64
	NASName  string
	Username string
	Method   Method
	Service  Service
	// CallingStationID is the client MAC, normalized when it parses as one.
	CallingStationID string
	CalledStationID  string
}

// Usage is what an account has used so far, for quotas and simultaneous use.
type Usage struct {
	Uptime time.Duration
	Bytes  int64
	Online int
}
