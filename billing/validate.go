package billing

import (
	"net/netip"
	"strings"
	"time"
	"unicode"

	"tollgate/radius"
)

// Limits of the validation rules.
const (
	// MaxNameLen is the longest plan name, username, pool or address list.
	MaxNameLen = 64
	// MaxPasswordLen is the longest password: RADIUS User-Password holds at most 128 octets.
	MaxPasswordLen = 128
	// MaxSharedUsers bounds a plan's simultaneous sessions.
	MaxSharedUsers = 1000
	// MaxPlanDuration bounds a plan's validity and uptime limit (ten years of 365 days).
	MaxPlanDuration = 10 * 365 * 24 * time.Hour
	// MinInterim and MaxInterim bound a non-zero Acct-Interim-Interval: shorter floods
	// accounting, longer makes the stale-session reaper useless.
	MinInterim = 30 * time.Second
	MaxInterim = 24 * time.Hour
)

func invalid(format string, args ...any) error {
	return radius.Errorf(radius.EINVALID, format, args...)
}

// ValidatePlan checks every field of p that an admin sets. It returns an EINVALID error
// whose message starts with the CLI flag name of the first faulty field ("rate-limit:
// …"), so the user sees which field is wrong and why. ID and CreatedAt are ignored.
func ValidatePlan(p Plan) error {
	if err := validatePlanName(p.Name); err != nil {
		return err
	}
	if !p.Kind.Valid() {
		return invalid("kind: %q is not a plan kind; use %s or %s", p.Kind, radius.KindPPPoE, radius.KindHotspot)
	}
	if p.PriceCents < 0 {
		return invalid("price: must not be negative")
	}
	if err := radius.ValidateRateLimit(p.RateLimit); err != nil {
		return invalid("rate-limit: %s", radius.ErrorMessage(err))
	}
	if err := validateLimit("validity", p.Validity); err != nil {
		return err
	}
	if err := validateLimit("uptime-limit", p.UptimeLimit); err != nil {
		return err
	}
	if p.DataLimit < 0 {
		return invalid("data-limit: must not be negative")
	}
	if p.SharedUsers < 0 || p.SharedUsers > MaxSharedUsers {
		return invalid("shared-users: must be 0 (unlimited) to %d", MaxSharedUsers)
	}
	if p.Interim != 0 {
		if p.Interim < MinInterim || p.Interim > MaxInterim {
			return invalid("interim: must be 0 (the router's default) or %v to %v", MinInterim, MaxInterim)
		}
		if p.Interim%time.Second != 0 {
			return invalid("interim: must be whole seconds")
		}
	}
	if err := validateRouterName("pool", p.Pool); err != nil {
		return err
	}
	if err := validateRouterName("address-list", p.AddressList); err != nil {
		return err
	}
	if err := validateSubscriptionFields(p); err != nil {
		return err
	}
	return validateVoucherFields(p)
}

// MaxGrace bounds a plan's grace: an unpaid subscriber is isolated within 90 days.
const MaxGrace = 90 * 24 * time.Hour

// validateSubscriptionFields checks what a plan adds for PPPoE subscriptions: the
// period, the grace and the isolation plan, which only mean something on PPPoE.
func validateSubscriptionFields(p Plan) error {
	if p.Period != "" && !p.Period.Valid() {
		return invalid("period: %q is not month or a number of days like 30d", p.Period)
	}
	switch {
	case p.Grace < 0 || p.Grace > MaxGrace:
		return invalid("grace: must be 0 to 90 days (90d)")
	case p.Grace%time.Second != 0:
		return invalid("grace: must be whole seconds")
	}
	if p.Kind != radius.KindPPPoE {
		switch {
		case p.Period != "" && p.Period != DefaultPeriod:
			return invalid("period: only for PPPoE plans")
		case p.Grace != 0:
			return invalid("grace: only for PPPoE plans")
		case p.IsolationPlan != "" || p.IsolationPlanID != 0:
			return invalid("isolation-plan: only for PPPoE plans")
		}
	}
	if p.IsolationPlan != "" && p.IsolationPlan == p.Name {
		return invalid("isolation-plan: a plan cannot be its own isolation plan")
	}
	return nil
}

