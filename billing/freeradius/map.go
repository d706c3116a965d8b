package freeradius

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// How FreeRADIUS's rows become tollgate's (the README's "Moving from FreeRADIUS" says
// the same for operators):
//
//   - A group becomes a plan of the same name (characters a plan name cannot hold become
//     '-'). From radgroupreply: Mikrotik-Rate-Limit → rate limit, Acct-Interim-Interval
//     → interim, Framed-Pool → pool, Mikrotik-Address-List → address list,
//     Mikrotik-Total-Limit (+ -Gigawords) → data limit. From radgroupcheck:
//     Simultaneous-Use → shared users, Max-All-Session → uptime limit. Session-Timeout is
//     FreeRADIUS's per-session cap: on a hotspot group, where it is how long a ticket
//     lasts, it becomes the uptime limit; on a PPPoE group (a forced daily reconnect,
//     usually) it is reported, as tollgate sends Session-Timeout itself from what is
//     left. A group is a hotspot plan when its check or reply items say Service-Type
//     Login-User (what a MikroTik hotspot sends), else PPPoE. Prices start at 0.
//   - A user becomes a subscriber on its group's plan; in several groups, the one with
//     the lowest priority number (the one FreeRADIUS applies first) wins and the others
//     are reported; in none, the plan "freeradius-default" (PPPoE, unlimited) is made for
//     it. Only Cleartext-Password (or the old User-Password) can be imported: tollgate
//     must read the password back for CHAP and MS-CHAP. A user with only a hashed
//     password (Crypt-, MD5-, SHA-, SSHA-, NT-, LM-Password, …) is skipped and
//     reported, so that nobody is left with an account that cannot log in.
//   - Per user: Framed-IP-Address → static IP, Expiration → end of validity, a
//     Calling-Station-Id check → the bound MAC, Auth-Type := Reject → imported disabled.
//     A per-user Mikrotik-Rate-Limit (or any other per-user reply) is reported: make a
//     plan for it if it matters.
//   - A nas row becomes a router: shortname (or nasname) → name, nasname → address (an
//     IP address or a range; a host name cannot be matched to packets and is reported),
//     secret → secret, sealed. A secret shorter than 12 characters is imported, with a
//     warning to change it.
//   - With accounting, radacct rows become closed sessions of the router whose address
//     sent them; a session still open in radacct is closed at its last update (cause
//     "Imported"), so it neither counts against simultaneous use nor waits for the
//     reaper.

// Import is what Map makes of a FreeRADIUS database: what to create, and every row or
// attribute it could not map.
type Import struct {
	Plans       []billing.Plan
	Subscribers []Subscriber
	NAS         []NAS
	Sessions    []radius.Session // NASName names the router; NASID is set as it is stored
	// Problems are the rows and attributes left out, each a sentence naming them.
	Problems []string
	// Skipped counts the users left out.
	Skipped int
}

// Subscriber is a user to create.
type Subscriber struct {
	billing.NewSubscriber
	// ValidUntil is the user's Expiration (zero: the plan's validity from now).
	ValidUntil time.Time
	Disabled   bool
}

// NAS is a router to create; Weak marks a secret shorter than radius.MinNASSecret.
type NAS struct {
	radius.NAS
	Weak bool
}

// DefaultPlan is the plan of the users who are in no group.
const DefaultPlan = "freeradius-default"

// The password attributes that hold a hash, not the password.
var hashedPasswords = []string{"Crypt-Password", "MD5-Password", "SMD5-Password", "SHA-Password", "SHA1-Password",
	"SSHA-Password", "SSHA1-Password", "SHA2-Password", "SHA256-Password", "SSHA256-Password", "SHA512-Password",
	"SSHA512-Password", "NT-Password", "LM-Password", "NS-MTA-MD5-Password", "Password-With-Header", "PBKDF2-Password"}

