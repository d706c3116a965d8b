package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	tg "tollgate/radius"
	"tollgate/radius/radiustest"
)

func TestMessageAuthenticator(t *testing.T) {
	tests := []struct {
		name      string
		requireMA bool
		build     func(t *testing.T) []byte
		answered  bool
		counter   func(s *Stats) uint64
	}{
		{
			name:      "missing, required",
			requireMA: true,
			build:     func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), false) },
			counter:   func(s *Stats) uint64 { return s.MissingMA.Load() },
		},
		{
			name:     "missing, not required",
			build:    func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), false) },
			answered: true,
		},
		{
			name:      "valid, not first",
			requireMA: true,
			build: func(t *testing.T) []byte {
				p := papRequest(t, "alice", "s3cret!")
				b := MustEncode(t, p, true)
				// Move the 18-byte attribute to the end and re-sign.
				ma := bytes.Clone(b[20:38])
				b = append(append(b[:20:20], b[38:]...), ma...)
				clear(b[len(b)-16:])
				return resign(b, len(b)-16)
			},
			answered: true,
		},
		{
			name:      "wrong value",
			requireMA: true,
			build: func(t *testing.T) []byte {
				b := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
				b[30] ^= 0x01
				return b
			},
			counter: func(s *Stats) uint64 { return s.BadAuthenticator.Load() },
		},
		{
			name: "wrong value, not required",
			build: func(t *testing.T) []byte {
				b := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
				b[37] ^= 0x80
				return b
			},
			counter: func(s *Stats) uint64 {
				return s.BadAuthenticator.Load()
			},
		},
		{
			name:      "attribute changed after signing",
			requireMA: true,
			build: func(t *testing.T) []byte {
				b := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
				b[len(b)-1] ^= 0x01 // last byte of the last attribute
				return b
			},
			counter: func(s *Stats) uint64 { return s.BadAuthenticator.Load() },
		},
		{
			name:      "wrong secret",
			requireMA: true,
			build: func(t *testing.T) []byte {
				p := newRequest(t, []byte("not-the-secret"), "alice")
				_ = rfc2865.UserPassword_SetString(p, "s3cret!")
				return MustEncode(t, p, true)
			},
			counter: func(s *Stats) uint64 { return s.BadAuthenticator.Load() },
		},
		{
			name:      "short value",
			requireMA: true,
			build: func(t *testing.T) []byte {
				p := papRequest(t, "alice", "s3cret!")
				p.Attributes = append(radius.Attributes{{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 8)}}, p.Attributes...)
				b, _ := p.Encode()
				return b
			},
			counter: func(s *Stats) uint64 { return s.Malformed.Load() },
		},
		{
			name:      "two of them",
			requireMA: true,
			build: func(t *testing.T) []byte {
				p := papRequest(t, "alice", "s3cret!")
				p.Attributes = append(p.Attributes, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)})
				return MustEncode(t, p, true)
			},
			counter: func(s *Stats) uint64 { return s.Malformed.Load() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustServer(t, Config{}, testNAS(tt.requireMA), newDirectory(pppoeAccount()).Fake())
			req := tt.build(t)
			if tt.answered {
				reply := MustReply(t, MustExchange(t, h.conn, req), req)
				if reply.Code != radius.CodeAccessAccept {
					t.Fatalf("code = %v, want Access-Accept", reply.Code)
				}
				MustAuthLog(t, h.log, "alice", tg.MethodPAP, tg.ReasonOK)
				return
			}
			MustWrite(t, h.conn, req)
			MustNoReply(t, h.conn)
			if got := tt.counter(h.srv.Stats()); got != 1 {
				t.Errorf("counter = %d, want 1", got)
			}
			if n := len(h.log.Entries()); n != 0 {
				t.Errorf("auth log has %d entries for a dropped request", n)
			}
			if st := h.srv.Stats(); st.Accepts.Load()+st.Rejects.Load() != 0 {
				t.Errorf("a dropped request was decided")
			}
		})
	}
}

// resign recomputes the Message-Authenticator at offset off of an Access-Request.
func resign(b []byte, off int) []byte {
	e := newNASEntry(testNAS(true), nil)
	clear(b[off : off+16])
	mac := e.mac(b)
	copy(b[off:], mac[:])
	return b
}

