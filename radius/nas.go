package radius

import (
	"net/netip"
	"strings"
	"time"
)

// Limits on what a NAS may be configured with.
const (
	// MinNASSecret is the shortest secret accepted without an explicit override: an
	// Access-Request captured on the wire lets anyone test guesses of the secret offline
	// (its Message-Authenticator is an HMAC keyed with it), so a short one falls quickly.
	MinNASSecret = 12
	// MaxNASSecret is the longest secret accepted (RouterOS takes far longer ones, but
	// nobody types more).
	MaxNASSecret = 128
	// MinPrefixIPv4 and MinPrefixIPv6 are the widest ranges a NAS may claim: a range
	// lets every address in it talk with the NAS's secret, so it stays the size of one
	// site's management network.
	MinPrefixIPv4 = 24
	MinPrefixIPv6 = 56
	// MaxLoginHosts bounds NAS.LoginHosts.
	MaxLoginHosts = 8
)

// RequiresMessageAuthenticator reports whether an Access-Request from n without
// Message-Authenticator is dropped: when the row says so, and always for a range, whose
// many possible senders make a forged request (BlastRADIUS) the easier.
func (n *NAS) RequiresMessageAuthenticator() bool {
	return n.RequireMessageAuthenticator || !n.Prefix.IsSingleIP()
}

// Validate checks a NAS before it is stored (the secret aside: it is sealed by then).
// EINVALID naming the field.
func (n *NAS) Validate() error {
	if err := CheckNASPrefix(n.Prefix); err != nil {
		return err
	}
	if !n.Prefix.IsSingleIP() && !n.RequireMessageAuthenticator {
		return Errorf(EINVALID, "require_message_authenticator: the range %s always requires Message-Authenticator", n.Prefix)
	}
	if n.CoAPort < 0 || n.CoAPort > 65535 {
		return Errorf(EINVALID, "coa_port: %d is not a port", n.CoAPort)
	}
	return CheckLoginHosts(n.LoginHosts)
}

// CheckNASPrefix checks a NAS's address: a single address, or a range no wider than a
// /24 (IPv4) or a /56 (IPv6), with no bits set right of the mask. EINVALID naming
// "address".
func CheckNASPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return Errorf(EINVALID, "address: required")
	case p != p.Masked():
		return Errorf(EINVALID, "address: %s has bits set right of the mask (the range is %s)", p, p.Masked())
	case p.Addr().Is4() && p.Bits() < MinPrefixIPv4:
		return Errorf(EINVALID, "address: %s is wider than a /%d: give the router's address, or a range of at most 256 addresses", p, MinPrefixIPv4)
	case p.Addr().Is6() && p.Bits() < MinPrefixIPv6:
		return Errorf(EINVALID, "address: %s is wider than a /%d: give the router's address, or a narrower range", p, MinPrefixIPv6)
	}
	return nil
}

// CheckNASSecret checks a NAS secret in clear: not empty, at most MaxNASSecret
// characters, and at least MinNASSecret unless weak ones are allowed. EINVALID naming
// "secret".
func CheckNASSecret(secret []byte, allowWeak bool) error {
	switch {
	case len(secret) == 0:
		return Errorf(EINVALID, "secret: required")
	case len(secret) > MaxNASSecret:
		return Errorf(EINVALID, "secret: must be at most %d characters", MaxNASSecret)
	case len(secret) < MinNASSecret && !allowWeak:
		return Errorf(EINVALID, "secret: must be at least %d characters (it is %d): a short secret is guessed offline from one captured packet", MinNASSecret, len(secret))
	}
	return nil
}

