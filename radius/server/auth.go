package server

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"log/slog"
	"net/netip"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	tg "tollgate/radius"
	"tollgate/radius/dict/microsoft"
	"tollgate/radius/dict/mikrotik"
	"tollgate/radius/mschap"
)

const (
	typeMessageAuthenticator = 80
	typeProxyState           = 33
	typeVendorSpecific       = 26
	maxProxyStates           = 4 // BlastRADIUS guidance: limit Proxy-State
)

// handle answers one verified-size datagram from a known NAS, sent from src, returning
// the reply bytes (nil to send nothing) and work to run once the reply is sent (or nil).
func (s *Server) handle(ctx context.Context, e *nasEntry, src netip.Addr, b []byte, acctPort bool) ([]byte, func(context.Context)) {
	switch code := radius.Code(b[0]); {
	case code == radius.CodeAccessRequest && !acctPort:
		return s.access(ctx, e, b), nil
	case code == radius.CodeAccountingRequest && acctPort:
		return s.accounting(ctx, e, src, b)
	case code == radius.CodeStatusServer:
		return s.status(e, b, acctPort), nil
	default:
		s.drop(e, &s.stats.UnknownCode)
		return nil, nil
	}
}

// findMA returns the offset of the Message-Authenticator value in b, -1 when absent, or
// -2 when the attribute list is malformed or holds a wrongly sized or repeated MA.
func findMA(b []byte) int {
	off := -1
	for i := 20; i < len(b); {
		if i+2 > len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return -2
		}
		if b[i] == typeMessageAuthenticator {
			if b[i+1] != 18 || off != -1 {
				return -2
			}
			off = i + 2
		}
		i += int(b[i+1])
	}
	return off
}