func TestUnknownNAS(t *testing.T) {
	h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
	// Linux routes all of 127/8 to lo, so this socket's packets come from 127.0.0.2.
	stranger := MustDial(t, h.srv.AuthAddr(), netip.MustParseAddr("127.0.0.2"))
	req := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
	MustWrite(t, stranger, req)
	MustEventually(t, "UnknownNAS", func() bool { return h.srv.Stats().UnknownNAS.Load() == 1 })
	// The packet was dropped before any work was queued: the known NAS still gets
	// answers, and nothing ever went to the stranger.
	MustNoReply(t, h.conn)
	_ = stranger.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := stranger.Read(make([]byte, 4096)); err == nil {
		t.Fatalf("unknown NAS got a %d-byte reply", n)
	}
	if n := len(h.log.Entries()); n != 0 {
		t.Errorf("auth log has %d entries", n)
	}

	t.Run("prefix entry", func(t *testing.T) {
		nas := testNAS(true)
		nas.Prefix = netip.MustParsePrefix("127.0.0.0/30") // 127.0.0.0–3
		h := MustServer(t, Config{}, nas, newDirectory(pppoeAccount()).Fake())
		c := MustDial(t, h.srv.AuthAddr(), netip.MustParseAddr("127.0.0.2"))
		req := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
		if reply := MustReply(t, MustExchange(t, c, req), req); reply.Code != radius.CodeAccessAccept {
			t.Fatalf("code = %v", reply.Code)
		}
	})
}

func TestRetransmit(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) []byte
	}{
		{"pap accept", func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), true) }},
		{"pap reject", func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "bad"), true) }},
		{"mschapv2 (random salts)", func(t *testing.T) []byte {
			p, _ := mschapV2Request(t, "alice", "s3cret!", 7, seq(1, 16), seq(50, 16))
			return MustEncode(t, p, true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			dir := newDirectory(pppoeAccount()).Fake()
			find := dir.FindByUsernameFn
			dir.FindByUsernameFn = func(ctx context.Context, u string) (*tg.Account, error) {
				calls.Add(1)
				return find(ctx, u)
			}
			h := MustServer(t, Config{Workers: 4}, testNAS(true), dir)
			req := tt.build(t)
			first := MustExchange(t, h.conn, req)
			MustReply(t, first, req)
			for i := range 3 {
				again := MustExchange(t, h.conn, req)
				if !bytes.Equal(again, first) {
					t.Fatalf("retransmit %d: reply differs from the first", i+1)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("FindByUsername called %d times, want 1", n)
			}
			st := h.srv.Stats()
			if st.Duplicates.Load() != 3 || st.Accepts.Load()+st.Rejects.Load() != 1 {
				t.Errorf("duplicates %d, decisions %d", st.Duplicates.Load(), st.Accepts.Load()+st.Rejects.Load())
			}

			// The same Identifier with a new Request Authenticator is a new request. It is
			// built afresh (a PAP password hidden under another authenticator could decode
			// to a malformed one, which is rejected before any lookup).
			next := tt.build(t)
			next[1] = req[1]
			next = resignRequest(t, next)
			if bytes.Equal(next[4:20], req[4:20]) {
				t.Fatal("the new request has the same authenticator")
			}
			MustExchange(t, h.conn, next)
			if n := calls.Load(); n != 2 {
				t.Errorf("after a new request FindByUsername called %d times, want 2", n)
			}
		})
	}
}

// resignRequest re-signs the first-attribute Message-Authenticator of a request built by
// MustEncode. PAP passwords decode to garbage under a new authenticator, which is fine
// for a request that only needs to be distinct.
func resignRequest(t *testing.T, b []byte) []byte {
	t.Helper()
	if b[20] != 80 {
		t.Fatalf("no Message-Authenticator first")
	}
	return resign(b, 22)
}

