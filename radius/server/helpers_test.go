package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	tg "tollgate/radius"
	"tollgate/radius/dict/microsoft"
	"tollgate/radius/mschap"
	"tollgate/radius/radiustest"
)

// The fakes in radiustest satisfy what the engine consumes.
var (
	_ Accounts      = (*radiustest.Accounts)(nil)
	_ tg.AuthLogger = (*radiustest.AuthLog)(nil)
)

var (
	testSecret = []byte("testing123")
	// testNow is the engine's clock in every test, so Session-Timeout is exact.
	testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// wait bounds every read and every poll: well above any local round trip, well below
// a test timeout.
const wait = 2 * time.Second

// fakeClock is a settable clock that is safe to read from the engine's goroutines.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testNAS is the NAS every test talks as: 127.0.0.1 with secret "testing123".
func testNAS(requireMA bool) tg.NAS {
	return tg.NAS{
		ID:                          7,
		Name:                        "test-nas",
		Prefix:                      netip.MustParsePrefix("127.0.0.1/32"),
		Secret:                      testSecret,
		RequireMessageAuthenticator: requireMA,
	}
}

// pppoeAccount is an active PPPoE account valid for two more hours.
func pppoeAccount() *tg.Account {
	return &tg.Account{
		ID:          42,
		Username:    "alice",
		Password:    []byte("s3cret!"),
		Status:      tg.StatusActive,
		PlanID:      3,
		PlanName:    "Home 4M",
		Kind:        tg.KindPPPoE,
		RateLimit:   "2M/4M 4M/8M 1M/2M 10/10 8",
		ValidUntil:  testNow.Add(2 * time.Hour),
		Interim:     5 * time.Minute,
		Pool:        "pppoe-pool",
		AddressList: "customers",
	}
}

// macAccount is an active hotspot account bound to AA:BB:CC:DD:EE:FF.
func macAccount() *tg.Account {
	return &tg.Account{
		ID:          77,
		Username:    "device-77",
		Password:    []byte("unused-pw"),
		Status:      tg.StatusActive,
		MAC:         "AA:BB:CC:DD:EE:FF",
		MACLogin:    true,
		Kind:        tg.KindHotspot,
		RateLimit:   "1M/2M",
		UptimeLimit: time.Hour,
		AddressList: "hotspot",
	}
}

// cloneAccount copies a as a real store would hand out a fresh value per call.
func cloneAccount(a *tg.Account) *tg.Account {
	c := *a
	c.Password = bytes.Clone(a.Password)
	return &c
}

// directory serves fixed accounts through a radiustest.Accounts fake and records the
// lookups it was asked for.
type directory struct {
	mu       sync.Mutex
	accounts []*tg.Account
	users    []string
	macs     []string
}

func newDirectory(accounts ...*tg.Account) *directory {
	return &directory{accounts: accounts}
}

// Fake returns the function-field fake backed by d.
func (d *directory) Fake() *radiustest.Accounts {
	return &radiustest.Accounts{
		FindByUsernameFn: func(_ context.Context, u string) (*tg.Account, error) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.users = append(d.users, u)
			for _, a := range d.accounts {
				if a.Username == u {
					return cloneAccount(a), nil
				}
			}
			return nil, tg.Errorf(tg.ENOTFOUND, "no account %q", u)
		},
		FindByMACFn: func(_ context.Context, mac string) (*tg.Account, error) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.macs = append(d.macs, mac)
			for _, a := range d.accounts {
				if a.MAC != "" && a.MAC == mac && a.MACLogin {
					return cloneAccount(a), nil
				}
			}
			return nil, tg.Errorf(tg.ENOTFOUND, "no account with MAC %q", mac)
		},
	}
}

// Lookups returns the arguments FindByUsername and FindByMAC were called with.
func (d *directory) Lookups() (users, macs []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.users...), append([]string(nil), d.macs...)
}

// harness is a running server with its fakes and a client socket on 127.0.0.1.
type harness struct {
	srv   *Server
	log   *radiustest.AuthLog
	clock *fakeClock
	conn  *net.UDPConn
}

// MustServer starts a server on 127.0.0.1:0 that knows nas and reads accounts, with a
// fake clock at testNow. Workers default to 1 so packets are handled in the order they
// arrive, which MustNoReply relies on. The server is shut down when the test ends.
func MustServer(tb testing.TB, cfg Config, nas tg.NAS, accounts Accounts) *harness {
	tb.Helper()
	cfg.AuthAddr = "127.0.0.1:0"
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	h := &harness{log: &radiustest.AuthLog{}, clock: newFakeClock(testNow)}
	h.srv = New(cfg, accounts, h.log, testLogger())
	h.srv.now = h.clock.Now
	h.srv.SetNAS([]tg.NAS{nas})
	if err := h.srv.Start(); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		if err := h.srv.Shutdown(ctx); err != nil {
			tb.Errorf("second Shutdown: %v", err)
		}
	})
	h.conn = MustDial(tb, h.srv.AuthAddr(), netip.Addr{})
	return h
}

