package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	tg "tollgate/radius"
	"tollgate/radius/dict/mikrotik"
)

// voucherAccount is a new hotspot voucher: code mode, one hour of uptime, 5 GiB.
func voucherAccount() *tg.Account {
	return &tg.Account{
		ID: 900, VoucherID: 900, Username: "K7M2QX9P", Password: []byte("K7M2QX9P"), Status: tg.StatusActive,
		Kind: tg.KindHotspot, VoucherState: tg.VoucherNew, RateLimit: "1M/2M", UptimeLimit: time.Hour,
		DataLimit: 5 << 30, SharedUsers: 1, LockMAC: true,
	}
}

// fakeActivator activates in memory: the first call wins and binds its MAC, validity
// runs 30 minutes from it; every call is recorded.
type fakeActivator struct {
	mu    sync.Mutex
	act   *tg.Activation
	calls []string // MACs
	err   error
}

func (f *fakeActivator) Activate(ctx context.Context, a *tg.Account, mac string, now time.Time) (*tg.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, mac)
	if f.err != nil {
		return nil, f.err
	}
	if f.act == nil {
		f.act = &tg.Activation{State: tg.VoucherActive, ActivatedAt: now, ValidUntil: now.Add(30 * time.Minute), MAC: mac}
	}
	b := *a
	b.VoucherState, b.ActivatedAt, b.ValidUntil, b.MAC = f.act.State, f.act.ActivatedAt, f.act.ValidUntil, f.act.MAC
	return &b, nil
}

// Calls returns the MACs Activate was called with.
func (f *fakeActivator) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// setErr makes every later Activate fail with err.
func (f *fakeActivator) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// hotspotRequest is a hotspot login from mac on server hotspot1, as RouterOS sends it.
func hotspotRequest(tb testing.TB, user, mac string) *radius.Packet {
	tb.Helper()
	p := newRequest(tb, testSecret, user)
	_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_LoginUser)
	_ = rfc2865.CallingStationID_SetString(p, mac)
	_ = rfc2865.CalledStationID_SetString(p, "hotspot1")
	return p
}

func TestVoucherActivation(t *testing.T) {
	const mac = "AA:BB:CC:00:00:01"
	v := voucherAccount()
	act := &fakeActivator{}
	h := MustServer(t, Config{}, testNAS(true), newDirectory(v).Fake())
	h.srv.SetActivator(act)

	p := hotspotRequest(t, v.Username, "aa-bb-cc-00-00-01")
	_ = rfc2865.UserPassword_SetString(p, "K7M2QX9P")
	req := MustEncode(t, p, true)
	reply := MustReply(t, MustExchange(t, h.conn, req), req)
	if reply.Code != radius.CodeAccessAccept {
		t.Fatalf("code %v: %q", reply.Code, rfc2865.ReplyMessage_GetString(reply))
	}
	// The validity the activation started (30 min) is less than the uptime (1 h).
	if st := rfc2865.SessionTimeout_Get(reply); st != 1800 {
		t.Fatalf("Session-Timeout = %d, want 1800 from the activation", st)
	}
	if tl := mikrotik.MikrotikTotalLimit_Get(reply); tl != 1<<30 || mikrotik.MikrotikTotalLimitGigawords_Get(reply) != 1 {
		t.Fatalf("Total-Limit = %d / gigawords %d, want 5 GiB (1 gigaword + 1 GiB)", tl, mikrotik.MikrotikTotalLimitGigawords_Get(reply))
	}
	if c := rfc2865.Class_GetString(reply); c != "tg:v900" {
		t.Fatalf("Class = %q", c)
	}
	if calls := act.Calls(); len(calls) != 1 || calls[0] != mac {
		t.Fatalf("activator calls %q, want one with the normalized MAC", calls)
	}
	MustAuthLog(t, h.log, v.Username, tg.MethodPAP, tg.ReasonOK)

	// A rejected login never activates.
	h.log.Reset()
	p = hotspotRequest(t, v.Username, mac)
	_ = rfc2865.UserPassword_SetString(p, "wrong")
	req = MustEncode(t, p, true)
	if reply = MustReply(t, MustExchange(t, h.conn, req), req); reply.Code != radius.CodeAccessReject || len(act.Calls()) != 1 {
		t.Fatalf("bad password: code %v, activator calls %q", reply.Code, act.Calls())
	}

	// A failing activation is an internal error: no answer, the NAS retries.
	act.setErr(errors.New("postgres down"))
	p = hotspotRequest(t, v.Username, mac)
	_ = rfc2865.UserPassword_SetString(p, "K7M2QX9P")
	MustWrite(t, h.conn, MustEncode(t, p, true))
	MustNoReply(t, h.conn)
}