// TestReplyCacheLifetime: a retransmit within ReplyTTL gets the cached reply; once the
// TTL has passed the request is evaluated again, even if the cache shard sat idle.
func TestReplyCacheLifetime(t *testing.T) {
	const ttl = 4 * time.Second
	tests := []struct {
		name   string
		after  time.Duration
		cached bool
	}{
		{"immediately", 0, true},
		{"half the TTL", ttl / 2, true},
		{"just under the TTL", ttl - time.Millisecond, true},
		{"the TTL", ttl, false},
		{"an hour", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var status atomic.Value
			status.Store(tg.StatusActive)
			var calls atomic.Int32
			accounts := &radiustest.Accounts{FindByUsernameFn: func(_ context.Context, u string) (*tg.Account, error) {
				calls.Add(1)
				a := pppoeAccount()
				a.Status = status.Load().(tg.Status)
				return a, nil
			}}
			h := MustServer(t, Config{ReplyTTL: ttl}, testNAS(true), accounts)
			req := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
			if r := MustReply(t, MustExchange(t, h.conn, req), req); r.Code != radius.CodeAccessAccept {
				t.Fatalf("code = %v", r.Code)
			}
			status.Store(tg.StatusDisabled)
			h.clock.Advance(tt.after)
			r := MustReply(t, MustExchange(t, h.conn, req), req)
			if tt.cached {
				if r.Code != radius.CodeAccessAccept || calls.Load() != 1 || h.srv.Stats().Duplicates.Load() != 1 {
					t.Fatalf("code %v, calls %d, duplicates %d; want the cached accept", r.Code, calls.Load(), h.srv.Stats().Duplicates.Load())
				}
				return
			}
			if r.Code != radius.CodeAccessReject || calls.Load() != 2 || h.srv.Stats().Duplicates.Load() != 0 {
				t.Fatalf("code %v, calls %d, duplicates %d; want a fresh reject", r.Code, calls.Load(), h.srv.Stats().Duplicates.Load())
			}
		})
	}
}

