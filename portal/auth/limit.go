package auth

import (
	"net/netip"
	"time"
)

// Sign-in throttling, and why it cannot be turned against the admin it protects.
//
// A lockout keyed on the account alone lets anyone who knows an admin's email keep that
// admin out: five wrong passwords every fifteen minutes, from one address, forever. So
// the rules here go from the narrowest key to the widest, and the wide one cannot be
// reached from one place:
//
//  1. Per address. Every attempt (password or TOTP step, right or wrong) counts against
//     the client's address: an IPv4 address, or the /64 of an IPv6 one, since one
//     IPv6 host holds a whole /64 and could otherwise change address at every try.
//     Past AddrAttempts per AddrWindow the address is refused with 429.
//  2. Per address and account. AddrFailures failures for one email from one address
//     lock that email at that address only, for LockFor; each new lock of the same
//     pair within MaxLock doubles (15 min, 30 min, 1 h, … up to MaxLock). The guesser
//     locks himself out; the admin at any other address signs in as before.
//  3. Per account, only when the failures are spread. AccountFailures failures within
//     AccountWindow coming from at least AccountAddrs different addresses (a
//     distributed guess, which rules 1 and 2 slow but do not stop) lock the account
//     at every address for LockFor, recorded in portal_users as well so it survives a
//     Redis flush and an admin can lift it. One address can never set this lock,
//     however many failures it sends: they count as one address.
//  4. Known addresses pass the account-wide lock. An address from which the account
//     completed a sign-in within KnownFor is held only by its own rules 1 and 2. So
//     even an attacker with many networks cannot keep the admin out of the places the
//     admin signs in from; from a new place the lock ends after LockFor, or at once
//     when another admin unlocks the account (or from a known address).
//
// All of it is the same for an email without an account (counted in Redis only), so the
// answers do not tell which emails have accounts.

// Policy is how hard sign-ins are throttled (the rules above).
type Policy struct {
	// AddrAttempts sign-in attempts are allowed per AddrWindow from one address.
	AddrAttempts int64
	AddrWindow   time.Duration
	// AddrFailures failures of one email from one address within LockFor lock that
	// email at that address for LockFor, doubling per earlier lock up to MaxLock.
	AddrFailures int64
	LockFor      time.Duration
	MaxLock      time.Duration
	// AccountFailures failures of one email within AccountWindow, from at least
	// AccountAddrs addresses, lock it at every address that is not known for LockFor.
	AccountFailures int64
	AccountAddrs    int64
	AccountWindow   time.Duration
	// KnownFor is how long an address where the account signed in stays known.
	KnownFor time.Duration
}

// DefaultPolicy: 10 attempts a minute per address; 5 failures lock an email at one
// address for 15 minutes (then 30, 60, … up to a day); 20 failures in an hour from 3 or
// more addresses lock it everywhere but its known addresses for 15 minutes; an address
// stays known 30 days after a sign-in.
var DefaultPolicy = Policy{
	AddrAttempts: 10, AddrWindow: time.Minute,
	AddrFailures: 5, LockFor: 15 * time.Minute, MaxLock: 24 * time.Hour,
	AccountFailures: 20, AccountAddrs: 3, AccountWindow: time.Hour,
	KnownFor: 30 * 24 * time.Hour,
}

// LockState is what the Limiter holds about an email signing in from an address.
type LockState struct {
	Addr    time.Duration // the email's lock at this address (0: none)
	Account time.Duration // the email's account-wide lock (0: none)
	Known   bool          // the email signed in from this address within KnownFor
}

// FailCounts are the counters after a failed sign-in (Limiter.CountFailure).
type FailCounts struct {
	Addr    int64 // failures of the email from this address since its last lock
	Level   int64 // locks of the email at this address within MaxLock so far
	Account int64 // failures of the email from every address within AccountWindow
	Addrs   int64 // distinct addresses among them
}

// AfterFailure is the rule applied after each failed sign-in: the lock of the email at
// this address (rule 2) and the account-wide lock (rule 3) that the counts c call for,
// 0 for none.
func (p Policy) AfterFailure(c FailCounts) (addrLock, accountLock time.Duration) {
	if p.AddrFailures > 0 && c.Addr >= p.AddrFailures {
		addrLock = p.LockFor
		for i := int64(0); i < c.Level && addrLock < p.MaxLock; i++ {
			addrLock *= 2
		}
		addrLock = min(addrLock, max(p.MaxLock, p.LockFor))
	}
	if p.AccountFailures > 0 && c.Account >= p.AccountFailures && c.Addrs >= max(p.AccountAddrs, 2) {
		accountLock = p.LockFor
	}
	return addrLock, accountLock
}

// AddrKey is the key an address is counted under: an IPv4 address as is, an IPv6 one as
// its /64 ("2001:db8:1:2::/64"), an IPv4-mapped IPv6 one as the IPv4 address. Anything
// that does not parse is returned unchanged.
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
