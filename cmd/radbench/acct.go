package main

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
)

// Accounting mode (-mode acct) runs whole PPPoE sessions the way a RouterOS
// NAS reports them: one unit of work (transact) is an Accounting-Request
// Start, -interims Interim-Updates with growing counters, then a Stop
// (Acct-Terminate-Cause User-Request). Each request waits for its
// Accounting-Response before the next one is sent, and each counts on its
// own in sent/accepts/timeouts/errors and the latency histogram; -requests
// counts requests and only whole sessions are started.
//
// Like a NAS, a session carries on after a lost or bad answer: the next
// request of the session is still sent.
//
// With -acct-open a unit is the Start alone, counted as one request: the
// sessions are never stopped, so a server ends up holding that many open ones.
//
// RouterOS sends no Message-Authenticator in accounting, so none is sent by
// default; -acct-message-authenticator adds one (first attribute).

const (
	acctInterval = 300 // simulated interim interval, seconds (interim-update=5m)
	// maxInterims bounds -interims so that session times stay far from 2^32.
	maxInterims = 10000
	// Average packet sizes used to derive packet counts from octets.
	acctOutPktSize = 1200 // to the client (mostly full-size downloads)
	acctInPktSize  = 400  // from the client (ACKs, requests)
)

// acctMode sends MikroTik-style PPPoE Accounting-Requests.
type acctMode struct {
	secret   []byte
	users    *userCache
	consts   radius.Attributes // NAS attributes etc. shared read-only by all workers
	interims int
	open     bool // -acct-open: Start only
	withMA   bool
	big      bool

	// Acct-Session-Id = "%08X" of nextSID (seeded randomly per run, shared by
	// all workers like a NAS's session counter) + "-" + runTag (random per
	// run), so ids are unique across workers and runs.
	nextSID atomic.Uint32
	runTag  string
}

func newAcctMode(cfg *config, users *userCache) (*acctMode, error) {
	consts, err := nasAttributes()
	if err != nil {
		return nil, err
	}
	p := &radius.Packet{Attributes: consts}
	for _, err := range []error{
		rfc2866.AcctAuthentic_Add(p, rfc2866.AcctAuthentic_Value_RADIUS),
		rfc2866.AcctDelayTime_Add(p, 0),
	} {
		if err != nil {
			return nil, err
		}
	}
	if cfg.AcctClass != "" {
		if err := rfc2865.Class_AddString(p, cfg.AcctClass); err != nil {
			return nil, err
		}
	}
	var seed [8]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, err
	}
	m := &acctMode{
		secret:   []byte(cfg.Secret),
		users:    users,
		consts:   p.Attributes,
		interims: cfg.Interims,
		open:     cfg.AcctOpen,
		withMA:   cfg.AcctMessageAuthenticator,
		big:      cfg.BigCounters,
		runTag:   strings.ToUpper(hex.EncodeToString(seed[4:])),
	}
	m.nextSID.Store(binary.BigEndian.Uint32(seed[:4]))
	return m, nil
}

func (m *acctMode) name() string        { return "acct" }
func (m *acctMode) needsAuthConn() bool { return false }
func (m *acctMode) needsAcctConn() bool { return true }
func (m *acctMode) requestsPerUnit() int64 {
	if m.open {
		return 1
	}
	return int64(m.interims) + 2
}

// acctSession is the simulated state of one PPPoE session.
type acctSession struct {
	id        string
	port      uint32 // NAS-Port: the numeric value of the session counter
	cred      *cred
	ip        net.IP
	length    uint32 // Acct-Session-Time of the Stop, seconds
	in, out   uint64 // octet totals at the Stop
	inP, outP uint64 // packet totals at the Stop
}

// acctScratch is the per-worker reusable request packet.
type acctScratch struct {
	pkt radius.Packet
}

// newSession picks the session id and the totals the session will reach at
// its Stop. Without -big-counters every counter stays below 2^32; with it
// every fourth session id pushes both directions past 2^32 (Gigawords > 0).
func (m *acctMode) newSession(w *worker, u int) *acctSession {
	n := m.nextSID.Add(1)
	c := m.users.get(u)
	h := uint32(1 + uint64(u)%(1<<24-2)) // 10.0.0.1 .. 10.255.255.254
	s := &acctSession{
		id:     fmt.Sprintf("%08X-%s", n, m.runTag),
		port:   n,
		cred:   c,
		ip:     net.IPv4(10, byte(h>>16), byte(h>>8), byte(h)),
		length: uint32(m.interims)*acctInterval + 1 + uint32(w.rng.Uint64()%acctInterval),
	}
	if m.big && n%4 == 0 {
		s.out = 5<<30 + w.rng.Uint64()%(75<<30)    // 5..80 GiB
		s.in = 1<<32 + 1 + w.rng.Uint64()%(12<<30) // just over 4 GiB .. 16 GiB
	} else {
		s.out = 1<<20 + w.rng.Uint64()%(3<<30) // 1 MiB .. 3 GiB
		s.in = s.out / (2 + w.rng.Uint64()%15)
	}
	s.outP = s.out/acctOutPktSize + 1
	s.inP = s.in/acctInPktSize + 1
	return s
}