func TestStatusServer(t *testing.T) {
	t.Run("with Message-Authenticator", func(t *testing.T) {
		h := MustServer(t, Config{}, testNAS(false), newDirectory().Fake())
		p := radius.New(radius.CodeStatusServer, testSecret)
		_ = rfc2865.NASIdentifier_SetString(p, "router1")
		_ = rfc2865.ProxyState_AddString(p, "st")
		req := MustEncode(t, p, true)
		reply := MustReply(t, MustExchange(t, h.conn, req), req)
		if reply.Code != radius.CodeAccessAccept {
			t.Fatalf("code = %v, want Access-Accept", reply.Code)
		}
		if got := rfc2865.ProxyState_GetString(reply); got != "st" {
			t.Errorf("Proxy-State = %q", got)
		}
		if n := h.srv.Stats().StatusServer.Load(); n != 1 {
			t.Errorf("StatusServer = %d, want 1", n)
		}
		if n := len(h.log.Entries()); n != 0 {
			t.Errorf("auth log has %d entries", n)
		}
	})
	drops := []struct {
		name  string
		build func(t *testing.T) []byte
	}{
		{"without Message-Authenticator", func(t *testing.T) []byte {
			return MustEncode(t, radius.New(radius.CodeStatusServer, testSecret), false)
		}},
		{"wrong Message-Authenticator", func(t *testing.T) []byte {
			b := MustEncode(t, radius.New(radius.CodeStatusServer, testSecret), true)
			b[22] ^= 1
			return b
		}},
		{"wrong secret", func(t *testing.T) []byte {
			return MustEncode(t, radius.New(radius.CodeStatusServer, []byte("other")), true)
		}},
	}
	for _, tt := range drops {
		t.Run(tt.name, func(t *testing.T) {
			// Even a NAS that need not sign Access-Requests must sign Status-Server.
			h := MustServer(t, Config{}, testNAS(false), newDirectory().Fake())
			MustWrite(t, h.conn, tt.build(t))
			MustNoReply(t, h.conn)
			st := h.srv.Stats()
			if st.BadAuthenticator.Load() != 1 || st.StatusServer.Load() != 1 { // 1: the probe
				t.Errorf("BadAuthenticator %d, StatusServer %d", st.BadAuthenticator.Load(), st.StatusServer.Load())
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	good := func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), true) }
	header := func(code radius.Code, length int) []byte {
		b := make([]byte, 20, length)
		b[0], b[1] = byte(code), 9
		binary.BigEndian.PutUint16(b[2:4], uint16(length))
		return b
	}
	tests := []struct {
		name  string
		build func(t *testing.T) []byte
	}{
		{"10 bytes", func(t *testing.T) []byte { return good(t)[:10] }},
		{"19 bytes", func(t *testing.T) []byte { return good(t)[:19] }},
		{"length field beyond the datagram", func(t *testing.T) []byte {
			b := good(t)
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)+10))
			return b
		}},
		{"length field below the header", func(t *testing.T) []byte {
			b := good(t)
			binary.BigEndian.PutUint16(b[2:4], 19)
			return b
		}},
		{"attribute of length 1", func(t *testing.T) []byte {
			return append(header(radius.CodeAccessRequest, 22), 1, 1)
		}},
		{"attribute of length 0", func(t *testing.T) []byte {
			return append(header(radius.CodeAccessRequest, 24), 1, 0, 'a', 'b')
		}},
		{"attribute overruns the packet", func(t *testing.T) []byte {
			return append(header(radius.CodeAccessRequest, 26), 1, 50, 'a', 'b', 'c', 'd')
		}},
		{"lone attribute type byte", func(t *testing.T) []byte {
			b := good(t)
			b = append(b, 1)
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
			return resign(b, 22)
		}},
		{"no User-Name", func(t *testing.T) []byte {
			p := radius.New(radius.CodeAccessRequest, testSecret)
			_ = rfc2865.UserPassword_SetString(p, "x")
			return MustEncode(t, p, true)
		}},
		{"oversized 5000-byte datagram", func(t *testing.T) []byte {
			b := make([]byte, 5000)
			copy(b, good(t))
			binary.BigEndian.PutUint16(b[2:4], 5000)
			return b
		}},
		{"oversized, small length field", func(t *testing.T) []byte {
			b := make([]byte, 5000)
			copy(b, good(t))
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
			MustWrite(t, h.conn, tt.build(t))
			MustNoReply(t, h.conn)
			if n := h.srv.Stats().Malformed.Load(); n != 1 {
				t.Errorf("Malformed = %d, want 1", n)
			}
			req := good(t)
			if r := MustReply(t, MustExchange(t, h.conn, req), req); r.Code != radius.CodeAccessAccept {
				t.Fatalf("afterwards: code = %v", r.Code)
			}
		})
	}

	t.Run("trailing bytes beyond the length field are ignored", func(t *testing.T) {
		h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
		req := good(t)
		padded := append(bytes.Clone(req), 0xde, 0xad, 0xbe, 0xef)
		if r := MustReply(t, MustExchange(t, h.conn, padded), req); r.Code != radius.CodeAccessAccept {
			t.Fatalf("code = %v", r.Code)
		}
	})
	t.Run("code not served", func(t *testing.T) {
		h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
		p := radius.New(radius.CodeAccountingRequest, testSecret)
		b, _ := p.Encode()
		MustWrite(t, h.conn, b)
		MustNoReply(t, h.conn)
		if n := h.srv.Stats().UnknownCode.Load(); n != 1 {
			t.Errorf("UnknownCode = %d, want 1", n)
		}
	})
}

