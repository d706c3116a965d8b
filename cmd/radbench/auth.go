package main

import (
	"crypto/md5"
	"fmt"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/vendors/microsoft"
)

type authKind int

const (
	authPAP authKind = iota
	authCHAP
	authMSCHAPv2
)

// authScratch is the per-worker state of the Access-Request in flight, kept
// for verifying the reply (MS-CHAPv2 authenticator response).
type authScratch struct {
	pkt    radius.Packet // reused; Attributes backing array is recycled
	cred   *cred
	authCh [16]byte // CHAP-Challenge / MS-CHAP-Challenge
	peerCh [16]byte // MS-CHAPv2 peer challenge
	nt     [24]byte // MS-CHAPv2 NT-Response
	ident  byte     // CHAP / MS-CHAPv2 identifier
	tmp    []byte
}

// authMode sends MikroTik-style PPPoE Access-Requests (PAP, CHAP, MS-CHAPv2).
type authMode struct {
	kind    authKind
	label   string
	secret  []byte
	users   *userCache
	nas     radius.Attributes // constant NAS attributes, shared read-only
	withMA  bool
	withMAC bool
	expect  string
}

func newAuthMode(cfg *config, users *userCache) (*authMode, error) {
	nas, err := nasAttributes()
	if err != nil {
		return nil, err
	}
	m := &authMode{
		label:   cfg.Mode,
		secret:  []byte(cfg.Secret),
		users:   users,
		nas:     nas,
		withMA:  !cfg.NoMessageAuthenticator,
		withMAC: cfg.MAC,
		expect:  cfg.Expect,
	}
	switch cfg.Mode {
	case "pap":
		m.kind = authPAP
	case "chap":
		m.kind = authCHAP
	case "mschapv2":
		m.kind = authMSCHAPv2
	default:
		return nil, fmt.Errorf("not an auth mode: %q", cfg.Mode)
	}
	return m, nil
}

func (m *authMode) name() string        { return m.label }
func (m *authMode) needsAuthConn() bool { return true }
func (m *authMode) needsAcctConn() bool { return false }

func (m *authMode) requestsPerUnit() int64 { return 1 }

