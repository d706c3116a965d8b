package redis

import (
	"strconv"
	"strings"

	"tollgate/radius"
)

// Every Redis key the package uses is built here, under one prefix shared by the Cache
// and Live (so that GetAuth reads the usage and online keys Live writes), and every
// write sets a TTL, so an abandoned key never outlives its TTL.
//
// Live's Update script touches a session's hash, its user's keys and its NAS's zset at
// once. On a Redis Cluster those must share a hash slot: give a prefix with a hash tag
// there, such as "{tollgate}:".
type keyspace string

// account is where an account (or its negative marker) is cached; h is the base64 of the
// hash of a radius.AccountKey, MACKey or CodeKey value (Cache.accountName), so no name,
// code or MAC is in the key.
func (p keyspace) account(h string) string { return string(p) + "acct:" + h }

// usage is the hash of username's usage: fields uptime (seconds) and bytes.
func (p keyspace) usage(username string) string { return string(p) + "use:" + username }

// online is the zset of username's live sessions: members are sessionMember values,
// scored by their deadline in unix seconds.
func (p keyspace) usageGen(username string) string { return string(p) + "usegen:" + username }

// online is the zset of a user's live sessions.
func (p keyspace) online(username string) string { return string(p) + "on:" + username }

// nasOnline is the zset of a NAS's live sessions, like online.
func (p keyspace) nasOnline(nasID int64) string {
	return string(p) + "nason:" + strconv.FormatInt(nasID, 10)
}

// session is the hash of one live session; member is its sessionMember value
// "<nasID>:<sessionID>".
func (p keyspace) session(member string) string { return string(p) + "sess:" + member }

// sessionMember is a session's member in the online zsets: "<nasID>:<sessionID>".
func sessionMember(k radius.SessionKey) string {
	return strconv.FormatInt(k.NASID, 10) + ":" + k.SessionID
}

// parseMember is the inverse of sessionMember. The NAS id holds no colon, so the first
// one ends it; the session id may hold more.
func parseMember(m string) (radius.SessionKey, bool) {
	nas, sid, ok := strings.Cut(m, ":")
	if !ok {
		return radius.SessionKey{}, false
	}
	id, err := strconv.ParseInt(nas, 10, 64)
	if err != nil {
		return radius.SessionKey{}, false
	}
	return radius.SessionKey{NASID: id, SessionID: sid}, true
}