// ParseLoginHost normalizes the host of a hotspot's link-login-only as an operator types
// it or as it comes in a URL: a DNS name (lowercased, without a trailing dot) or an IPv4
// address. RouterOS hotspots log guests in over IPv4, and a CSP cannot name an IPv6
// literal, so IPv6 is refused. EINVALID naming "login_host".
func ParseLoginHost(s string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if h == "" {
		return "", Errorf(EINVALID, "login_host: required")
	}
	if strings.ContainsAny(h, "/@?#") || strings.Count(h, ":") == 1 {
		return "", Errorf(EINVALID, "login_host: %q: give the host alone, as in link-login-only's http://HOST/login (no scheme, port or path)", s)
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if !a.Is4() && !a.Is4In6() {
			return "", Errorf(EINVALID, "login_host: %q is an IPv6 address: hotspots log in over IPv4; give its IPv4 address or DNS name", s)
		}
		return a.Unmap().String(), nil
	}
	if len(h) > 253 {
		return "", Errorf(EINVALID, "login_host: %q is longer than a DNS name can be", s)
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !dnsLabel(l) {
			return "", Errorf(EINVALID, "login_host: %q is neither an IPv4 address nor a DNS name (letters, digits and '-' between dots)", s)
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		// 10.5.50 or 300.1.1.1: neither an address nor a name anyone can register.
		return "", Errorf(EINVALID, "login_host: %q is neither an IPv4 address nor a DNS name", s)
	}
	return h, nil
}

// dnsLabel reports whether l is one label of a host name (RFC 1123).
func dnsLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CheckLoginHosts checks a NAS's login hosts: each normalized (ParseLoginHost gives it
// back unchanged), no two alike, at most MaxLoginHosts. EINVALID naming "login_host".
func CheckLoginHosts(hosts []string) error {
	if len(hosts) > MaxLoginHosts {
		return Errorf(EINVALID, "login_host: at most %d per NAS", MaxLoginHosts)
	}
	for i, h := range hosts {
		n, err := ParseLoginHost(h)
		if err != nil {
			return err
		}
		if n != h {
			return Errorf(EINVALID, "login_host: %q is not normalized (want %q)", h, n)
		}
		for _, o := range hosts[:i] {
			if o == h {
				return Errorf(EINVALID, "login_host: %q is given twice", h)
			}
		}
	}
	return nil
}

// NASUpdate changes a NAS: nil fields stay as they are. SealedSecret is the new secret
// already sealed.
type NASUpdate struct {
	Prefix                      *netip.Prefix
	SealedSecret                []byte
	CoAPort                     *int
	RequireMessageAuthenticator *bool
	LoginHosts                  *[]string
}

// Empty reports whether u changes nothing.
func (u *NASUpdate) Empty() bool {
	return u.Prefix == nil && u.SealedSecret == nil && u.CoAPort == nil && u.RequireMessageAuthenticator == nil && u.LoginHosts == nil
}

// Validate checks the fields u sets, each on its own; the rules that join fields (a range
// requires Message-Authenticator) are the store's to check against the stored row.
// EINVALID naming the field.
func (u *NASUpdate) Validate() error {
	if u.Prefix != nil {
		if err := CheckNASPrefix(*u.Prefix); err != nil {
			return err
		}
	}
	if u.SealedSecret != nil && len(u.SealedSecret) == 0 {
		return Errorf(EINVALID, "secret: required")
	}
	// 0: the router takes no Disconnect/CoA; sessions are removed through its API.
	if u.CoAPort != nil && (*u.CoAPort < 0 || *u.CoAPort > 65535) {
		return Errorf(EINVALID, "coa_port: %d is not a port", *u.CoAPort)
	}
	if u.LoginHosts != nil {
		return CheckLoginHosts(*u.LoginHosts)
	}
	return nil
}

// NASActivity is what one RADIUS server process received from a NAS since it started:
// the requests (every datagram: auth, accounting, Status-Server, retransmits), the
// Access-Accepts and Access-Rejects sent, the Accounting-Requests recorded, the
// datagrams dropped unanswered (malformed, bad authenticator, overload, a store
// failure), and when the latest arrived.
type NASActivity struct {
	NASID      int64
	NASName    string
	LastSeen   time.Time // zero: nothing yet
	Requests   uint64
	Accepts    uint64
	Rejects    uint64
	Accounting uint64
	Drops      uint64
}