func TestOverload(t *testing.T) {
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	accounts := &radiustest.Accounts{FindByUsernameFn: func(_ context.Context, u string) (*tg.Account, error) {
		entered <- struct{}{}
		<-release // ignores ctx on purpose: a stuck store
		a := pppoeAccount()
		a.Username = u
		return a, nil
	}}
	h := MustServer(t, Config{Workers: 1, Queue: 1}, testNAS(true), accounts)
	t.Cleanup(unblock) // runs before Shutdown

	const n = 20
	reqs := make([][]byte, n)
	for i := range reqs {
		p := papRequest(t, "user"+strconv.Itoa(i), "s3cret!")
		p.Identifier = byte(i)
		reqs[i] = MustEncode(t, p, true)
	}
	MustWrite(t, h.conn, reqs[0])
	select {
	case <-entered: // the only worker is now stuck in the store
	case <-time.After(wait):
		t.Fatal("the worker never reached the store")
	}
	for _, r := range reqs[1:] {
		MustWrite(t, h.conn, r)
	}
	MustEventually(t, "all datagrams read", func() bool { return h.srv.Stats().Received.Load() == n })
	// One request is with the worker, one waits in the queue; the reader sheds the rest
	// without blocking.
	if got := h.srv.Stats().Shed.Load(); got != n-2 {
		t.Fatalf("Shed = %d, want %d", got, n-2)
	}

	unblock()
	seen := map[byte]bool{}
	for range 2 {
		b := MustRead(t, h.conn)
		seen[b[1]] = true
		MustReply(t, b, reqs[b[1]])
	}
	if !seen[0] || !seen[1] {
		t.Fatalf("answered %v, want the working and the queued request", seen)
	}

	// A shed request was forgotten, so its retransmit is handled.
	if r := MustReply(t, MustExchange(t, h.conn, reqs[5]), reqs[5]); r.Code != radius.CodeAccessAccept {
		t.Fatalf("retransmit of a shed request: code %v", r.Code)
	}
	MustNoReply(t, h.conn)
	if d := h.srv.Stats().Duplicates.Load(); d != 0 {
		t.Errorf("Duplicates = %d, want 0", d)
	}
}

func TestStoreFailure(t *testing.T) {
	tests := []struct {
		name     string
		accounts *radiustest.Accounts
		request  func(t *testing.T) []byte
	}{
		{
			name: "FindByUsername fails",
			accounts: &radiustest.Accounts{FindByUsernameFn: func(context.Context, string) (*tg.Account, error) {
				return nil, errStore
			}},
			request: func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), true) },
		},
		{
			name: "FindByUsername fails for MS-CHAPv2",
			accounts: &radiustest.Accounts{FindByUsernameFn: func(context.Context, string) (*tg.Account, error) {
				return nil, errStore
			}},
			request: func(t *testing.T) []byte {
				p, _ := mschapV2Request(t, "alice", "s3cret!", 1, seq(1, 16), seq(2, 16))
				return MustEncode(t, p, true)
			},
		},
		{
			name: "FindByMAC fails",
			accounts: &radiustest.Accounts{FindByMACFn: func(context.Context, string) (*tg.Account, error) {
				return nil, errStore
			}},
			request: func(t *testing.T) []byte {
				p := newRequest(t, testSecret, "AA:BB:CC:DD:EE:FF")
				_ = rfc2865.UserPassword_SetString(p, "")
				return MustEncode(t, p, true)
			},
		},
		{
			name: "store panics",
			accounts: &radiustest.Accounts{FindByUsernameFn: func(context.Context, string) (*tg.Account, error) {
				panic("boom")
			}},
			request: func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), true) },
		},
		{
			name: "deadline passes",
			accounts: &radiustest.Accounts{FindByUsernameFn: func(ctx context.Context, _ string) (*tg.Account, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}},
			request: func(t *testing.T) []byte { return MustEncode(t, papRequest(t, "alice", "s3cret!"), true) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustServer(t, Config{Timeout: 50 * time.Millisecond}, testNAS(true), tt.accounts)
			req := tt.request(t)
			MustWrite(t, h.conn, req)
			MustNoReply(t, h.conn)
			st := h.srv.Stats()
			if st.Internal.Load() != 1 || st.Accepts.Load()+st.Rejects.Load() != 0 {
				t.Errorf("Internal %d, decisions %d", st.Internal.Load(), st.Accepts.Load()+st.Rejects.Load())
			}
			if n := len(h.log.Entries()); n != 0 {
				t.Errorf("auth log has %d entries", n)
			}
			// Unanswered requests are not cached: the retransmit is tried again.
			MustWrite(t, h.conn, req)
			MustNoReply(t, h.conn)
			if st.Internal.Load() != 2 || st.Duplicates.Load() != 0 {
				t.Errorf("after retransmit: Internal %d, Duplicates %d", st.Internal.Load(), st.Duplicates.Load())
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	srv := New(Config{AuthAddr: "127.0.0.1:0"}, newDirectory().Fake(), nil, nil)
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for i := range 2 {
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown %d: %v", i+1, err)
		}
	}
}