// transact runs one whole session for user u (its Start alone with -acct-open).
func (m *acctMode) transact(w *worker, u int) {
	s := m.newSession(w, u)
	m.send(w, s, rfc2866.AcctStatusType_Value_Start, 0)
	if m.open {
		return
	}
	for j := 1; j <= m.interims; j++ {
		m.send(w, s, rfc2866.AcctStatusType_Value_InterimUpdate, uint32(j)*acctInterval)
	}
	m.send(w, s, rfc2866.AcctStatusType_Value_Stop, s.length)
}

// send performs one Accounting-Request/Response exchange at session time t
// and classifies the outcome: timeouts++, errors++ (socket error, bad
// authenticator or Message-Authenticator, a reply that is not an
// Accounting-Response) or accepts++.
func (m *acctMode) send(w *worker, s *acctSession, status rfc2866.AcctStatusType, t uint32) {
	st := w.st
	st.sent++
	req, err := m.build(w, s, status, t)
	if err != nil {
		st.fail(fmt.Errorf("%v: build request: %w", status, err))
		return
	}
	reply, lat, err := w.exchange(w.acctConn, req)
	if err == errTimeout {
		st.timeouts++
		return
	}
	if err != nil {
		st.fail(fmt.Errorf("%v: %w", status, err))
		time.Sleep(time.Millisecond) // e.g. ECONNREFUSED: don't spin
		return
	}
	st.completed++
	st.hist.record(lat)

	pkt, hasMA, err := w.ver.verify(reply, req[4:20])
	if err != nil {
		st.fail(fmt.Errorf("%v: %w", status, err))
		return
	}
	if code := radius.Code(pkt[0]); code != radius.CodeAccountingResponse {
		st.fail(fmt.Errorf("%v: unexpected reply code %v", status, code))
		return
	}
	if m.withMA && !hasMA {
		st.noReplyMA++
	}
	st.accepts++
}

// at scales a session total to session time t of s.length (t <= s.length),
// so every counter grows monotonically up to its total at the Stop.
func (s *acctSession) at(total uint64, t uint32) uint64 {
	hi, lo := bits.Mul64(total, uint64(t))
	q, _ := bits.Div64(hi, lo, uint64(s.length)) // hi < length since t <= length
	return q
}

// build encodes one Accounting-Request with its Request Authenticator (and
// Message-Authenticator when enabled) filled in.
func (m *acctMode) build(w *worker, s *acctSession, status rfc2866.AcctStatusType, t uint32) ([]byte, error) {
	p := &w.acct.pkt
	p.Code = radius.CodeAccountingRequest
	p.Identifier = w.id()
	p.Secret = m.secret
	p.Authenticator = [16]byte{} // zero while the MA is computed (RFC 3579 §3.2)
	p.Attributes = p.Attributes[:0]
	if m.withMA {
		p.Attributes = append(p.Attributes, maAVP)
	}
	_ = rfc2866.AcctStatusType_Add(p, status)
	if err := rfc2866.AcctSessionID_AddString(p, s.id); err != nil {
		return nil, err
	}
	if err := rfc2865.UserName_Add(p, s.cred.name); err != nil {
		return nil, err
	}
	_ = rfc2865.NASPort_Add(p, rfc2865.NASPort(s.port))
	if err := rfc2865.FramedIPAddress_Add(p, s.ip); err != nil {
		return nil, err
	}
	if err := rfc2865.CallingStationID_AddString(p, s.cred.mac); err != nil {
		return nil, err
	}
	p.Attributes = append(p.Attributes, m.consts...)
	if status != rfc2866.AcctStatusType_Value_Start {
		in, out := s.at(s.in, t), s.at(s.out, t)
		_ = rfc2866.AcctSessionTime_Add(p, rfc2866.AcctSessionTime(t))
		_ = rfc2866.AcctInputOctets_Add(p, rfc2866.AcctInputOctets(uint32(in)))
		_ = rfc2866.AcctOutputOctets_Add(p, rfc2866.AcctOutputOctets(uint32(out)))
		_ = rfc2869.AcctInputGigawords_Add(p, rfc2869.AcctInputGigawords(uint32(in>>32)))
		_ = rfc2869.AcctOutputGigawords_Add(p, rfc2869.AcctOutputGigawords(uint32(out>>32)))
		_ = rfc2866.AcctInputPackets_Add(p, rfc2866.AcctInputPackets(clamp32(s.at(s.inP, t))))
		_ = rfc2866.AcctOutputPackets_Add(p, rfc2866.AcctOutputPackets(clamp32(s.at(s.outP, t))))
	}
	if status == rfc2866.AcctStatusType_Value_Stop {
		_ = rfc2866.AcctTerminateCause_Add(p, rfc2866.AcctTerminateCause_Value_UserRequest)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if m.withMA {
		if err := signMA(b, w.ver.mac); err != nil { // authenticator field still zero
			return nil, err
		}
	}
	signAcctRequest(b, w.ver)
	return b, nil
}

func clamp32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// signAcctRequest writes the Request Authenticator of an encoded
// Accounting-Request (RFC 2866 §3) into b[4:20]:
// MD5(Code‖ID‖Length‖16 zero octets‖Attributes‖Secret). Any
// Message-Authenticator must already be signed.
func signAcctRequest(b []byte, v *verifier) {
	clear(b[4:20])
	v.md5h.Reset()
	v.md5h.Write(b)
	v.md5h.Write(v.secret)
	v.md5h.Sum(b[4:4]) // writes the 16-byte digest in place into b[4:20]
}