// testLogger discards, unless TOLLGATE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// MustDial returns a UDP socket connected to to, bound to from when it is valid.
func MustDial(tb testing.TB, to netip.AddrPort, from netip.Addr) *net.UDPConn {
	tb.Helper()
	var laddr *net.UDPAddr
	if from.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(to))
	if err != nil {
		tb.Fatalf("dial %s from %s: %v", to, from, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// MustWrite sends one datagram.
func MustWrite(tb testing.TB, c *net.UDPConn, b []byte) {
	tb.Helper()
	if _, err := c.Write(b); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// MustRead returns the next datagram, failing after wait.
func MustRead(tb testing.TB, c *net.UDPConn) []byte {
	tb.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		tb.Fatalf("deadline: %v", err)
	}
	buf := make([]byte, 8192)
	n, err := c.Read(buf)
	if err != nil {
		tb.Fatalf("read reply: %v", err)
	}
	return buf[:n]
}

// MustExchange sends req and returns the next datagram.
func MustExchange(tb testing.TB, c *net.UDPConn, req []byte) []byte {
	tb.Helper()
	MustWrite(tb, c, req)
	return MustRead(tb, c)
}

// MustNoReply proves that nothing was sent back on c for what was sent before: it
// sends a Status-Server probe and requires the next datagram to be the probe's answer.
// With one worker, the server finishes (and answers, if it would) every earlier packet
// before it handles the probe.
func MustNoReply(tb testing.TB, c *net.UDPConn) {
	tb.Helper()
	probe := MustEncode(tb, radius.New(radius.CodeStatusServer, testSecret), true)
	MustWrite(tb, c, probe)
	got := MustRead(tb, c)
	if len(got) < 20 || got[1] != probe[1] || !radius.IsAuthenticResponse(got, probe, testSecret) {
		tb.Fatalf("expected no reply, got a %d-byte datagram (code %d) before the probe's answer", len(got), got[0])
	}
}

// MustEventually polls cond until it holds, failing after wait.
func MustEventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// newRequest returns an Access-Request for user as RouterOS sends it.
func newRequest(tb testing.TB, secret []byte, user string) *radius.Packet {
	tb.Helper()
	p := radius.New(radius.CodeAccessRequest, secret)
	if err := rfc2865.UserName_SetString(p, user); err != nil {
		tb.Fatalf("User-Name: %v", err)
	}
	if err := rfc2865.NASIdentifier_SetString(p, "router1"); err != nil {
		tb.Fatalf("NAS-Identifier: %v", err)
	}
	return p
}

// papRequest returns a PPP Access-Request with User-Password.
func papRequest(tb testing.TB, user, password string) *radius.Packet {
	tb.Helper()
	p := newRequest(tb, testSecret, user)
	if err := rfc2865.UserPassword_SetString(p, password); err != nil {
		tb.Fatalf("User-Password: %v", err)
	}
	_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	_ = rfc2865.FramedProtocol_Set(p, rfc2865.FramedProtocol_Value_PPP)
	return p
}

// MustEncode serializes a request. With ma, Message-Authenticator is added as the first
// attribute and signed: HMAC-MD5 with the packet's secret over the encoded packet with
// the value zeroed and the Request Authenticator in the header.
func MustEncode(tb testing.TB, p *radius.Packet, ma bool) []byte {
	tb.Helper()
	if ma {
		p.Attributes = append(radius.Attributes{{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)}}, p.Attributes...)
	}
	b, err := p.Encode()
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	if ma {
		m := hmac.New(md5.New, p.Secret)
		m.Write(b)
		copy(b[22:38], m.Sum(nil))
	}
	return b
}

// MustReply checks that reply answers request: same Identifier, a valid Response
// Authenticator, exactly one Message-Authenticator, first and valid. It returns the
// parsed reply.
func MustReply(tb testing.TB, reply, request []byte) *radius.Packet {
	tb.Helper()
	if len(reply) < 38 {
		tb.Fatalf("reply is %d bytes", len(reply))
	}
	if reply[1] != request[1] {
		tb.Fatalf("reply Identifier = %d, request %d", reply[1], request[1])
	}
	if !radius.IsAuthenticResponse(reply, request, testSecret) {
		tb.Fatalf("reply authenticator is not valid for the request")
	}
	if radius.Type(reply[20]) != rfc2869.MessageAuthenticator_Type || reply[21] != 18 {
		tb.Fatalf("first reply attribute is %d (len %d), want Message-Authenticator", reply[20], reply[21])
	}
	b := bytes.Clone(reply)
	copy(b[4:20], request[4:20])
	clear(b[22:38])
	m := hmac.New(md5.New, testSecret)
	m.Write(b)
	if !hmac.Equal(m.Sum(nil), reply[22:38]) {
		tb.Fatalf("reply Message-Authenticator is not valid")
	}
	p, err := radius.Parse(reply, testSecret)
	if err != nil {
		tb.Fatalf("parse reply: %v", err)
	}
	n := 0
	for _, a := range p.Attributes {
		if a.Type == rfc2869.MessageAuthenticator_Type {
			n++
		}
	}
	if n != 1 {
		tb.Fatalf("reply has %d Message-Authenticators", n)
	}
	return p
}

// MustAuthLog checks that exactly one decision was logged, with method and reason.
func MustAuthLog(tb testing.TB, l *radiustest.AuthLog, user string, method tg.Method, reason tg.Reason) {
	tb.Helper()
	got := l.Entries()
	if len(got) != 1 {
		tb.Fatalf("auth log has %d entries, want 1: %+v", len(got), got)
	}
	e := got[0]
	if e.NASID != 7 || e.Username != user || e.Method != method || e.Reason != reason || e.At != testNow.UnixNano() {
		tb.Fatalf("auth log entry = %+v, want NAS 7 user %q method %v reason %v at %d", e, user, method, reason, testNow.UnixNano())
	}
}

// chapPassword returns a CHAP-Password value: ident ‖ MD5(ident ‖ password ‖ challenge).
func chapPassword(ident byte, password string, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{ident})
	h.Write([]byte(password))
	h.Write(challenge)
	return append([]byte{ident}, h.Sum(nil)...)
}

