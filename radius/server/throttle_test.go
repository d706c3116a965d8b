package server

import (
	"context"
	"errors"
	"sync"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	tg "tollgate/radius"
	"tollgate/radius/radiustest"
)

// memThrottle counts failures in memory with the limits of the Redis throttle (tested
// against Redis in radius/redis): perMAC per device, perNAS per NAS.
type memThrottle struct {
	mu             sync.Mutex
	macs           map[string]int64
	nas            map[int64]int64
	perMAC, perNAS int64
	err            error
}

func newMemThrottle(perMAC, perNAS int64) *memThrottle {
	return &memThrottle{macs: map[string]int64{}, nas: map[int64]int64{}, perMAC: perMAC, perNAS: perNAS}
}

func (m *memThrottle) Blocked(ctx context.Context, mac string, nasID int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	return m.macs[mac] >= m.perMAC || m.nas[nasID] >= m.perNAS, nil
}

func (m *memThrottle) Fail(ctx context.Context, mac string, nasID int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.macs[mac]++
	m.nas[nasID]++
	return nil
}

func (m *memThrottle) failures(mac string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.macs[mac]
}

// codeVoucher is a voucher that logs in by its code: the store finds it by the code,
// and its own name is voucher-900.
func codeVoucher() *tg.Account {
	v := voucherAccount()
	v.Username, v.LockMAC = tg.VoucherAccountName(900), false
	return v
}

// codeDirectory finds v by its code "K7M2QX9P" (as the store does by its hash) and by
// its own name, and the subscriber alice by name.
func codeDirectory(v *tg.Account) *radiustest.Accounts {
	return &radiustest.Accounts{
		FindByUsernameFn: func(_ context.Context, u string) (*tg.Account, error) {
			switch {
			case tg.NormalizeCode(u) == "K7M2QX9P", u == v.Username:
				return cloneAccount(v), nil
			case u == "alice":
				return pppoeAccount(), nil
			}
			return nil, tg.Errorf(tg.ENOTFOUND, "no account")
		},
	}
}

// TestVoucherCodeLogin: a voucher logs in by its code, but the Accept names its account
// (User-Name voucher-900, Class tg:c900), and the auth log keeps that name, never the
// code.
func TestVoucherCodeLogin(t *testing.T) {
	v := codeVoucher()
	h := MustServer(t, Config{}, testNAS(true), codeDirectory(v))
	for _, typed := range []string{"K7M2QX9P", "k7m2qx9p"} {
		h.log.Reset()
		p := hotspotRequest(t, typed, "AA:BB:CC:00:00:01")
		_ = rfc2865.UserPassword_SetString(p, typed) // PAP compares a voucher's code in any case
		req := MustEncode(t, p, true)
		reply := MustReply(t, MustExchange(t, h.conn, req), req)
		if reply.Code != radius.CodeAccessAccept {
			t.Fatalf("%s: code %v (%q)", typed, reply.Code, rfc2865.ReplyMessage_GetString(reply))
		}
		if u, c := rfc2865.UserName_GetString(reply), rfc2865.Class_GetString(reply); u != "voucher-900" || c != "tg:c900" {
			t.Fatalf("%s: User-Name %q, Class %q; want voucher-900, tg:c900", typed, u, c)
		}
		MustAuthLog(t, h.log, "voucher-900", tg.MethodPAP, tg.ReasonOK)
	}
	if name, ok := tg.AccountNameFromClass("tg:c900"); !ok || name != "voucher-900" {
		t.Fatalf("AccountNameFromClass = %q, %v", name, ok)
	}
	for _, c := range []string{"tg:v900", "tg:900", "tg:c", "tg:cx", "tg:c-1", ""} {
		if name, ok := tg.AccountNameFromClass(c); ok {
			t.Fatalf("AccountNameFromClass(%q) = %q", c, name)
		}
	}
}