// Map turns d into what tollgate would create, and the report of what it left out.
func Map(d *Data) *Import {
	im := &Import{}
	report := func(format string, args ...any) { im.Problems = append(im.Problems, fmt.Sprintf(format, args...)) }

	// Groups → plans, by name.
	groups := map[string]bool{}
	for g := range d.GroupCheck {
		groups[g] = true
	}
	for g := range d.GroupReply {
		groups[g] = true
	}
	for _, ms := range d.Groups {
		for _, m := range ms {
			groups[m.Group] = true
		}
	}
	planOf := map[string]string{} // group → plan name
	taken := map[string]string{}  // plan name → group
	for _, g := range sortedKeys(groups) {
		p := mapGroup(g, d.GroupCheck[g], d.GroupReply[g], report)
		if other, dup := taken[p.Name]; dup {
			report("group %q: its plan name %q is %q's too; renamed %q", g, p.Name, other, p.Name+"-2")
			p.Name += "-2"
		}
		taken[p.Name] = g
		planOf[g] = p.Name
		im.Plans = append(im.Plans, p)
	}

	// Users: every name in radcheck, radreply or radusergroup.
	users := map[string]bool{}
	for u := range d.Check {
		users[u] = true
	}
	for u := range d.Reply {
		users[u] = true
	}
	for u := range d.Groups {
		users[u] = true
	}
	needDefault := false
	for _, u := range sortedKeys(users) {
		s, ok := mapUser(u, d, planOf, report)
		if !ok {
			im.Skipped++
			continue
		}
		if s.Plan == DefaultPlan {
			needDefault = true
		}
		im.Subscribers = append(im.Subscribers, s)
	}
	if needDefault && taken[DefaultPlan] == "" {
		im.Plans = append(im.Plans, billing.Plan{Name: DefaultPlan, Kind: radius.KindPPPoE})
		report("plan %q: made for the users in no group (PPPoE, unlimited): move them to a real plan", DefaultPlan)
	}

	// NAS rows → routers.
	names := map[string]bool{}
	for _, r := range d.NAS {
		n, ok := mapNAS(r, names, report)
		if ok {
			im.NAS = append(im.NAS, n)
		}
	}

	// radacct → sessions of the routers that sent them.
	unmatched := 0
	for _, a := range d.Acct {
		s, ok := mapAcct(a, im.NAS)
		if !ok {
			unmatched++
			continue
		}
		im.Sessions = append(im.Sessions, s)
	}
	if unmatched > 0 {
		report("radacct: %d sessions left out: no imported router has their NAS-IP-Address, or they have no start", unmatched)
	}
	return im
}

var badPlanChar = regexp.MustCompile(`[^A-Za-z0-9 ._-]+`)