// seq returns n bytes counting up from start: deterministic challenges.
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// msv2Response returns an MS-CHAP2-Response value (ident, flags, peer challenge,
// reserved, NT-Response) computed independently with layeh's rfc2759.
func msv2Response(tb testing.TB, ident byte, authChallenge, peerChallenge []byte, user, password string) (resp, nt []byte) {
	tb.Helper()
	nt, err := rfc2759.GenerateNTResponse(authChallenge, peerChallenge, []byte(user), []byte(password))
	if err != nil {
		tb.Fatalf("GenerateNTResponse: %v", err)
	}
	resp = make([]byte, mschap.ResponseLen)
	resp[0] = ident
	copy(resp[2:18], peerChallenge)
	copy(resp[26:50], nt)
	return resp, nt
}

// mschapV2Request returns an MS-CHAPv2 Access-Request.
func mschapV2Request(tb testing.TB, user, password string, ident byte, authChallenge, peerChallenge []byte) (*radius.Packet, []byte) {
	tb.Helper()
	p := newRequest(tb, testSecret, user)
	resp, nt := msv2Response(tb, ident, authChallenge, peerChallenge, user, password)
	if err := microsoft.MSCHAPChallenge_Add(p, authChallenge); err != nil {
		tb.Fatalf("MS-CHAP-Challenge: %v", err)
	}
	if err := microsoft.MSCHAP2Response_Add(p, resp); err != nil {
		tb.Fatalf("MS-CHAP2-Response: %v", err)
	}
	_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	return p, nt
}

// mschapV1Request returns an MS-CHAPv1 Access-Request whose NT-Response is built with
// mschap.ChallengeResponse.
func mschapV1Request(tb testing.TB, user, password string, ident byte, challenge []byte) *radius.Packet {
	tb.Helper()
	p := newRequest(tb, testSecret, user)
	nt := mschap.ChallengeResponse([8]byte(challenge), mschap.NTPasswordHash(password))
	resp := make([]byte, mschap.ResponseLen)
	resp[0], resp[1] = ident, 1 // flags: use the NT-Response
	copy(resp[26:50], nt[:])
	if err := microsoft.MSCHAPChallenge_Add(p, challenge); err != nil {
		tb.Fatalf("MS-CHAP-Challenge: %v", err)
	}
	if err := microsoft.MSCHAPResponse_Add(p, resp); err != nil {
		tb.Fatalf("MS-CHAP-Response: %v", err)
	}
	_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	return p
}

// vendorAttr returns the raw value of the first vendor sub-attribute typ of vendor.
func vendorAttr(p *radius.Packet, vendor uint32, typ byte) ([]byte, bool) {
	for _, a := range p.Attributes {
		if a.Type != rfc2865.VendorSpecific_Type {
			continue
		}
		id, v, err := radius.VendorSpecific(a.Attribute)
		if err != nil || id != vendor {
			continue
		}
		for len(v) >= 2 && int(v[1]) >= 2 && int(v[1]) <= len(v) {
			if v[0] == typ {
				return v[2:v[1]], true
			}
			v = v[v[1]:]
		}
	}
	return nil, false
}

// errStore is a plain store failure (EINTERNAL).
var errStore = errors.New("postgres: connection refused")
