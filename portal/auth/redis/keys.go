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

// session holds one portal session as JSON; id is the cookie value.
func (p keyspace) session(id string) string { return string(p) + "portal:sess:" + digest(id) }

// ipHits counts sign-in attempts from ip in the current window.
func (p keyspace) ipHits(ip string) string { return string(p) + "portal:ip:" + ip }

// emailFails counts failed sign-ins for email.
func (p keyspace) emailFails(email string) string { return string(p) + "portal:fail:" + digest(email) }

// emailLock exists while email is locked out.
func (p keyspace) emailLock(email string) string { return string(p) + "portal:lock:" + digest(email) }

// totpStep exists once user id signed in with the code of step.
func (p keyspace) totpStep(id, step int64) string {
	return string(p) + "portal:totp:" + strconv.FormatInt(id, 10) + ":" + strconv.FormatInt(step, 10)
}