// verifyMA checks Message-Authenticator in place (RFC 3579 §3.2): HMAC-MD5 with the
// secret over the packet with the value zeroed. The packet's authenticator field is used
// as it came (the Request Authenticator of an Access-Request or Status-Server).
func verifyMA(e *nasEntry, b []byte, off int) bool {
	var got [16]byte
	copy(got[:], b[off:off+16])
	clear(b[off : off+16])
	want := e.mac(b)
	copy(b[off:off+16], got[:])
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// status answers Status-Server (RFC 5997), which must carry a valid Message-Authenticator:
// Access-Accept on the auth port, Accounting-Response on the accounting port.
func (s *Server) status(e *nasEntry, b []byte, acctPort bool) []byte {
	off := findMA(b)
	if off < 0 || !verifyMA(e, b, off) {
		s.drop(e, &s.stats.BadAuthenticator)
		return nil
	}
	req, err := parsePacket(b, e.Secret)
	if err != nil {
		s.drop(e, &s.stats.Malformed)
		return nil
	}
	s.stats.StatusServer.Add(1)
	code := radius.CodeAccessAccept
	if acctPort {
		code = radius.CodeAccountingResponse
	}
	return s.encode(e, req, req.Response(code))
}

// access handles an Access-Request end to end.
func (s *Server) access(ctx context.Context, e *nasEntry, b []byte) []byte {
	switch off := findMA(b); {
	case off == -2:
		s.drop(e, &s.stats.Malformed)
		return nil
	case off == -1:
		if e.requireMA {
			s.drop(e, &s.stats.MissingMA)
			return nil
		}
	default:
		if !verifyMA(e, b, off) {
			s.drop(e, &s.stats.BadAuthenticator)
			return nil
		}
	}
	req, err := parsePacket(b, e.Secret)
	if err != nil {
		s.drop(e, &s.stats.Malformed)
		return nil
	}
	username := rfc2865.UserName_GetString(req)
	if username == "" {
		s.drop(e, &s.stats.Malformed)
		return nil
	}
	ar := tg.AuthRequest{NASID: e.ID, NASName: e.Name, Username: username, Service: service(req)}
	ar.CallingStationID = rfc2865.CallingStationID_GetString(req)
	if mac, ok := tg.NormalizeMAC(ar.CallingStationID); ok {
		ar.CallingStationID = mac
	}
	ar.CalledStationID = rfc2865.CalledStationID_GetString(req)

	c := credential{}
	c.read(req, e.Secret)
	ar.Method = c.method

	d, extra, acct := s.authorize(ctx, e, req, &ar, &c)
	if d.Reason == tg.ReasonInternal {
		e.counts.drops.Add(1) // counted in stats.Internal where it failed
		return nil            // no answer: the NAS retries or fails over to its next server
	}
	if s.authlog != nil {
		s.authlog.Log(tg.AuthLogEntry{At: s.now().UnixNano(), NASID: e.ID, Username: logName(acct, username), MAC: ar.CallingStationID, Method: ar.Method, Reason: d.Reason})
	}
	s.stats.reasons[d.Reason%maxReasons].Add(1)
	if !d.Accept {
		s.stats.Rejects.Add(1)
		e.counts.rejects.Add(1)
		resp := req.Response(radius.CodeAccessReject)
		rfc2865.ReplyMessage_SetString(resp, d.Reason.Message())
		if extra != nil {
			extra(resp)
		}
		return s.encode(e, req, resp)
	}
	s.stats.Accepts.Add(1)
	e.counts.accepts.Add(1)
	resp := req.Response(radius.CodeAccessAccept)
	resp.Attributes = make(radius.Attributes, 0, 16) // an Accept's usual attributes, without regrowing
	addAccept(resp, &d)
	if extra != nil {
		extra(resp)
	}
	return s.encode(e, req, resp)
}

// logName is the user name a log or the auth log may keep for a request: the account's
// own name when one was found, a MAC as sent, and otherwise a masked form, since a name
// that found nothing may be a mistyped voucher code or password.
func logName(a *tg.Account, sent string) string {
	if a != nil {
		return a.Username
	}
	if _, ok := tg.NormalizeMAC(sent); ok {
		return sent
	}
	return tg.MaskCode(sent)
}

func service(p *radius.Packet) tg.Service {
	v, err := rfc2865.ServiceType_Lookup(p)
	switch {
	case err == nil && v == rfc2865.ServiceType_Value_FramedUser:
		return tg.ServiceFramed
	case err == nil && v == rfc2865.ServiceType_Value_LoginUser:
		return tg.ServiceLogin
	}
	if _, err := rfc2865.FramedProtocol_Lookup(p); err == nil {
		return tg.ServiceFramed
	}
	if err == nil {
		return tg.ServiceOther
	}
	return tg.ServiceUnknown
}

// credential is the proof a request carries, picked out of the packet.
type credential struct {
	method    tg.Method
	malformed bool   // a User-Password that does not decode, or more than one
	password  []byte // PAP, decoded
	chap      []byte // CHAP-Password: ident ‖ 16-byte response
	challenge []byte // CHAP-Challenge or MS-CHAP-Challenge
	msResp    []byte // MS-CHAP-Response or MS-CHAP2-Response
}

func (c *credential) read(p *radius.Packet, secret []byte) {
	switch {
	case has(p, rfc2865.UserPassword_Type):
		c.method = tg.MethodPAP
		c.password, c.malformed = decodePassword(p, secret)
	case has(p, rfc2865.CHAPPassword_Type):
		c.method = tg.MethodCHAP
		c.chap = rfc2865.CHAPPassword_Get(p)
		if ch, err := rfc2865.CHAPChallenge_Lookup(p); err == nil {
			c.challenge = ch
		} else {
			c.challenge = p.Authenticator[:]
		}
	default:
		c.challenge = microsoft.MSCHAPChallenge_Get(p)
		if r := microsoft.MSCHAP2Response_Get(p); r != nil {
			c.method, c.msResp = tg.MethodMSCHAPv2, r
		} else if r := microsoft.MSCHAPResponse_Get(p); r != nil {
			c.method, c.msResp = tg.MethodMSCHAPv1, r
		}
	}
}

// decodePassword reveals User-Password (RFC 2865 §5.2) and reports malformed for
// anything but one attribute of 16 to 128 octets, a multiple of 16, whose clear text is
// the password followed only by NUL padding. layeh's decoder cuts at the first NUL, so
// a value that is all NULs but for its tail would read as the empty password a MAC
// login sends; here it is malformed and rejected.
func decodePassword(p *radius.Packet, secret []byte) (pw []byte, malformed bool) {
	var a []byte
	n := 0
	for _, avp := range p.Attributes {
		if avp.Type == rfc2865.UserPassword_Type {
			a = avp.Attribute
			n++
		}
	}
	if n != 1 || len(a) < 16 || len(a) > 128 || len(a)%16 != 0 || len(secret) == 0 {
		return nil, true
	}
	dec := make([]byte, len(a))
	h := md5.New()
	var sum [16]byte
	prev := p.Authenticator[:]
	for i := 0; i < len(a); i += 16 {
		h.Reset()
		h.Write(secret)
		h.Write(prev)
		h.Sum(sum[:0])
		for j := 0; j < 16; j++ {
			dec[i+j] = a[i+j] ^ sum[j]
		}
		prev = a[i : i+16]
	}
	end := len(dec)
	for end > 0 && dec[end-1] == 0 {
		end--
	}
	if bytes.IndexByte(dec[:end], 0) >= 0 {
		return nil, true
	}
	return dec[:end], false
}

func has(p *radius.Packet, t radius.Type) bool {
	for _, a := range p.Attributes {
		if a.Type == t {
			return true
		}
	}
	return false
}

// authorize finds the account, checks the credential and applies the rules. extra, when
// set, adds method-specific attributes (MS-CHAP success or error, MPPE keys) to the
// reply; acct is the account the request resolved to (nil when none).
//
// A MAC login is for hotspot logins only: a request whose User-Name is a MAC and whose
// Service-Type is Login-User or absent (never Framed-User, a PPPoE session, nor any
// other Service-Type) first looks for a subscriber that
// may log in by that MAC, and only such a subscriber accepts the MAC login's password
// (none, empty, or the MAC). Everything else needs the account's own password.
func (s *Server) authorize(ctx context.Context, e *nasEntry, req *radius.Packet, ar *tg.AuthRequest, c *credential) (tg.Decision, func(*radius.Packet), *tg.Account) {
	if c.malformed {
		return tg.Reject(tg.ReasonMalformed), nil, nil
	}
	var acct *tg.Account
	var usage tg.Usage
	var err error
	mac, isMAC := tg.NormalizeMAC(ar.Username)
	// A MAC login only with Service-Type Login-User or none: never for a PPP session,
	// nor for a Service-Type that asks for something else.
	hotspotLogin := ar.Service == tg.ServiceLogin || ar.Service == tg.ServiceUnknown
	macLogin := false
	switch {
	case isMAC && hotspotLogin && (c.method == tg.MethodUnknown || c.method == tg.MethodPAP || c.method == tg.MethodCHAP):
		acct, usage, err = s.accounts.AuthorizeMAC(ctx, mac)
		switch {
		case err == nil:
			macLogin = true
			if c.method == tg.MethodUnknown {
				ar.Method, c.method = tg.MethodMAC, tg.MethodMAC
			}
		case tg.ErrorCode(err) == tg.ENOTFOUND && c.method != tg.MethodUnknown:
			// A hotspot user whose name looks like a MAC, with a password of its own.
			acct, usage, err = s.accounts.Authorize(ctx, ar.Username)
		}
	case c.method == tg.MethodUnknown:
		if !hotspotLogin || isMAC {
			return tg.Reject(tg.ReasonUnsupportedMethod), nil, nil
		}
		// A MAC-cookie re-login of a MAC-locked voucher: its code and its bound device.
		acct, usage, err = s.accounts.Authorize(ctx, ar.Username)
		switch {
		case err == nil && !acct.MACRelogin(ar.CallingStationID):
			return tg.Reject(tg.ReasonUnsupportedMethod), nil, acct
		case tg.ErrorCode(err) == tg.ENOTFOUND:
			return tg.Reject(tg.ReasonUnsupportedMethod), nil, nil
		}
		if err == nil {
			ar.Method, c.method = tg.MethodMAC, tg.MethodMAC
		}
	default:
		acct, usage, err = s.accounts.Authorize(ctx, ar.Username)
	}
	switch code := tg.ErrorCode(err); code {
	case "":
	case tg.ENOTFOUND:
		// A blocked device gets the same answer for an unknown code as for a valid one,
		// so that the answer tells a guesser nothing.
		if s.throttled(ctx, e, ar, nil) {
			return tg.Reject(tg.ReasonThrottled), msError(c, req), nil
		}
		return s.failed(ctx, e, ar, nil, tg.ReasonUnknownUser), msError(c, req), nil
	default:
		s.stats.Internal.Add(1)
		s.logInternal(ctx, e, logName(nil, ar.Username), err)
		return tg.Reject(tg.ReasonInternal), nil, nil
	}
	if s.throttled(ctx, e, ar, acct) {
		return tg.Reject(tg.ReasonThrottled), msError(c, req), acct
	}
	var ok bool
	var extra func(*radius.Packet)
	if macLogin {
		if ok = checkMACLogin(c, ar.Username, acct); ok {
			ar.Method = tg.MethodMAC
		}
	}
	if !ok {
		ok, extra = s.checkCredential(e, req, acct, ar, c)
	}
	if !ok {
		return s.failed(ctx, e, ar, acct, tg.ReasonBadPassword), msError(c, req), acct
	}
	now := s.now()
	d := tg.Decide(ar, acct, usage, now)
	if act := s.activator.Load(); d.Accept && act != nil && *act != nil && acct.NeedsActivation() {
		// The first accepted login starts the voucher; decide again with the values of
		// whichever request activated it (another router may have won the race).
		mac, _ := tg.NormalizeMAC(ar.CallingStationID)
		if acct, err = (*act).Activate(ctx, acct, mac, now); err != nil {
			s.stats.Internal.Add(1)
			s.logInternal(ctx, e, logName(acct, ar.Username), err)
			return tg.Reject(tg.ReasonInternal), nil, nil
		}
		d = tg.Decide(ar, acct, usage, now)
	}
	if !d.Accept {
		return d, msError(c, req), acct
	}
	return d, extra, acct
}

// checkMACLogin reports whether c is what a router sends for a MAC login of a: no
// password, the empty password, or the MAC itself (as sent, or normalized), by PAP or
// CHAP. It is asked only for an account found by its MAC (Account.MACLogin).
func checkMACLogin(c *credential, sent string, a *tg.Account) bool {
	if !a.MACLogin {
		return false
	}
	switch c.method {
	case tg.MethodMAC:
		return true
	case tg.MethodPAP:
		return len(c.password) == 0 || string(c.password) == sent || string(c.password) == a.MAC
	case tg.MethodCHAP:
		for _, pw := range [...]string{"", sent, a.MAC} {
			if chapMatches(c, []byte(pw)) {
				return true
			}
		}
	}
	return false
}

// voucherLogin reports whether a request is a voucher login the throttle counts: a
// hotspot login (not a PPPoE session) that found a voucher or nothing at all.
func voucherLogin(ar *tg.AuthRequest, a *tg.Account) bool {
	return ar.Service != tg.ServiceFramed && (a == nil || a.IsVoucher())
}

// throttled reports whether a voucher login comes from a device or NAS with too many
// recent failures. Without a throttle, or when it cannot be read, nothing is throttled:
// the code space (at least 2^40) still makes guessing hopeless at RADIUS rates.
func (s *Server) throttled(ctx context.Context, e *nasEntry, ar *tg.AuthRequest, a *tg.Account) bool {
	t := s.throttle.Load()
	if t == nil || *t == nil || !voucherLogin(ar, a) {
		return false
	}
	mac, _ := tg.NormalizeMAC(ar.CallingStationID)
	blocked, err := (*t).Blocked(ctx, mac, e.ID)
	if err != nil {
		s.stats.ThrottleErrors.Add(1)
		return false
	}
	return blocked
}

// failed rejects a voucher login that named no account or a wrong credential, counting
// the failure against the device and the NAS.
func (s *Server) failed(ctx context.Context, e *nasEntry, ar *tg.AuthRequest, a *tg.Account, r tg.Reason) tg.Decision {
	if t := s.throttle.Load(); t != nil && *t != nil && voucherLogin(ar, a) {
		mac, _ := tg.NormalizeMAC(ar.CallingStationID)
		if err := (*t).Fail(ctx, mac, e.ID); err != nil {
			s.stats.ThrottleErrors.Add(1)
		}
	}
	return tg.Reject(r)
}

// chapMatches reports whether c's CHAP-Password is MD5(ident ‖ pw ‖ challenge).
func chapMatches(c *credential, pw []byte) bool {
	if len(c.chap) != 17 {
		return false
	}
	h := md5.New()
	h.Write(c.chap[:1])
	h.Write(pw)
	h.Write(c.challenge)
	var sum [16]byte
	return subtle.ConstantTimeCompare(h.Sum(sum[:0]), c.chap[1:]) == 1
}

// checkCredential verifies the proof against the account's password. A voucher's
// password (its code, in code mode) is compared without regard to case over PAP, as
// codes are case-insensitive; CHAP hashes what the guest typed, so the captive page
// upper-cases codes before hashing.
func (s *Server) checkCredential(e *nasEntry, req *radius.Packet, a *tg.Account, ar *tg.AuthRequest, c *credential) (bool, func(*radius.Packet)) {
	switch c.method {
	case tg.MethodPAP:
		if subtle.ConstantTimeCompare(c.password, a.Password) == 1 {
			return true, nil
		}
		if a.IsVoucher() {
			return subtle.ConstantTimeCompare([]byte(tg.NormalizeCode(string(c.password))), a.Password) == 1, nil
		}
		return false, nil
	case tg.MethodMAC:
		// No password at all: only a MAC-locked voucher re-logging in from its device
		// (MACRelogin, checked before) or a MAC login (checkMACLogin) gets here.
		return a.MACRelogin(ar.CallingStationID), nil
	case tg.MethodCHAP:
		return chapMatches(c, a.Password), nil
	case tg.MethodMSCHAPv2:
		r, ok := mschap.VerifyV2(mschap.NTPasswordHash(string(a.Password)), c.challenge, c.msResp, mschap.StripDomain(ar.Username))
		if !ok {
			return false, nil
		}
		return true, func(p *radius.Packet) {
			send, recv := mschap.MPPEKeysV2(r.MasterKey)
			_ = microsoft.MSCHAP2Success_Add(p, mschap.SuccessV2(r))
			_ = microsoft.MSMPPESendKey_Add(p, send[:])
			_ = microsoft.MSMPPERecvKey_Add(p, recv[:])
			_ = microsoft.MSMPPEEncryptionPolicy_Add(p, 1)
			_ = microsoft.MSMPPEEncryptionTypes_Add(p, 6)
		}
	case tg.MethodMSCHAPv1:
		pw := mschap.NTPasswordHash(string(a.Password))
		if _, ok := mschap.VerifyV1(pw, c.challenge, c.msResp); !ok {
			return false, nil
		}
		return true, func(p *radius.Packet) {
			keys := mschap.MPPEKeysV1(pw)
			_ = microsoft.MSCHAPMPPEKeys_Add(p, keys[:24])
			_ = microsoft.MSMPPEEncryptionPolicy_Add(p, 1)
			_ = microsoft.MSMPPEEncryptionTypes_Add(p, 6)
		}
	}
	return false, nil
}

// msError returns the MS-CHAP-Error a rejected MS-CHAP request needs, or nil.
func msError(c *credential, req *radius.Packet) func(*radius.Packet) {
	var ident byte
	if len(c.msResp) > 0 {
		ident = c.msResp[0]
	}
	switch c.method {
	case tg.MethodMSCHAPv2:
		return func(p *radius.Packet) { _ = microsoft.MSCHAPError_Add(p, mschap.ErrorV2(ident, c.challenge)) }
	case tg.MethodMSCHAPv1:
		return func(p *radius.Packet) { _ = microsoft.MSCHAPError_Add(p, mschap.ErrorV1(ident)) }
	}
	return nil
}

// addAccept writes the decision's MikroTik and standard attributes.
func addAccept(p *radius.Packet, d *tg.Decision) {
	if d.SessionTimeout > 0 {
		rfc2865.SessionTimeout_Set(p, rfc2865.SessionTimeout(d.SessionTimeout))
	}
	if d.Interim > 0 {
		rfc2869.AcctInterimInterval_Set(p, rfc2869.AcctInterimInterval(d.Interim))
	}
	if d.RateLimit != "" {
		_ = mikrotik.MikrotikRateLimit_AddString(p, d.RateLimit)
	}
	if d.FramedIP.IsValid() && d.FramedIP.Is4() {
		_ = rfc2865.FramedIPAddress_Set(p, d.FramedIP.AsSlice())
	} else if d.Pool != "" {
		_ = rfc2869.FramedPool_SetString(p, d.Pool)
	}
	if d.AddressList != "" {
		_ = mikrotik.MikrotikAddressList_AddString(p, d.AddressList)
	}
	if d.DataLimited {
		left := uint64(d.DataLeft)
		_ = mikrotik.MikrotikTotalLimit_Add(p, mikrotik.MikrotikTotalLimit(uint32(left)))
		_ = mikrotik.MikrotikTotalLimitGigawords_Add(p, mikrotik.MikrotikTotalLimitGigawords(uint32(left>>32)))
	}
	if d.Class != "" {
		_ = rfc2865.Class_SetString(p, d.Class)
	}
	if d.UserName != "" {
		_ = rfc2865.UserName_SetString(p, d.UserName)
	}
}

// maMode says how a reply carries Message-Authenticator.
type maMode uint8

const (
	// maRequestAuth: first attribute, computed with the Request Authenticator in the
	// header (Access-Accept/Reject/Challenge, and answers to Status-Server).
	maRequestAuth maMode = iota
	// maZeroAuth: computed with a zeroed authenticator field, as FreeRADIUS does for an
	// Accounting-Response to a request that carried one.
	maZeroAuth
	// maNone: no Message-Authenticator (an Accounting-Response to a request without one,
	// as RouterOS sends).
	maNone
)

// encode signs and serializes a reply: Message-Authenticator first (BlastRADIUS), computed
// with the Request Authenticator in the header, then the Response Authenticator
// MD5(Code‖ID‖Length‖RequestAuth‖Attributes‖Secret). Proxy-State is echoed (RFC 2865 §5.33).
func (s *Server) encode(e *nasEntry, req, resp *radius.Packet) []byte {
	return s.encodeMA(e, req, resp, maRequestAuth)
}

func (s *Server) encodeMA(e *nasEntry, req, resp *radius.Packet, mode maMode) []byte {
	attrs := make(radius.Attributes, 0, len(resp.Attributes)+1+maxProxyStates)
	if mode != maNone {
		attrs = append(attrs, &radius.AVP{Type: typeMessageAuthenticator, Attribute: make([]byte, 16)})
	}
	attrs = append(attrs, resp.Attributes...)
	n := 0
	for _, a := range req.Attributes {
		if a.Type == typeProxyState && n < maxProxyStates {
			attrs = append(attrs, a)
			n++
		}
	}
	resp.Attributes = attrs
	b, err := resp.MarshalBinary() // header carries the Request Authenticator (Response copies it)
	if err != nil {
		s.drop(e, &s.stats.Internal)
		return nil
	}
	switch mode {
	case maRequestAuth:
		mac := e.mac(b)
		copy(b[22:38], mac[:])
	case maZeroAuth:
		var zero [16]byte
		mac := e.mac(b[:4], zero[:], b[20:])
		copy(b[22:38], mac[:])
	}
	h := md5.New()
	h.Write(b)
	h.Write(e.Secret)
	var sum [16]byte
	copy(b[4:20], h.Sum(sum[:0]))
	return b
}

// logInternal logs an internal error at most once a second, so an outage does not flood
// the log with one line per packet (the counter still counts each).
func (s *Server) logInternal(ctx context.Context, e *nasEntry, user string, err error) {
	now := s.now().UnixNano()
	last := s.lastLog.Load()
	if now-last < int64(time.Second) || !s.lastLog.CompareAndSwap(last, now) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelError, "radius: authorize", slog.String("nas", e.Name), slog.String("user", user), slog.String("code", tg.EINTERNAL), slog.String("err", err.Error()))
}
