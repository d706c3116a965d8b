package radius

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The RouterOS API (TCP 8728, or api-ssl on 8729) is tollgate's second way into a NAS,
// beside RADIUS: it reads the router's health, lists the sessions the router really has,
// and removes one when Disconnect/CoA cannot. The types here are the domain's; the
// adapter that speaks the API is hotspot/routeros, and the service that uses it is
// Routers (routers.go).

// RouterOS API ports [MT-API].
const (
	APIPort    = 8728
	APITLSPort = 8729
)

// CauseLostCarrier closes a session that the router's active lists no longer hold
// (reconciliation): the router dropped it without a Stop reaching tollgate. Unlike
// CauseStale it is final for interim updates, but a Stop still completes it: the router
// may have sent one that was not yet written when reconciliation ran.
const CauseLostCarrier = "Lost-Carrier"

// Results of a disconnect made through the RouterOS API (CoAResult.Result, Kind
// "disconnect"): the router's active entry was removed, the router had no such session
// any more, or the API failed.
const (
	APIRemoved  = "api-removed"
	APINotFound = "api-not-found"
	APIError    = "api-error"
)

// RouterAPI is how tollgate logs in to a NAS's RouterOS API.
type RouterAPI struct {
	// Address is host:port (ParseAPIAddress); "" when the NAS has no API configured.
	Address string
	User    string
	// Password is sealed at rest (SealNASAPIPassword, bound to the NAS's row) and in
	// clear only once Routers opened it.
	Password []byte
	// TLS logs in over api-ssl: since RouterOS 6.43 the login sends the password in
	// clear, so plain 8728 is for trusted management networks only.
	TLS bool
	// Fingerprint pins the router's TLS certificate: the SHA-256 of its DER form.
	// RouterOS certificates are mostly self-signed; nil verifies the certificate
	// against the system's roots and the host name instead.
	Fingerprint []byte
}

// Configured reports whether the NAS has an API.
func (a *RouterAPI) Configured() bool { return a.Address != "" }

// Limits on API settings.
const (
	MaxAPIUser     = 64
	MaxAPIPassword = 256
)

// ParseAPIAddress normalizes an API address as an operator types it: a host (IP address
// or DNS name) with an optional port, which defaults to 8728, or 8729 with TLS. EINVALID
// naming "api_address".
func ParseAPIAddress(s string, tls bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(EINVALID, "api_address: required")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil { // no port: a host alone, or an IPv6 address with or without brackets
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
	}
	p := APIPort
	if tls {
		p = APITLSPort
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", Errorf(EINVALID, "api_address: %q: the port must be 1-65535", s)
		}
		p = n
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		host = a.Unmap().String()
	} else {
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		labels := strings.Split(host, ".")
		ok := host != "" && len(host) <= 253
		for _, l := range labels {
			ok = ok && dnsLabel(l)
		}
		if !ok {
			return "", Errorf(EINVALID, "api_address: %q is neither an IP address nor a DNS name (give HOST or HOST:PORT)", s)
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// CheckAPIUser checks an API user name: 1-64 characters, no spaces or control
// characters. EINVALID naming "api_user".
func CheckAPIUser(u string) error {
	if u == "" || len(u) > MaxAPIUser {
		return Errorf(EINVALID, "api_user: 1-%d characters", MaxAPIUser)
	}
	for _, c := range u {
		if c <= ' ' || c == 0x7f {
			return Errorf(EINVALID, "api_user: %q holds spaces or control characters", u)
		}
	}
	return nil
}

// CheckAPIPassword checks an API password in clear: not empty (an API user without a
// password is anyone's), at most MaxAPIPassword bytes. EINVALID naming "api_password".
func CheckAPIPassword(p []byte) error {
	if len(p) == 0 || len(p) > MaxAPIPassword {
		return Errorf(EINVALID, "api_password: 1-%d characters", MaxAPIPassword)
	}
	return nil
}

// ParseFingerprint reads a certificate's SHA-256 fingerprint as 64 hex digits, with or
// without colons (as `/certificate print` and openssl show it). EINVALID naming
// "api_tls_fingerprint".
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return nil, Errorf(EINVALID, "api_tls_fingerprint: want the SHA-256 of the router's certificate, 64 hex digits")
	}
	return b, nil
}