// mapGroup makes the plan of group g from its check and reply items.
func mapGroup(g string, check, reply []Attr, report func(string, ...any)) billing.Plan {
	name := strings.Trim(badPlanChar.ReplaceAllString(g, "-"), " ")
	if len(name) > billing.MaxNameLen {
		name = name[:billing.MaxNameLen]
	}
	if name == "" {
		name = "group"
	}
	if name != g {
		report("group %q: imported as plan %q (a plan name holds letters, digits, spaces, '.', '_' and '-')", g, name)
	}
	p := billing.Plan{Name: name, Kind: radius.KindPPPoE}
	all := append(append([]Attr(nil), check...), reply...)
	for _, a := range all {
		if a.Attribute == "Service-Type" && strings.EqualFold(a.Value, "Login-User") {
			p.Kind = radius.KindHotspot
		}
	}
	if p.Kind == radius.KindHotspot {
		p.ValidityFrom = billing.FromFirstLogin
	}
	var totalLow, totalHigh int64
	for _, a := range check {
		switch a.Attribute {
		case "Simultaneous-Use":
			if n, err := strconv.Atoi(a.Value); err == nil && n >= 0 && n <= billing.MaxSharedUsers {
				p.SharedUsers = n
			} else {
				report("group %q: Simultaneous-Use %q is not a number from 0 to %d; left unlimited", g, a.Value, billing.MaxSharedUsers)
			}
		case "Max-All-Session":
			if d, ok := seconds(a.Value); ok {
				p.UptimeLimit = d
			} else {
				report("group %q: Max-All-Session %q is not a number of seconds", g, a.Value)
			}
		case "Service-Type", "Framed-Protocol":
		default:
			report("group %q: check item %s %s %q not imported", g, a.Attribute, a.Op, a.Value)
		}
	}
	for _, a := range reply {
		switch a.Attribute {
		case "Mikrotik-Rate-Limit":
			if err := radius.ValidateRateLimit(a.Value); err == nil {
				p.RateLimit = a.Value
			} else {
				report("group %q: Mikrotik-Rate-Limit %q: %s; left out", g, a.Value, radius.ErrorMessage(err))
			}
		case "Acct-Interim-Interval":
			d, ok := seconds(a.Value)
			if ok && d >= billing.MinInterim && d <= billing.MaxInterim {
				p.Interim = d
			} else {
				report("group %q: Acct-Interim-Interval %q is not %v to %v in seconds; the router's default is used", g, a.Value, billing.MinInterim, billing.MaxInterim)
			}
		case "Framed-Pool":
			p.Pool = a.Value
		case "Mikrotik-Address-List":
			p.AddressList = a.Value
		case "Mikrotik-Total-Limit":
			totalLow, _ = strconv.ParseInt(a.Value, 10, 64)
		case "Mikrotik-Total-Limit-Gigawords":
			totalHigh, _ = strconv.ParseInt(a.Value, 10, 64)
		case "Session-Timeout":
			d, ok := seconds(a.Value)
			switch {
			case !ok:
				report("group %q: Session-Timeout %q is not a number of seconds", g, a.Value)
			case p.Kind == radius.KindHotspot && p.UptimeLimit == 0:
				p.UptimeLimit = d
				report("group %q: Session-Timeout %s became the hotspot plan's uptime limit (total online time, across sessions)", g, a.Value)
			default:
				report("group %q: Session-Timeout %s not imported: tollgate sends Session-Timeout from the time left, and does not force reconnects", g, a.Value)
			}
		case "Service-Type", "Framed-Protocol":
		default:
			report("group %q: reply item %s %q not imported", g, a.Attribute, a.Value)
		}
	}
	if totalLow > 0 || totalHigh > 0 {
		p.DataLimit = totalHigh<<32 + totalLow
	}
	for _, f := range []struct {
		attr string
		v    *string
	}{{"Framed-Pool", &p.Pool}, {"Mikrotik-Address-List", &p.AddressList}} {
		if *f.v != "" && (len(*f.v) > billing.MaxNameLen || strings.ContainsFunc(*f.v, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
			report("group %q: %s %q is not a RouterOS name (at most %d characters, no spaces); left out", g, f.attr, *f.v, billing.MaxNameLen)
			*f.v = ""
		}
	}
	return p
}

// mapUser makes the subscriber of user u; ok is false for a user left out.
func mapUser(u string, d *Data, planOf map[string]string, report func(string, ...any)) (Subscriber, bool) {
	s := Subscriber{NewSubscriber: billing.NewSubscriber{Username: u}}
	if err := billing.ValidateUsername(u); err != nil {
		report("user %q: skipped: %s", u, radius.ErrorMessage(err))
		return s, false
	}
	var hashed []string
	havePassword := false
	for _, a := range d.Check[u] {
		switch {
		case a.Attribute == "Cleartext-Password" || a.Attribute == "User-Password":
			s.Password, havePassword = a.Value, true
		case slices.Contains(hashedPasswords, a.Attribute):
			hashed = append(hashed, a.Attribute)
		case a.Attribute == "Expiration":
			t, ok := parseExpiration(a.Value)
			if ok {
				s.ValidUntil = t
			} else {
				report("user %q: Expiration %q is not a date like \"Jan 02 2027 12:00:00\"; left out", u, a.Value)
			}
		case a.Attribute == "Auth-Type" && strings.EqualFold(a.Value, "Reject"):
			s.Disabled = true
			report("user %q: Auth-Type := Reject: imported disabled", u)
		case a.Attribute == "Calling-Station-Id":
			mac, err := billing.ParseMAC(a.Value)
			if err == nil && mac != "" {
				s.MAC = mac
			} else {
				report("user %q: Calling-Station-Id %q is not a MAC address; left out", u, a.Value)
			}
		default:
			report("user %q: check item %s %s %q not imported", u, a.Attribute, a.Op, a.Value)
		}
	}
	if !havePassword {
		if len(hashed) > 0 {
			report("user %q: skipped: only a hashed password (%s), which cannot be read back for CHAP or MS-CHAP; add it with its password", u, strings.Join(hashed, ", "))
		} else {
			report("user %q: skipped: no Cleartext-Password", u)
		}
		return s, false
	}
	if len(hashed) > 0 {
		report("user %q: %s ignored: the Cleartext-Password is imported", u, strings.Join(hashed, ", "))
	}
	if err := billing.ValidatePassword(s.Password); err != nil {
		report("user %q: skipped: %s", u, radius.ErrorMessage(err))
		return s, false
	}
	for _, a := range d.Reply[u] {
		switch a.Attribute {
		case "Framed-IP-Address":
			ip, err := netip.ParseAddr(a.Value)
			if err == nil && !ip.IsUnspecified() && !ip.IsMulticast() {
				s.StaticIP = ip.Unmap().String()
			} else {
				report("user %q: Framed-IP-Address %q cannot be a static address; left out", u, a.Value)
			}
		default:
			report("user %q: reply item %s %q not imported (a per-user value: make a plan for it if it matters)", u, a.Attribute, a.Value)
		}
	}
	ms := d.Groups[u]
	if len(ms) == 0 {
		s.Plan = DefaultPlan
	} else {
		s.Plan = planOf[ms[0].Group]
		for _, m := range ms[1:] {
			report("user %q: also in group %q (priority %d): imported on %q (priority %d) only", u, m.Group, m.Priority, ms[0].Group, ms[0].Priority)
		}
	}
	return s, true
}

var badNASChar = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// mapNAS makes the router of nas row r; names are the names taken so far.
func mapNAS(r NASRow, names map[string]bool, report func(string, ...any)) (NAS, bool) {
	pfx, err := parseNASName(r.NASName)
	if err != nil {
		report("nas %q: skipped: nasname is not an IP address or range (a host name cannot be matched to packets); add it with its address", r.NASName)
		return NAS{}, false
	}
	if err := radius.CheckNASPrefix(pfx); err != nil {
		report("nas %q: skipped: %s", r.NASName, radius.ErrorMessage(err))
		return NAS{}, false
	}
	name := r.ShortName
	if name == "" {
		name = r.NASName
	}
	name = strings.TrimLeft(badNASChar.ReplaceAllString(name, "-"), "._-")
	if len(name) > 63 {
		name = name[:63]
	}
	if name == "" || names[name] {
		name = "nas-" + strconv.FormatInt(r.ID, 10)
	}
	if name != r.ShortName {
		report("nas %q: imported as %q", r.NASName, name)
	}
	names[name] = true
	n := NAS{NAS: radius.NAS{Name: name, Prefix: pfx, Secret: []byte(r.Secret), RequireMessageAuthenticator: true}}
	if err := radius.CheckNASSecret(n.Secret, true); err != nil {
		report("nas %q: skipped: %s", r.NASName, radius.ErrorMessage(err))
		return NAS{}, false
	}
	if len(n.Secret) < radius.MinNASSecret {
		n.Weak = true
		report("nas %q: WARNING: its secret has %d characters (fewer than %d): it is guessed offline from one captured packet; change it on the router and with tollgate nas set", name, len(n.Secret), radius.MinNASSecret)
	}
	if !pfx.IsSingleIP() {
		report("nas %q: a range: Access-Requests without Message-Authenticator are dropped (BlastRADIUS)", name)
	}
	return n, true
}

// parseNASName reads nasname: an address or a CIDR range.
func parseNASName(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// mapAcct makes the session of radacct row a, on the imported router whose address
// sent it.
func mapAcct(a AcctRow, nas []NAS) (radius.Session, bool) {
	i := slices.IndexFunc(nas, func(n NAS) bool { return a.NASIP.IsValid() && n.Prefix.Contains(a.NASIP.Unmap()) })
	if i < 0 || a.Start.IsZero() || a.SessionID == "" || a.Username == "" {
		return radius.Session{}, false
	}
	s := radius.Session{NASName: nas[i].Name, SessionID: a.SessionID, Username: a.Username, FramedIP: a.FramedIP,
		StartedAt: a.Start, StoppedAt: a.Stop, LastUpdate: a.Update, TerminateCause: a.Cause,
		SessionTime: uint32(min(max(a.SessionTime, 0), 1<<32-1)), InputOctets: uint64(max(a.In, 0)), OutputOctets: uint64(max(a.Out, 0))}
	if mac, err := billing.ParseMAC(a.CallingStation); err == nil {
		s.MAC = mac
	}
	if s.LastUpdate.IsZero() {
		s.LastUpdate = s.StartedAt
	}
	if s.StoppedAt.IsZero() {
		s.StoppedAt, s.TerminateCause = s.LastUpdate, "Imported"
	}
	return s, true
}

// seconds reads a whole number of seconds.
func seconds(s string) (time.Duration, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > int64(billing.MaxPlanDuration/time.Second) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// expirationLayouts are the forms of Expiration FreeRADIUS accepts (and ISO dates).
var expirationLayouts = []string{"Jan 2 2006 15:04:05", "Jan 2 2006 15:04", "Jan 2 2006", "2 Jan 2006 15:04:05", "2 Jan 2006",
	"January 2 2006 15:04:05", "January 2 2006", time.RFC3339, "2006-01-02 15:04:05", "2006-01-02"}

// parseExpiration reads an Expiration value, in UTC when it names no zone.
func parseExpiration(s string) (time.Time, bool) {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, ",", " ")), " ")
	for _, l := range expirationLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