// Limits of a plan's location lists.
const (
	// MaxLocations bounds how many NASes or hotspot servers a plan names.
	MaxLocations = 100
)

// validateVoucherFields checks what a plan adds for hotspot vouchers. The MAC lock, the
// hotspot servers and a validity counted from the sale only mean something on hotspot.
func validateVoucherFields(p Plan) error {
	if p.ResellerPriceCents < 0 {
		return invalid("reseller-price: must not be negative")
	}
	if p.ValidityFrom != "" && !p.ValidityFrom.Valid() {
		return invalid("validity-from: %q is not first-login or sale", p.ValidityFrom)
	}
	if p.Kind != radius.KindHotspot {
		switch {
		case p.LockMAC:
			return invalid("lock-mac: only for hotspot plans")
		case len(p.HotspotServers) > 0:
			return invalid("hotspot-server: only for hotspot plans")
		case p.ValidityFrom == FromSale:
			return invalid("validity-from: sale is only for hotspot plans")
		}
	}
	if err := validateList("nas", p.NASNames, validNASName); err != nil {
		return err
	}
	return validateList("hotspot-server", p.HotspotServers, func(s string) bool {
		return s != "" && validateRouterName("", s) == nil
	})
}

// validateList checks a plan's location list: at most MaxLocations names, each valid,
// none twice.
func validateList(field string, l []string, valid func(string) bool) error {
	if len(l) > MaxLocations {
		return invalid("%s: at most %d names", field, MaxLocations)
	}
	for i, s := range l {
		if !valid(s) {
			return invalid("%s: %q is not a valid name", field, s)
		}
		for _, t := range l[:i] {
			if t == s {
				return invalid("%s: %q is listed twice", field, s)
			}
		}
	}
	return nil
}

// validNASName reports whether s is a NAS name as the nas table allows it: a letter or
// digit, then up to 62 letters, digits, '.', '_' or '-'.
func validNASName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func validatePlanName(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return invalid("name: must be 1 to %d characters", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == ' ' || c == '.' || c == '_' || c == '-') {
			return invalid("name: %q has %q; use letters, digits, spaces, '.', '_' and '-'", s, rune(c))
		}
	}
	// "Gold" and "Gold " would look the same in every list.
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return invalid("name: %q must not start or end with a space", s)
	}
	return nil
}

// validateLimit checks a duration stored in whole seconds.
func validateLimit(field string, d time.Duration) error {
	switch {
	case d < 0:
		return invalid("%s: must not be negative", field)
	case d > MaxPlanDuration:
		return invalid("%s: must be at most 10 years (3650d)", field)
	case d%time.Second != 0:
		return invalid("%s: must be whole seconds", field)
	}
	return nil
}

// validateRouterName checks a RouterOS object name (IP pool, address list): optional,
// at most MaxNameLen bytes, no spaces or control characters.
func validateRouterName(field, s string) error {
	if len(s) > MaxNameLen {
		return invalid("%s: must be at most %d characters", field, MaxNameLen)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return invalid("%s: %q must not contain spaces or control characters", field, s)
		}
	}
	return nil
}

// ValidateUsername checks a subscriber's user name as MikroTik accepts it: 1 to 64
// characters of printable ASCII without spaces. It returns an EINVALID error starting
// with "username:".
func ValidateUsername(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return invalid("username: must be 1 to %d characters", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return invalid("username: %q has %q; use printable ASCII without spaces", s, rune(c))
		}
	}
	if n, ok := strings.CutPrefix(s, "voucher-"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		return invalid("username: %q is reserved: vouchers log in under names like it", s)
	}
	return nil
}

// ValidatePassword checks a subscriber's password: 1 to 128 bytes (the most RADIUS
// User-Password carries) and no NUL byte, since PAP would truncate the password there.
// The message never echoes the password; it starts with "password:".
func ValidatePassword(s string) error {
	if s == "" || len(s) > MaxPasswordLen {
		return invalid("password: must be 1 to %d bytes", MaxPasswordLen)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid("password: must not contain a NUL character")
	}
	return nil
}