// RouterAPIUpdate changes a NAS's API settings: nil fields stay as they are. An Address
// of "" removes the API with every other setting. SealedPassword is the new password
// already sealed.
type RouterAPIUpdate struct {
	Address        *string
	User           *string
	SealedPassword []byte
	TLS            *bool
	// Fingerprint set to a nil slice removes the pin.
	Fingerprint *[]byte
}

// Empty reports whether u changes nothing.
func (u *RouterAPIUpdate) Empty() bool {
	return u.Address == nil && u.User == nil && u.SealedPassword == nil && u.TLS == nil && u.Fingerprint == nil
}

// Removes reports whether u removes the API.
func (u *RouterAPIUpdate) Removes() bool { return u.Address != nil && *u.Address == "" }

// RouterTarget is a NAS with an API: what a poll, a reconciliation and a disconnect by
// API need.
type RouterTarget struct {
	NASID   int64
	NASName string
	// Prefix is the NAS's RADIUS address: for a range, only sessions whose accounting
	// came from the API's host are this router's.
	Prefix netip.Prefix
	API    RouterAPI
}

// Host returns the IP address of the API's host, if it is one.
func (t *RouterTarget) Host() (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(t.API.Address)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

// RouterHealth is one poll of a router's /system/resource.
type RouterHealth struct {
	NASID       int64
	NASName     string
	PolledAt    time.Time
	Version     string // e.g. "7.18.2 (stable)"
	Uptime      time.Duration
	CPULoad     int   // percent
	FreeMemory  int64 // bytes
	TotalMemory int64 // bytes
	BoardName   string
	// Error is why the poll failed; "" when it succeeded.
	Error string
}

// OK reports whether the poll succeeded.
func (h *RouterHealth) OK() bool { return h.Error == "" }

// RouterState is what the heartbeats say of a router.
type RouterState struct {
	NASID   int64
	NASName string
	// Health is the last successful poll (zero PolledAt: none yet).
	Health RouterHealth
	// PolledAt and Error are the last poll's, whatever its outcome.
	PolledAt time.Time
	Error    string
	// Failures counts the polls missed in a row.
	Failures int
	// Down is set after DownAfter missed polls and cleared by the next success.
	Down bool
	// Since is when Down last changed (zero: never).
	Since time.Time
}

// RouterTransition is a change of a router's Down: "down", "up", or "" for none.
type RouterTransition string

// Router transitions.
const (
	RouterWentDown RouterTransition = "down"
	RouterCameUp   RouterTransition = "up"
)

// DefaultRouterDownAfter is how many polls in a row a router may miss before it counts
// as down.
const DefaultRouterDownAfter = 3

// Apply returns the state after poll h, and the transition it makes: a success clears
// the failures and brings a down router up; a failure counts, and the downAfter-th in a
// row (at least 1) takes the router down. Each transition happens once.
func (s RouterState) Apply(h RouterHealth, downAfter int) (RouterState, RouterTransition) {
	downAfter = max(downAfter, 1)
	s.NASID, s.NASName, s.PolledAt, s.Error = h.NASID, h.NASName, h.PolledAt, h.Error
	if h.OK() {
		s.Health, s.Failures = h, 0
		if s.Down {
			s.Down, s.Since = false, h.PolledAt
			return s, RouterCameUp
		}
		return s, ""
	}
	s.Failures++
	if !s.Down && s.Failures >= downAfter {
		s.Down, s.Since = true, h.PolledAt
		return s, RouterWentDown
	}
	return s, ""
}

// RouterSession is one entry of a router's /ppp/active or /ip/hotspot/active list.
type RouterSession struct {
	// List is "ppp" or "hotspot": where the entry is, and so how it is removed.
	List string
	// ID is the entry's .id (e.g. "*1A"), valid only while the entry exists.
	ID      string
	User    string
	Address netip.Addr
	MAC     string
	// SessionID is the PPP session-id (e.g. "0x81500005"); HotSpot entries have none.
	SessionID string
	Uptime    time.Duration
	// RADIUS says whether RADIUS authenticated the entry (false: a local user).
	RADIUS bool
}

// ListPPP and ListHotspot name a router's active lists (RouterSession.List).
const (
	ListPPP     = "ppp"
	ListHotspot = "hotspot"
)

// Router is one router's API. Errors are EINTERNAL wrapping the cause (connection,
// login, timeout, or the router's !trap).
type Router interface {
	// Health reads /system/resource.
	Health(ctx context.Context) (RouterHealth, error)
	// ActiveSessions lists /ppp/active and /ip/hotspot/active.
	ActiveSessions(ctx context.Context) ([]RouterSession, error)
	// FindActiveSessions lists the entries of both lists with address addr when it is
	// valid, else those of user.
	FindActiveSessions(ctx context.Context, user string, addr netip.Addr) ([]RouterSession, error)
	// RemoveActiveSession removes an entry by its .id.
	RemoveActiveSession(ctx context.Context, s RouterSession) error
}

// RouterDialer gives the API of a router, reusing its connection.
type RouterDialer interface {
	// Router returns t's API; t.API.Password is in clear.
	Router(t RouterTarget) Router
}

// sameSession reports whether the router's entry e is the session with Acct-Session-Id
// sid of user (mac, ip as last accounted). A matching PPP session-id decides. Otherwise
// the entry must be the same user (or the same device: a hotspot voucher logged in by
// its code has the code as the router's user name and its account name in tollgate),
// and, where both sides know an address, the same address (a user may hold several
// sessions, each with its own address).
func sameSession(sid, user, mac string, ip netip.Addr, e *RouterSession) bool {
	if e.SessionID != "" && sid != "" && normalSessionID(e.SessionID) == normalSessionID(sid) {
		return true
	}
	who := user == e.User || (mac != "" && e.MAC != "" && strings.EqualFold(mac, e.MAC))
	if ip.IsValid() && e.Address.IsValid() {
		return who && ip.Unmap() == e.Address.Unmap()
	}
	return who
}

// normalSessionID folds a session id for comparison: RouterOS prints the PPP session-id
// as 0x81500005, and its Acct-Session-Id holds the same hex digits.
func normalSessionID(s string) string {
	s = strings.ToLower(s)
	return strings.TrimPrefix(s, "0x")
}

// ReconcileMargin is how long a session must have been open before reconciliation may
// close it: two interim intervals (300s when none was given). A session younger than
// that may be missing from Postgres or from the router's list only because its Start or
// its login is still on its way.
func ReconcileMargin(interim uint32) time.Duration { return StaleAfter(interim, 0) }

// Reconcile compares a router's active entries with the open sessions tollgate holds for
// it. gone are the sessions the router no longer has and that started more than
// ReconcileMargin before now; unknown are the entries no open session matches.
func Reconcile(open []Session, active []RouterSession, now time.Time) (gone []Session, unknown []RouterSession) {
	for i := range open {
		s := &open[i]
		found := false
		for j := range active {
			if sameSession(s.SessionID, s.Username, s.MAC, s.FramedIP, &active[j]) {
				found = true
				break
			}
		}
		if !found && s.StartedAt.Before(now.Add(-ReconcileMargin(s.Interim))) {
			gone = append(gone, *s)
		}
	}
	for j := range active {
		e := &active[j]
		found := false
		for i := range open {
			s := &open[i]
			if sameSession(s.SessionID, s.Username, s.MAC, s.FramedIP, e) {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, *e)
		}
	}
	return gone, unknown
}

// PickRouterSessions returns the entries among found that are session s: one, or none
// when the router no longer has it. EINVALID when several match and none can be told
// apart (the same user twice, without an address or session id to choose by).
func PickRouterSessions(found []RouterSession, s LiveSession) ([]RouterSession, error) {
	var out []RouterSession
	for i := range found {
		if sameSession(s.Key.SessionID, s.Username, s.MAC, s.FramedIP, &found[i]) {
			out = append(out, found[i])
		}
	}
	if len(out) > 1 {
		return nil, Errorf(EINVALID, "api: %d active entries on the router match session %q of %q; none can be told apart", len(out), s.Key.SessionID, s.Username)
	}
	return out, nil
}

// AdminAlerts tells the operator's admins of an event that needs them, such as a router
// going down and coming back (by email once notifications are wired).
type AdminAlerts interface {
	SendAdminAlert(ctx context.Context, subject, body string) error
}