// build encodes an Access-Request for user u into fresh wire bytes, with the
// Message-Authenticator (first attribute) already signed.
func (m *authMode) build(w *worker, u int) ([]byte, error) {
	a := &w.auth
	p := &a.pkt
	p.Code = radius.CodeAccessRequest
	p.Identifier = w.id()
	p.Secret = m.secret
	w.rng.Read(p.Authenticator[:]) // random Request Authenticator
	p.Attributes = p.Attributes[:0]
	if m.withMA {
		p.Attributes = append(p.Attributes, maAVP)
	}
	c := m.users.get(u)
	a.cred = c
	if err := rfc2865.UserName_Add(p, c.name); err != nil {
		return nil, err
	}

	switch m.kind {
	case authPAP:
		// Hidden with the secret and the Request Authenticator set above.
		if err := rfc2865.UserPassword_Set(p, c.pass); err != nil {
			return nil, err
		}
	case authCHAP:
		w.rng.Read(a.authCh[:])
		a.ident = byte(w.rng.Uint64())
		// CHAP-Password = ident ‖ MD5(ident ‖ password ‖ challenge)
		a.tmp = append(append(append(a.tmp[:0], a.ident), c.pass...), a.authCh[:]...)
		var cp [17]byte
		cp[0] = a.ident
		sum := md5.Sum(a.tmp)
		copy(cp[1:], sum[:])
		if err := rfc2865.CHAPPassword_Add(p, cp[:]); err != nil {
			return nil, err
		}
		if err := rfc2865.CHAPChallenge_Add(p, a.authCh[:]); err != nil {
			return nil, err
		}
	case authMSCHAPv2:
		w.rng.Read(a.authCh[:])
		w.rng.Read(a.peerCh[:])
		a.ident = byte(w.rng.Uint64())
		nt, err := rfc2759.GenerateNTResponse(a.authCh[:], a.peerCh[:], c.name, c.pass)
		if err != nil {
			return nil, err
		}
		copy(a.nt[:], nt)
		// MS-CHAP2-Response: ident, flags, peer challenge(16), reserved(8), NT-Response(24)
		var resp [50]byte
		resp[0] = a.ident
		copy(resp[2:18], a.peerCh[:])
		copy(resp[26:50], a.nt[:])
		if err := microsoft.MSCHAPChallenge_Add(p, a.authCh[:]); err != nil {
			return nil, err
		}
		if err := microsoft.MSCHAP2Response_Add(p, resp[:]); err != nil {
			return nil, err
		}
	}

	p.Attributes = append(p.Attributes, m.nas...)
	if m.withMAC {
		if err := rfc2865.CallingStationID_AddString(p, c.mac); err != nil {
			return nil, err
		}
	}
	b, err := p.Encode() // Access-Request: authenticator sent as-is
	if err != nil {
		return nil, err
	}
	if m.withMA {
		if err := signMA(b, w.ver.mac); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// transact sends one Access-Request and classifies the reply:
//   - no matching reply within timeout×(retries+1): timeouts++
//   - socket error, bad Response Authenticator/Message-Authenticator, missing
//     or wrong MS-CHAP2-Success, unexpected code: errors++
//   - otherwise accepts++ / rejects++; a verified reply whose code differs
//     from -expect is counted in accepts/rejects *and* in errors.
func (m *authMode) transact(w *worker, u int) {
	st := w.st
	st.sent++
	req, err := m.build(w, u)
	if err != nil {
		st.fail(fmt.Errorf("build request: %w", err))
		return
	}
	reply, lat, err := w.exchange(w.authConn, req)
	if err == errTimeout {
		st.timeouts++
		return
	}
	if err != nil {
		st.fail(err)
		time.Sleep(time.Millisecond) // e.g. ECONNREFUSED: don't spin
		return
	}
	st.completed++
	st.hist.record(lat)

	pkt, hasMA, err := w.ver.verify(reply, req[4:20])
	if err != nil {
		st.fail(err)
		return
	}
	if !hasMA {
		st.noReplyMA++
	}
	switch radius.Code(pkt[0]) {
	case radius.CodeAccessAccept:
		if m.kind == authMSCHAPv2 {
			if err := m.checkMSCHAP2Success(w, pkt); err != nil {
				st.fail(err)
				return
			}
		}
		st.accepts++
		if m.expect == "reject" {
			st.fail(fmt.Errorf("unexpected Access-Accept (expect=reject)"))
		}
	case radius.CodeAccessReject:
		st.rejects++
		if m.expect == "accept" {
			st.fail(fmt.Errorf("unexpected Access-Reject (expect=accept)"))
		}
	default:
		st.fail(fmt.Errorf("unexpected reply code %v", radius.Code(pkt[0])))
	}
}

// checkMSCHAP2Success verifies that an Access-Accept carries MS-CHAP2-Success
// (311/26) = ident ‖ "S=<40 hex>" matching the RFC 2759 authenticator response.
func (m *authMode) checkMSCHAP2Success(w *worker, pkt []byte) error {
	a := &w.auth
	v, ok := findVendorAttr(pkt, vendorMicrosoft, msCHAP2Success)
	if !ok {
		return fmt.Errorf("Access-Accept without MS-CHAP2-Success")
	}
	if len(v) < 43 || v[0] != a.ident {
		return fmt.Errorf("malformed MS-CHAP2-Success (len %d)", len(v))
	}
	want, err := rfc2759.GenerateAuthenticatorResponse(a.authCh[:], a.peerCh[:], a.nt[:], a.cred.name, a.cred.pass)
	if err != nil {
		return err
	}
	if string(v[1:43]) != want {
		return fmt.Errorf("MS-CHAP2-Success authenticator response mismatch")
	}
	return nil
}
