package server

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"net/netip"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	tg "tollgate/radius"
)

// AfterAccounting runs once a record is durable and answered: the live session index,
// usage and enforcement. acct is nil when the user is unknown.
type AfterAccounting func(ctx context.Context, r *tg.AcctRecord, acct *tg.Account)

// SetAccounting enables the accounting port: records go to accounter (durable before the
// Accounting-Response), then to after. Call before Start.
func (s *Server) SetAccounting(accounter tg.Accounter, after AfterAccounting) {
	s.accounter, s.after = accounter, after
}

// verifyAcctAuthenticator checks an Accounting-Request's authenticator in place (RFC 2866
// §3): MD5(Code‖ID‖Length‖16 zero octets‖Attributes‖Secret), and its
// Message-Authenticator at off when present (computed with the authenticator field
// zeroed); off is findMA's answer, -1 for none.
func verifyAcctAuthenticator(e *nasEntry, b []byte, off int) bool {
	var auth [16]byte
	copy(auth[:], b[4:20])
	clear(b[4:20])
	defer copy(b[4:20], auth[:])
	h := md5.New()
	h.Write(b)
	h.Write(e.Secret)
	var sum [16]byte
	if subtle.ConstantTimeCompare(h.Sum(sum[:0]), auth[:]) != 1 {
		return false
	}
	return off < 0 || verifyMA(e, b, off)
}

// accounting handles an Accounting-Request from src: it answers only after the record is
// durable. The returned func (the live index and enforcement) runs after the answer is
// sent.
func (s *Server) accounting(ctx context.Context, e *nasEntry, src netip.Addr, b []byte) ([]byte, func(context.Context)) {
	if s.accounter == nil {
		s.drop(e, &s.stats.UnknownCode)
		return nil, nil
	}
	maOff := findMA(b)
	switch {
	case maOff == -2:
		s.drop(e, &s.stats.Malformed)
		return nil, nil
	case !verifyAcctAuthenticator(e, b, maOff):
		s.drop(e, &s.stats.BadAuthenticator)
		return nil, nil
	}
	req, err := parsePacket(b, e.Secret)
	if err != nil {
		s.drop(e, &s.stats.Malformed)
		return nil, nil
	}
	rec, ok := s.acctRecord(e, req)
	if !ok {
		s.drop(e, &s.stats.Malformed)
		return nil, nil
	}
	// The router itself: for a NAS entry that is a range, Disconnect and CoA go here.
	rec.NASAddr = src.Unmap()
	var acct *tg.Account
	if rec.Username != "" && (rec.Status == tg.AcctStart || rec.Status == tg.AcctInterim || rec.Status == tg.AcctStop) {
		acct, err = s.accounts.FindByUsername(ctx, rec.Username)
		if mac, ok := tg.NormalizeMAC(rec.Username); ok && tg.ErrorCode(err) == tg.ENOTFOUND {
			acct, err = s.accounts.FindByMAC(ctx, mac) // a MAC login the router accounts by MAC
		}
		switch tg.ErrorCode(err) {
		case "":
			// Accounted under the account's own name even when the router sends the
			// voucher code or the MAC it logged in with: usage, limits and the live index
			// then reach it, and no code is stored.
			rec.Username = acct.Username
			rec.Interim = uint32(acct.Interim / time.Second)
		case tg.ENOTFOUND:
			acct = nil // still recorded: the router's word is what billing reads
			if name, ok := tg.AccountNameFromClass(rec.Class); ok {
				rec.Username = name
			}
		default:
			// Recording must not depend on the account: with Postgres down and the cache
			// cold, the record still goes to the spool; enforcement waits for the next one.
			s.logInternal(ctx, e, logName(nil, rec.Username), err)
			acct = nil
			if name, ok := tg.AccountNameFromClass(rec.Class); ok {
				rec.Username = name // never the code a router may send
			}
		}
	}
	if err := s.accounter.Record(ctx, &rec); err != nil {
		s.drop(e, &s.stats.Internal)
		s.logInternal(ctx, e, logName(acct, rec.Username), err)
		return nil, nil // not durable: no answer, the NAS retransmits
	}
	s.stats.AcctRecorded.Add(1)
	e.counts.acct.Add(1)
	mode := maNone
	if maOff >= 0 {
		mode = maZeroAuth // answer in kind: Message-Authenticator only to a request that had one
	}
	reply := s.encodeMA(e, req, req.Response(radius.CodeAccountingResponse), mode)
	if reply == nil || s.after == nil {
		return reply, nil
	}
	// The answer goes first; the live index and enforcement follow on this worker.
	return reply, func(ctx context.Context) { s.after(ctx, &rec, acct) }
}

// acctRecord reads an Accounting-Request into the domain record.
func (s *Server) acctRecord(e *nasEntry, p *radius.Packet) (tg.AcctRecord, bool) {
	st, err := rfc2866.AcctStatusType_Lookup(p)
	if err != nil {
		return tg.AcctRecord{}, false
	}
	r := tg.AcctRecord{NASID: e.ID, Status: tg.AcctStatus(st)}
	r.SessionID = rfc2866.AcctSessionID_GetString(p)
	switch r.Status {
	case tg.AcctStart, tg.AcctStop, tg.AcctInterim:
		if r.SessionID == "" {
			return r, false
		}
	case tg.AcctAccountingOn, tg.AcctAccountingOff:
	default:
		return r, false
	}
	r.Username = rfc2865.UserName_GetString(p)
	if ts, err := rfc2869.EventTimestamp_Lookup(p); err == nil && !ts.IsZero() {
		r.EventTime = ts
	} else {
		r.EventTime = s.now().Add(-time.Duration(rfc2866.AcctDelayTime_Get(p)) * time.Second)
	}
	r.SessionTime = uint32(rfc2866.AcctSessionTime_Get(p))
	r.InputOctets = uint64(rfc2869.AcctInputGigawords_Get(p))<<32 | uint64(rfc2866.AcctInputOctets_Get(p))
	r.OutputOctets = uint64(rfc2869.AcctOutputGigawords_Get(p))<<32 | uint64(rfc2866.AcctOutputOctets_Get(p))
	r.InputPackets = uint32(rfc2866.AcctInputPackets_Get(p))
	r.OutputPackets = uint32(rfc2866.AcctOutputPackets_Get(p))
	if ip := rfc2865.FramedIPAddress_Get(p); ip != nil {
		if a, ok := netip.AddrFromSlice(ip.To4()); ok {
			r.FramedIP = a
		}
	}
	r.MAC = rfc2865.CallingStationID_GetString(p)
	if mac, ok := tg.NormalizeMAC(r.MAC); ok {
		r.MAC = mac
	}
	r.CalledStationID = rfc2865.CalledStationID_GetString(p)
	r.NASPortID = rfc2869.NASPortID_GetString(p)
	r.Class = rfc2865.Class_GetString(p)
	if c, err := rfc2866.AcctTerminateCause_Lookup(p); err == nil {
		r.TerminateCause = c.String()
	}
	return r, true
}
