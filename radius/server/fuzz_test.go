package server

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	tg "tollgate/radius"
	"tollgate/radius/radiustest"
)

// MustHandler returns a server that is not started, with the test NAS and accounts,
// and the NAS entry that handle takes: the packet path without sockets.
func MustHandler(tb testing.TB, nas tg.NAS, accounts Accounts, authlog tg.AuthLogger) (*Server, *nasEntry) {
	tb.Helper()
	srv := New(Config{}, accounts, authlog, nil)
	srv.now = func() time.Time { return testNow }
	srv.SetNAS([]tg.NAS{nas})
	e := srv.nas.Load().lookup(netip.MustParseAddr("127.0.0.1"))
	if e == nil {
		tb.Fatal("test NAS not found in the snapshot")
	}
	return srv, e
}

// discardLog is an AuthLogger that keeps nothing, for loops that log millions of times.
type discardLog struct{}

func (discardLog) Log(tg.AuthLogEntry) {}

// fuzzAccounts knows alice and the MAC-bound device; "fail" is a store failure.
func fuzzAccounts() *radiustest.Accounts {
	accounts := newDirectory(pppoeAccount(), macAccount()).Fake()
	find := accounts.FindByUsernameFn
	accounts.FindByUsernameFn = func(ctx context.Context, u string) (*tg.Account, error) {
		if u == "fail" {
			return nil, errStore
		}
		return find(ctx, u)
	}
	return accounts
}

// fuzzSeeds returns valid requests of every kind, signed and unsigned.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	add := func(p *radius.Packet) {
		c := *p
		c.Attributes = append(radius.Attributes(nil), p.Attributes...)
		seeds = append(seeds, MustEncode(tb, &c, false), MustEncode(tb, p, true))
	}
	p := papRequest(tb, "alice", "s3cret!")
	_ = rfc2865.ProxyState_AddString(p, "ps")
	add(p)
	add(papRequest(tb, "fail", "x"))

	p = newRequest(tb, testSecret, "alice")
	_ = rfc2865.CHAPChallenge_Add(p, seq(1, 16))
	_ = rfc2865.CHAPPassword_Add(p, chapPassword(3, "s3cret!", seq(1, 16)))
	add(p)
	p = newRequest(tb, testSecret, "alice")
	_ = rfc2865.CHAPPassword_Add(p, chapPassword(3, "s3cret!", p.Authenticator[:]))
	add(p)

	p, _ = mschapV2Request(tb, "alice", "s3cret!", 9, seq(10, 16), seq(60, 16))
	add(p)
	add(mschapV1Request(tb, "alice", "s3cret!", 4, seq(20, 8)))

	p = newRequest(tb, testSecret, "aa-bb-cc-dd-ee-ff")
	_ = rfc2865.UserPassword_SetString(p, "")
	_ = rfc2865.CallingStationID_SetString(p, "AA:BB:CC:DD:EE:FF")
	_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_LoginUser)
	add(p)

	add(radius.New(radius.CodeStatusServer, testSecret))
	return seeds
}

// FuzzAccess feeds arbitrary datagrams that pass the reader's size checks to the packet
// path. It must never panic, and anything it answers must be a well-formed, signed reply
// to the request.
func FuzzAccess(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	// Unsigned requests are allowed so mutations reach the attribute parsing and the
	// credential checks; a signed one must still verify.
	srv, e := MustHandler(f, testNAS(false), fuzzAccounts(), discardLog{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 20 || len(data) > maxPacket {
			return
		}
		l := int(data[2])<<8 | int(data[3])
		if l < 20 || l > len(data) {
			return
		}
		req := bytes.Clone(data[:l])
		reply, _ := srv.handle(ctx, e, netip.Addr{}, req, false)
		if !bytes.Equal(req, data[:l]) {
			t.Fatalf("handle changed the request")
		}
		if reply == nil {
			return
		}
		if len(reply) > maxPacket {
			t.Fatalf("reply of %d bytes", len(reply))
		}
		p := MustReply(t, reply, req)
		switch p.Code {
		case radius.CodeAccessAccept, radius.CodeAccessReject:
		default:
			t.Fatalf("reply code %v", p.Code)
		}
	})
}

func BenchmarkAccessPAP(b *testing.B) {
	acct := pppoeAccount()
	acct.ValidUntil = testNow.Add(24 * time.Hour)
	accounts := &radiustest.Accounts{FindByUsernameFn: func(context.Context, string) (*tg.Account, error) {
		return cloneAccount(acct), nil
	}}
	srv, e := MustHandler(b, testNAS(true), accounts, discardLog{})
	p := papRequest(b, "alice", "s3cret!")
	_ = rfc2865.CallingStationID_SetString(p, "11:22:33:44:55:66")
	req := MustEncode(b, p, true)
	benchmarkHandle(b, srv, e, req)
}

func BenchmarkAccessMSCHAPv2(b *testing.B) {
	acct := pppoeAccount()
	accounts := &radiustest.Accounts{FindByUsernameFn: func(context.Context, string) (*tg.Account, error) {
		return cloneAccount(acct), nil
	}}
	srv, e := MustHandler(b, testNAS(true), accounts, discardLog{})
	p, _ := mschapV2Request(b, "alice", "s3cret!", 9, seq(10, 16), seq(60, 16))
	_ = rfc2865.CallingStationID_SetString(p, "11:22:33:44:55:66")
	req := MustEncode(b, p, true)
	benchmarkHandle(b, srv, e, req)
}

func benchmarkHandle(b *testing.B, srv *Server, e *nasEntry, req []byte) {
	ctx := context.Background()
	if r, _ := srv.handle(ctx, e, netip.Addr{}, req, false); r == nil || radius.Code(r[0]) != radius.CodeAccessAccept {
		b.Fatalf("setup: the request is not accepted")
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := srv.handle(ctx, e, netip.Addr{}, req, false); r == nil {
			b.Fatal("no reply")
		}
	}
}