// checkNewSubscriber validates in except for the plan's existence and returns the parsed
// static IP (invalid when empty) and the normalized MAC ("" when empty).
func checkNewSubscriber(in NewSubscriber) (netip.Addr, string, error) {
	if err := ValidateUsername(in.Username); err != nil {
		return netip.Addr{}, "", err
	}
	if err := ValidatePassword(in.Password); err != nil {
		return netip.Addr{}, "", err
	}
	if in.Plan == "" {
		return netip.Addr{}, "", invalid("plan: required")
	}
	ip, err := ParseStaticIP(in.StaticIP)
	if err != nil {
		return netip.Addr{}, "", err
	}
	mac, err := ParseMAC(in.MAC)
	if err != nil {
		return netip.Addr{}, "", err
	}
	if in.MACLogin && mac == "" {
		return netip.Addr{}, "", invalid("mac-login: needs --mac, the device that logs in by its MAC")
	}
	return ip, mac, nil
}

// ParseStaticIP reads a subscriber's static address: an IPv4 or IPv6 address that can be
// assigned (not unspecified or multicast), the zero Addr for "" (the pool assigns one).
// EINVALID starting with "static-ip:".
func ParseStaticIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, invalid("static-ip: %q is not an IPv4 or IPv6 address", s)
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, invalid("static-ip: %q cannot be assigned to a subscriber", s)
	}
	return a.Unmap(), nil
}

// ParseMAC reads a MAC as typed ("" for none) and returns it normalized. EINVALID.
func ParseMAC(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	m, ok := radius.NormalizeMAC(s)
	if !ok {
		return "", invalid("mac: %q is not a MAC address like AA:BB:CC:DD:EE:FF", s)
	}
	return m, nil
}

// checkMACLogin refuses MAC login on a plan that is not a hotspot plan: a PPPoE account
// must always be logged in with its password.
func checkMACLogin(macLogin bool, p *Plan) error {
	if macLogin && p.Kind != radius.KindHotspot {
		return invalid("mac-login: plan %q is a %s plan; MAC login is for hotspot plans only", p.Name, p.Kind)
	}
	return nil
}

// MaxProfileNameLen is the longest subscriber name (the column's CHECK).
const MaxProfileNameLen = 200

// NormalizeEmail returns a subscriber's email as stored: trimmed and lower-cased, ""
// for none. EINVALID starting with "email:".
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s != "" && len(s) < 3 {
		return "", invalid("email: %q is not an address like name@example.com", s)
	}
	if err := validateEmail(s); err != nil {
		return "", err
	}
	return s, nil
}

// NormalizePhone returns a phone number in E.164 ("+254712345678"), "" for none: spaces,
// dashes, dots and brackets are dropped and a leading 00 becomes +. A number without its
// country code is refused, as it cannot be texted from abroad. EINVALID starting with
// "phone:".
func NormalizePhone(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			b.WriteRune(r)
		}
	}
	n := b.String()
	if n == "" {
		return "", nil
	}
	if rest, ok := strings.CutPrefix(n, "00"); ok {
		n = "+" + rest
	}
	digits := strings.TrimPrefix(n, "+")
	if !strings.HasPrefix(n, "+") || len(digits) < 7 || len(digits) > 15 || digits[0] == '0' || strings.Trim(digits, "0123456789") != "" {
		return "", invalid("phone: %q is not a number with its country code, like +254712345678", s)
	}
	return n, nil
}

// checkProfile normalizes a subscriber's name, email and phone. EINVALID naming the
// field.
func checkProfile(name, email, phone string) (string, string, string, error) {
	name = strings.TrimSpace(name)
	if len(name) > MaxProfileNameLen {
		return "", "", "", invalid("name: at most %d characters", MaxProfileNameLen)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", "", "", invalid("name: must not contain control characters")
		}
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", "", "", err
	}
	phone, err = NormalizePhone(phone)
	if err != nil {
		return "", "", "", err
	}
	return name, email, phone, nil
}
