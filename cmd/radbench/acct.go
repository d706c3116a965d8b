package main

// Accounting mode (-mode acct) is not implemented yet; run() prints
// "not implemented" and exits 2.
//
// Plan for adding it (the plumbing is already in place):
//
//   - acctMode implements mode with needsAcctConn() == true, so every worker
//     gets its own connected UDP socket to -acct-server (w.acctConn).
//   - transact(w, u) runs one whole session for user u: Accounting-Request
//     Acct-Status-Type=Start, then k × Interim-Update (new flag, e.g.
//     -interims), then Stop, each sent with w.exchange(w.acctConn, b) and
//     checked with w.ver.verify(reply, reqAuth) plus code == Accounting-Response
//     (5). Each packet increments st.sent and records its latency.
//   - Attributes like a MikroTik PPPoE NAS: User-Name, Acct-Session-Id (8 hex
//     digits, unique per session), NAS-Identifier, NAS-IP-Address,
//     NAS-Port-Type=Ethernet, NAS-Port-Id, Service-Type=Framed-User,
//     Framed-Protocol=PPP, Framed-IP-Address, Calling-Station-Id (macFor(u)),
//     Called-Station-Id, Acct-Authentic=RADIUS, Acct-Delay-Time=0, and on
//     Interim/Stop Acct-Session-Time, Acct-Input/Output-Octets(+Gigawords),
//     Acct-Input/Output-Packets; Stop adds Acct-Terminate-Cause.
//   - radius.Packet.Encode() already computes the Accounting-Request
//     authenticator (MD5 over the packet with a zero authenticator + secret).
//     If a Message-Authenticator is included it must be computed over the
//     packet with both the MA and the authenticator field zeroed, before the
//     authenticator is filled in.
//   - Summary: accepts would count Accounting-Responses; rejects stays 0.

type acctMode struct{}

func newAcctMode(cfg *config, users *userCache) (mode, error) {
	_, _ = cfg, users
	return nil, errNotImplemented
}

func (acctMode) name() string          { return "acct" }
func (acctMode) needsAuthConn() bool   { return false }
func (acctMode) needsAcctConn() bool   { return true }
func (acctMode) transact(*worker, int) {}