func TestVoucherMACRelogin(t *testing.T) {
	const bound = "AA:BB:CC:00:00:01"
	active := voucherAccount()
	active.VoucherState, active.ActivatedAt, active.MAC = tg.VoucherActive, testNow.Add(-time.Minute), bound
	unlocked := voucherAccount()
	unlocked.Username, unlocked.LockMAC, unlocked.VoucherState, unlocked.ActivatedAt = "UNLOCKED", false, tg.VoucherActive, testNow
	tests := []struct {
		name, user, mac string
		password        string // "" sends none
		reason          tg.Reason
		method          tg.Method
	}{
		{"bound device, no password", active.Username, bound, "", tg.ReasonOK, tg.MethodMAC},
		{"bound device, code as password", active.Username, bound, "K7M2QX9P", tg.ReasonOK, tg.MethodPAP},
		{"other device, no password", active.Username, "AA:BB:CC:00:00:02", "", tg.ReasonUnsupportedMethod, tg.MethodUnknown},
		{"other device, right password", active.Username, "AA:BB:CC:00:00:02", "K7M2QX9P", tg.ReasonMACMismatch, tg.MethodPAP},
		{"unlocked voucher, no password", unlocked.Username, bound, "", tg.ReasonUnsupportedMethod, tg.MethodUnknown},
		{"unknown code, no password", "NOPE", bound, "", tg.ReasonUnsupportedMethod, tg.MethodUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := &fakeActivator{}
			h := MustServer(t, Config{}, testNAS(true), newDirectory(active, unlocked).Fake())
			h.srv.SetActivator(act)
			p := hotspotRequest(t, tt.user, tt.mac)
			if tt.password != "" {
				_ = rfc2865.UserPassword_SetString(p, tt.password)
			}
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)
			if want := tt.reason == tg.ReasonOK; (reply.Code == radius.CodeAccessAccept) != want {
				t.Fatalf("code %v (%q), want accept=%v", reply.Code, rfc2865.ReplyMessage_GetString(reply), want)
			}
			if tt.reason != tg.ReasonOK && rfc2865.ReplyMessage_GetString(reply) != tt.reason.Message() {
				t.Fatalf("Reply-Message %q, want %q", rfc2865.ReplyMessage_GetString(reply), tt.reason.Message())
			}
			logged := tt.user
			if tt.user == "NOPE" {
				logged = tg.MaskCode(tt.user) // it found nothing: it may be a mistyped code
			}
			MustAuthLog(t, h.log, logged, tt.method, tt.reason)
			if calls := act.Calls(); len(calls) != 0 {
				t.Fatalf("an active voucher was activated again: %q", calls)
			}
		})
	}
}

func TestVoucherWithoutActivator(t *testing.T) {
	// Without an activator (no vouchers configured) the account is decided as read.
	v := voucherAccount()
	h := MustServer(t, Config{}, testNAS(true), newDirectory(v).Fake())
	p := hotspotRequest(t, v.Username, "AA:BB:CC:00:00:01")
	_ = rfc2865.UserPassword_SetString(p, "K7M2QX9P")
	req := MustEncode(t, p, true)
	if reply := MustReply(t, MustExchange(t, h.conn, req), req); reply.Code != radius.CodeAccessAccept || rfc2865.SessionTimeout_Get(reply) != 3600 {
		t.Fatalf("code %v, Session-Timeout %d", reply.Code, rfc2865.SessionTimeout_Get(reply))
	}
}
