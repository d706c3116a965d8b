package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Every key of the package is built here, under the configured prefix, and every write
// gives it a TTL.
type keyspace string

// digest hides a secret or personal value in a key: a Redis dump then holds neither
// usable session IDs nor email addresses.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// pair is the digest of an email seen from an address (an auth.AddrKey).
func pair(email, addr string) string { return digest(email + "\x00" + addr) }

// session holds one portal session as JSON; id is the cookie value.
func (p keyspace) session(id string) string { return p.sessionByDigest(digest(id)) }

// sessionByDigest is session for the digest of an id, as the user index keeps it.
func (p keyspace) sessionByDigest(d string) string { return string(p) + "portal:sess:" + d }

// userSessions is the set of the session digests of user id.
func (p keyspace) userSessions(id int64) string {
	return string(p) + "portal:usess:" + strconv.FormatInt(id, 10)
}

// addrHits counts sign-in attempts from addr in the current window.
func (p keyspace) addrHits(addr string) string { return string(p) + "portal:ip:" + digest(addr) }

// pairFails counts failed sign-ins of an email from an address (a pair digest).
func (p keyspace) pairFails(d string) string { return string(p) + "portal:pfail:" + d }

// pairLock exists while an email is locked at an address.
func (p keyspace) pairLock(d string) string { return string(p) + "portal:plock:" + d }

// pairLevel counts the locks of an email at an address: the backoff level.
func (p keyspace) pairLevel(d string) string { return string(p) + "portal:plevel:" + d }

// known exists while an address is known to an email (a sign-in completed there).
func (p keyspace) known(d string) string { return string(p) + "portal:known:" + d }

// pairs is the set of the pair digests of email that have failures or locks, so that
// an unlock finds them all.
func (p keyspace) pairs(email string) string { return string(p) + "portal:pairs:" + digest(email) }

// emailFails counts failed sign-ins for email from every address.
func (p keyspace) emailFails(email string) string { return string(p) + "portal:fail:" + digest(email) }

// emailAddrs is the set of the addresses (digests) those failures came from.
func (p keyspace) emailAddrs(email string) string { return string(p) + "portal:faddr:" + digest(email) }

// emailLock exists while email is locked account-wide.
func (p keyspace) emailLock(email string) string { return string(p) + "portal:lock:" + digest(email) }

// totpStep exists once user id signed in with the code of step.
func (p keyspace) totpStep(id, step int64) string {
	return string(p) + "portal:totp:" + strconv.FormatInt(id, 10) + ":" + strconv.FormatInt(step, 10)
}

// rate counts the events of a rate limit (Hit); name is built by the caller from
// bounded parts and may hold an address, so it is hashed.
func (p keyspace) rate(name string) string { return string(p) + "portal:rl:" + digest(name) }