// TestVoucherThrottle: failed voucher logins are counted per device and NAS; a device
// over its limit is refused even with a valid code, with the same answer an unknown code
// gets; a subscriber's PPPoE login is neither counted nor refused; a throttle that cannot
// be read lets logins through and is counted.
func TestVoucherThrottle(t *testing.T) {
	const guesser, guest = "AA:BB:CC:00:00:66", "AA:BB:CC:00:00:01"
	v := codeVoucher()
	h := MustServer(t, Config{}, testNAS(true), codeDirectory(v))
	th := newMemThrottle(3, 100)
	h.srv.SetThrottle(th)
	login := func(mac, code, password string) *radius.Packet {
		t.Helper()
		p := hotspotRequest(t, code, mac)
		_ = rfc2865.UserPassword_SetString(p, password)
		req := MustEncode(t, p, true)
		return MustReply(t, MustExchange(t, h.conn, req), req)
	}
	// Three wrong guesses: an unknown code and wrong passwords all count.
	for _, g := range [][2]string{{"NOPE2345", "NOPE2345"}, {"K7M2QX9P", "wrong"}, {"ZZZZ9999", "x"}} {
		if r := login(guesser, g[0], g[1]); r.Code != radius.CodeAccessReject || rfc2865.ReplyMessage_GetString(r) != tg.ReasonBadPassword.Message() {
			t.Fatalf("guess %q: %v %q", g, r.Code, rfc2865.ReplyMessage_GetString(r))
		}
	}
	if n := th.failures(guesser); n != 3 {
		t.Fatalf("failures counted = %d, want 3", n)
	}
	// Blocked: the valid code is refused, and an unknown one gets the same answer.
	valid, unknown := login(guesser, "K7M2QX9P", "K7M2QX9P"), login(guesser, "QQQQ2222", "QQQQ2222")
	for _, r := range []*radius.Packet{valid, unknown} {
		if r.Code != radius.CodeAccessReject || rfc2865.ReplyMessage_GetString(r) != tg.ReasonThrottled.Message() {
			t.Fatalf("blocked device: %v %q, want a reject saying %q", r.Code, rfc2865.ReplyMessage_GetString(r), tg.ReasonThrottled.Message())
		}
	}
	if st := h.srv.Stats(); st.Reason(tg.ReasonThrottled) != 2 {
		t.Fatalf("throttled decisions = %d, want 2", st.Reason(tg.ReasonThrottled))
	}
	// Another device logs in with the valid code.
	if r := login(guest, "K7M2QX9P", "K7M2QX9P"); r.Code != radius.CodeAccessAccept {
		t.Fatalf("another device: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
	// A PPPoE subscriber from the blocked MAC is neither refused nor counted.
	p := papRequest(t, "alice", "wrong")
	_ = rfc2865.CallingStationID_SetString(p, guesser)
	req := MustEncode(t, p, true)
	if r := MustReply(t, MustExchange(t, h.conn, req), req); rfc2865.ReplyMessage_GetString(r) != tg.ReasonBadPassword.Message() {
		t.Fatalf("subscriber from a blocked MAC: %q", rfc2865.ReplyMessage_GetString(r))
	}
	p = papRequest(t, "alice", "s3cret!")
	_ = rfc2865.CallingStationID_SetString(p, guesser)
	req = MustEncode(t, p, true)
	if r := MustReply(t, MustExchange(t, h.conn, req), req); r.Code != radius.CodeAccessAccept {
		t.Fatalf("subscriber from a blocked MAC: %v", r.Code)
	}
	if n := th.failures(guesser); n != 3 {
		t.Fatalf("failures after the subscriber's logins = %d, want 3", n)
	}
	// Redis down: the throttle cannot be read; logins go on and the errors are counted.
	th.mu.Lock()
	th.err = errors.New("redis down")
	th.mu.Unlock()
	if r := login(guesser, "K7M2QX9P", "K7M2QX9P"); r.Code != radius.CodeAccessAccept {
		t.Fatalf("throttle unreadable: %v", r.Code)
	}
	if h.srv.Stats().ThrottleErrors.Load() == 0 {
		t.Fatal("throttle errors not counted")
	}
}
