package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	tg "tollgate/radius"
	"tollgate/radius/radiustest"
)

const (
	coaSecret = "coa-secret"
	// coaTestTimeout is the per-attempt wait in these tests: short, since every silent case
	// waits it out 1+retries times, yet far above a loopback round trip.
	coaTestTimeout = 100 * time.Millisecond
	coaTestRetries = 2
)

var coaFramedIP = netip.MustParseAddr("10.5.50.7")

// coaTarget addresses the session alice/80100014 on the fake NAS n with secret.
func coaTarget(n *radiustest.CoANAS, secret string) CoATarget {
	return CoATarget{
		NAS: tg.NAS{
			ID: 7, Name: "r1", Prefix: netip.MustParsePrefix("127.0.0.1/32"),
			Secret: []byte(secret), CoAPort: n.Port(),
		},
		Username: "alice", SessionID: "80100014", FramedIP: coaFramedIP,
	}
}

func newTestCoAClient(timeout time.Duration, retries int) *CoAClient {
	c := NewCoAClient(timeout, retries, testLogger())
	c.now = func() time.Time { return testNow }
	return c
}

// MustCoARequests returns the next want requests the fake NAS received, failing when
// one does not come within wait, or when more are already waiting.
func MustCoARequests(tb testing.TB, n *radiustest.CoANAS, want int) []radiustest.CoARequest {
	tb.Helper()
	var got []radiustest.CoARequest
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(got) < want {
		select {
		case r := <-n.Requests():
			got = append(got, r)
		case <-timer.C:
			tb.Fatalf("fake NAS received %d requests, want %d", len(got), want)
		}
	}
	select {
	case r := <-n.Requests():
		tb.Fatalf("fake NAS received more than %d requests: extra code %d", want, r.Code)
	default:
	}
	return got
}

// resignReply recomputes a tampered reply's Message-Authenticator (when it has one and
// ma is set) and its Response Authenticator, as a NAS with the secret would.
func resignReply(b, req []byte, secret string, ma bool) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	copy(b[4:20], req[4:20])
	if off := findMA(b); ma && off >= 0 {
		clear(b[off : off+16])
		m := hmac.New(md5.New, []byte(secret))
		m.Write(b)
		copy(b[off:off+16], m.Sum(nil))
	}
	h := md5.New()
	h.Write(b)
	h.Write([]byte(secret))
	copy(b[4:20], h.Sum(nil))
	return b
}

// checkSession checks that the NAS saw a verified request for alice's session.
func checkSession(t *testing.T, r radiustest.CoARequest, code byte) {
	t.Helper()
	if r.Code != code {
		t.Errorf("code = %d, want %d", r.Code, code)
	}
	if r.Username != "alice" || r.SessionID != "80100014" || r.FramedIP != coaFramedIP {
		t.Errorf("session = %q/%q/%v, want alice/80100014/%v", r.Username, r.SessionID, r.FramedIP, coaFramedIP)
	}
	if !r.AuthValid || !r.HasMA || !r.MAValid {
		t.Errorf("AuthValid=%v HasMA=%v MAValid=%v, want all true", r.AuthValid, r.HasMA, r.MAValid)
	}
	if r.Raw[20] != typeMessageAuthenticator {
		t.Errorf("first attribute is %d, want Message-Authenticator", r.Raw[20])
	}
	if !radius.IsAuthenticRequest(r.Raw, []byte(coaSecret)) {
		t.Error("layeh does not find the Request Authenticator authentic")
	}
	p, err := radius.Parse(r.Raw, []byte(coaSecret))
	if err != nil {
		t.Fatalf("parse request: %v", err)
	}
	if ts := rfc2869.EventTimestamp_Get(p); !ts.Equal(testNow) {
		t.Errorf("Event-Timestamp = %v, want %v", ts, testNow)
	}
}

func TestCoAExchange(t *testing.T) {
	type op struct {
		coa            bool
		rateLimit      string
		sessionTimeout uint32
	}
	disconnect := op{}
	coa := op{coa: true, rateLimit: "2M/10M", sessionTimeout: 3600}
	ack := func(r radiustest.CoARequest) (byte, uint32) { return r.Code + 1, 0 }

	tests := []struct {
		name      string
		op        op
		nasSecret string // "" means coaSecret
		reply     func(radiustest.CoARequest) (byte, uint32)
		// tamper edits the fake's reply; call counts the replies from 1.
		tamper    func(call int32, req radiustest.CoARequest, b []byte) []byte
		want      string
		wantCause int
		// attempts is the exact number of requests the NAS must see, or 0 for "at least
		// one" where a slow machine may legitimately retransmit.
		attempts int
		check    func(t *testing.T, reqs []radiustest.CoARequest)
	}{
		{
			name: "disconnect ack", op: disconnect, want: coaAck,
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				checkSession(t, reqs[0], radiustest.CodeDisconnectRequest)
				if reqs[0].RateLimit != "" || reqs[0].SessionTimeout != 0 {
					t.Errorf("Disconnect carries %q/%d, want no CoA attributes", reqs[0].RateLimit, reqs[0].SessionTimeout)
				}
			},
		},
		{
			name: "coa rate limit and session timeout ack", op: coa, want: coaAck,
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				checkSession(t, reqs[0], radiustest.CodeCoARequest)
				if reqs[0].RateLimit != "2M/10M" || reqs[0].SessionTimeout != 3600 {
					t.Errorf("CoA carries %q/%d, want 2M/10M/3600", reqs[0].RateLimit, reqs[0].SessionTimeout)
				}
			},
		},
		{
			name: "coa rate limit only", op: op{coa: true, rateLimit: "64k/64k 256k/256k 128k/128k 10/10"}, want: coaAck,
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				checkSession(t, reqs[0], radiustest.CodeCoARequest)
				if reqs[0].RateLimit != "64k/64k 256k/256k 128k/128k 10/10" || reqs[0].SessionTimeout != 0 {
					t.Errorf("CoA carries %q/%d", reqs[0].RateLimit, reqs[0].SessionTimeout)
				}
			},
		},
		{
			name: "coa session timeout only", op: op{coa: true, sessionTimeout: 60}, want: coaAck,
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				if reqs[0].RateLimit != "" || reqs[0].SessionTimeout != 60 {
					t.Errorf("CoA carries %q/%d, want no rate limit and 60", reqs[0].RateLimit, reqs[0].SessionTimeout)
				}
			},
		},
		{
			name: "disconnect nak session not found", op: disconnect, want: coaNak, wantCause: 503,
			reply: func(radiustest.CoARequest) (byte, uint32) { return radiustest.CodeDisconnectNAK, 503 },
		},
		{
			name: "coa nak unsupported attribute", op: coa, want: coaNak, wantCause: 401,
			reply: func(radiustest.CoARequest) (byte, uint32) { return radiustest.CodeCoANAK, 401 },
		},
		{
			name: "nak without error cause", op: disconnect, want: coaNak,
			reply: func(radiustest.CoARequest) (byte, uint32) { return radiustest.CodeDisconnectNAK, 0 },
		},
		{
			name: "reply without message authenticator", op: disconnect, want: coaAck,
			tamper: func(_ int32, req radiustest.CoARequest, b []byte) []byte {
				b = append(b[:20:20], b[38:]...) // drop the leading Message-Authenticator
				return resignReply(b, req.Raw, coaSecret, false)
			},
		},
		{
			name: "silent nas", op: disconnect, want: coaTimeout, attempts: 1 + coaTestRetries,
			reply: func(radiustest.CoARequest) (byte, uint32) { return 0, 0 },
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				for i, r := range reqs[1:] {
					if !bytes.Equal(r.Raw, reqs[0].Raw) {
						t.Errorf("retransmission %d differs from the first request", i+1)
					}
				}
			},
		},
		{
			name: "wrong response authenticator", op: disconnect, want: coaTimeout, attempts: 1 + coaTestRetries,
			tamper: func(_ int32, _ radiustest.CoARequest, b []byte) []byte { b[4] ^= 1; return b },
		},
		{
			name: "wrong message authenticator", op: coa, want: coaTimeout, attempts: 1 + coaTestRetries,
			tamper: func(_ int32, req radiustest.CoARequest, b []byte) []byte {
				b[30] ^= 1
				return resignReply(b, req.Raw, coaSecret, false) // the Response Authenticator still verifies
			},
		},
		{
			name: "wrong identifier", op: disconnect, want: coaTimeout, attempts: 1 + coaTestRetries,
			tamper: func(_ int32, req radiustest.CoARequest, b []byte) []byte {
				b[1]++
				return resignReply(b, req.Raw, coaSecret, true)
			},
		},
		{
			name: "code of the other request", op: disconnect, want: coaTimeout, attempts: 1 + coaTestRetries,
			tamper: func(_ int32, req radiustest.CoARequest, b []byte) []byte {
				b[0] = radiustest.CodeCoAACK
				return resignReply(b, req.Raw, coaSecret, true)
			},
		},
		{
			name: "forged reply then a valid one", op: disconnect, want: coaAck,
			tamper: func(call int32, _ radiustest.CoARequest, b []byte) []byte {
				if call == 1 {
					b[4] ^= 1
				}
				return b
			},
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				if len(reqs) < 2 {
					t.Fatalf("NAS saw %d requests, want a retransmission after the forged reply", len(reqs))
				}
				if !bytes.Equal(reqs[0].Raw, reqs[1].Raw) {
					t.Error("retransmission differs from the first request")
				}
			},
		},
		{
			name: "wrong secret at the nas", op: disconnect, nasSecret: "other-secret", reply: ack,
			want: coaTimeout, attempts: 1 + coaTestRetries,
			check: func(t *testing.T, reqs []radiustest.CoARequest) {
				for _, r := range reqs {
					if r.AuthValid || r.MAValid || !r.HasMA {
						t.Errorf("with another secret: AuthValid=%v MAValid=%v HasMA=%v, want false false true", r.AuthValid, r.MAValid, r.HasMA)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := tt.nasSecret
			if secret == "" {
				secret = coaSecret
			}
			nas := radiustest.MustCoANAS(t, secret)
			if tt.reply != nil {
				nas.SetReply(tt.reply)
			}
			if tt.tamper != nil {
				var calls atomic.Int32
				nas.SetTamper(func(req radiustest.CoARequest, b []byte) []byte {
					return tt.tamper(calls.Add(1), req, b)
				})
			}
			c := newTestCoAClient(coaTestTimeout, coaTestRetries)
			target := coaTarget(nas, coaSecret)

			var res tg.CoAResult
			var err error
			kind := "disconnect"
			if tt.op.coa {
				kind = "coa"
				res, err = c.CoA(t.Context(), target, tt.op.rateLimit, tt.op.sessionTimeout)
			} else {
				res, err = c.Disconnect(t.Context(), target)
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			want := tg.CoAResult{NASID: 7, SessionID: "80100014", Username: "alice", Kind: kind, Result: tt.want, ErrorCause: tt.wantCause}
			if res != want {
				t.Errorf("result = %+v, want %+v", res, want)
			}

			var reqs []radiustest.CoARequest
			if tt.attempts > 0 {
				reqs = MustCoARequests(t, nas, tt.attempts)
			} else {
				// The fake delivers each request before answering it, so all that were
				// answered are waiting already.
				for len(nas.Requests()) > 0 {
					reqs = append(reqs, <-nas.Requests())
				}
				if len(reqs) == 0 {
					t.Fatal("fake NAS received no request")
				}
			}
			if tt.check != nil {
				tt.check(t, reqs)
			}
		})
	}
}

func TestCoARetriesDefault(t *testing.T) {
	c := NewCoAClient(0, 0, nil)
	if c.timeout != time.Second || c.retries != 2 {
		t.Errorf("defaults = %v/%d, want 1s/2", c.timeout, c.retries)
	}
	// One retry means two attempts.
	nas := radiustest.MustCoANAS(t, coaSecret)
	nas.SetReply(func(radiustest.CoARequest) (byte, uint32) { return 0, 0 })
	res, err := newTestCoAClient(coaTestTimeout, 1).Disconnect(t.Context(), coaTarget(nas, coaSecret))
	if err != nil || res.Result != coaTimeout {
		t.Fatalf("Disconnect = %+v, %v; want timeout", res, err)
	}
	MustCoARequests(t, nas, 2)
}

func TestCoARefusedTarget(t *testing.T) {
	nas := radiustest.MustCoANAS(t, coaSecret)
	c := newTestCoAClient(coaTestTimeout, coaTestRetries)
	tests := []struct {
		name string
		edit func(*CoATarget)
		coa  bool
	}{
		{name: "unspecified ipv4", edit: func(t *CoATarget) { t.NAS.Prefix = netip.MustParsePrefix("0.0.0.0/32") }},
		{name: "unspecified ipv6", edit: func(t *CoATarget) { t.NAS.Prefix = netip.MustParsePrefix("::/0") }},
		{name: "unspecified mapped", edit: func(t *CoATarget) { t.NAS.Prefix = netip.MustParsePrefix("::ffff:0.0.0.0/128") }},
		{name: "no prefix", edit: func(t *CoATarget) { t.NAS.Prefix = netip.Prefix{} }},
		{name: "multicast", edit: func(t *CoATarget) { t.NAS.Prefix = netip.MustParsePrefix("224.0.0.1/32") }},
		{name: "port out of range", edit: func(t *CoATarget) { t.NAS.CoAPort = 70000 }},
		{name: "no secret", edit: func(t *CoATarget) { t.NAS.Secret = nil }},
		{name: "no session identifier", edit: func(t *CoATarget) { t.Username, t.SessionID, t.FramedIP = "", "", netip.Addr{} }},
		{name: "user name too long", edit: func(t *CoATarget) { t.Username = strings.Repeat("a", 254) }},
		{name: "coa without a change", coa: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := coaTarget(nas, coaSecret)
			if tt.edit != nil {
				tt.edit(&target)
			}
			var res tg.CoAResult
			var err error
			if tt.coa {
				res, err = c.CoA(t.Context(), target, "", 0)
			} else {
				res, err = c.Disconnect(t.Context(), target)
			}
			if tg.ErrorCode(err) != tg.EINVALID || res.Result != coaError {
				t.Errorf("result %q, err %v (%s); want error, EINVALID", res.Result, err, tg.ErrorCode(err))
			}
		})
	}
	// Nothing reached the NAS: the first request it sees is this probe.
	if res, err := c.Disconnect(t.Context(), coaTarget(nas, coaSecret)); err != nil || res.Result != coaAck {
		t.Fatalf("probe Disconnect = %+v, %v", res, err)
	}
	reqs := MustCoARequests(t, nas, 1)
	checkSession(t, reqs[0], radiustest.CodeDisconnectRequest)
}

func TestCoAContext(t *testing.T) {
	// A per-attempt timeout far beyond the context's shows that ctx bounds the exchange.
	const long = 10 * time.Second
	silent := func(radiustest.CoARequest) (byte, uint32) { return 0, 0 }

	t.Run("deadline", func(t *testing.T) {
		nas := radiustest.MustCoANAS(t, coaSecret)
		nas.SetReply(silent)
		ctx, cancel := context.WithTimeout(t.Context(), coaTestTimeout)
		defer cancel()
		start := time.Now()
		res, err := newTestCoAClient(long, coaTestRetries).Disconnect(ctx, coaTarget(nas, coaSecret))
		if err != nil || res.Result != coaTimeout {
			t.Errorf("Disconnect = %+v, %v; want timeout", res, err)
		}
		if d := time.Since(start); d >= long/2 {
			t.Errorf("Disconnect took %v: the context's deadline did not bound it", d)
		}
		MustCoARequests(t, nas, 1)
	})
	t.Run("cancelled before", func(t *testing.T) {
		nas := radiustest.MustCoANAS(t, coaSecret)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		res, err := newTestCoAClient(long, coaTestRetries).Disconnect(ctx, coaTarget(nas, coaSecret))
		if !errors.Is(err, context.Canceled) || res.Result != coaError {
			t.Errorf("Disconnect = %+v, %v; want error, context.Canceled", res, err)
		}
		select {
		case r := <-nas.Requests():
			t.Errorf("a cancelled Disconnect sent code %d", r.Code)
		default:
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		nas := radiustest.MustCoANAS(t, coaSecret)
		nas.SetReply(silent)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			<-nas.Requests() // the request is out; cancel while the client waits
			cancel()
		}()
		res, err := newTestCoAClient(long, coaTestRetries).Disconnect(ctx, coaTarget(nas, coaSecret))
		if !errors.Is(err, context.Canceled) || res.Result != coaError {
			t.Errorf("Disconnect = %+v, %v; want error, context.Canceled", res, err)
		}
	})
}

func TestCoAConcurrent(t *testing.T) {
	nas := radiustest.MustCoANAS(t, coaSecret)
	c := newTestCoAClient(coaTestTimeout, coaTestRetries)
	const n = 16
	var wg sync.WaitGroup
	results := make([]tg.CoAResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			target := coaTarget(nas, coaSecret)
			target.SessionID = fmt.Sprintf("801%05d", i)
			results[i], errs[i] = c.Disconnect(t.Context(), target)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].Result != coaAck || results[i].SessionID != fmt.Sprintf("801%05d", i) {
			t.Errorf("Disconnect %d = %+v, %v", i, results[i], errs[i])
		}
	}
}

// TestCoADisconnectRadclient checks the fake NAS itself against FreeRADIUS: it must
// judge radclient's requests (Message-Authenticator last, computed by radclient)
// valid, and radclient must accept its replies.
func TestCoADisconnectRadclient(t *testing.T) {
	bin, err := exec.LookPath("radclient")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("radclient not installed (freeradius-utils): %v", err)
		}
		t.Skip("radclient not installed (apt-get install freeradius-utils)")
	}
	tests := []struct {
		name, command, attrs, received string
		code                           byte
		rateLimit                      string
	}{
		{
			name: "disconnect", command: "disconnect", code: radiustest.CodeDisconnectRequest, received: "Received Disconnect-ACK",
			attrs: `User-Name = "alice", Acct-Session-Id = "80100014", Framed-IP-Address = 10.5.50.7, Message-Authenticator = 0x00`,
		},
		{
			name: "coa", command: "coa", code: radiustest.CodeCoARequest, received: "Received CoA-ACK", rateLimit: "2M/10M",
			attrs: `User-Name = "alice", Acct-Session-Id = "80100014", Framed-IP-Address = 10.5.50.7, Mikrotik-Rate-Limit = "2M/10M", Message-Authenticator = 0x00`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nas := radiustest.MustCoANAS(t, coaSecret)
			ctx, cancel := context.WithTimeout(t.Context(), 3*wait)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-x", "-r", "1", "-t", "2", fmt.Sprintf("127.0.0.1:%d", nas.Port()), tt.command, coaSecret)
			cmd.Stdin = strings.NewReader(tt.attrs)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), tt.received) {
				t.Fatalf("radclient: %v\n%s", err, out)
			}
			r := MustCoARequests(t, nas, 1)[0]
			checkSessionFrom(t, r, tt.code)
			if r.RateLimit != tt.rateLimit {
				t.Errorf("RateLimit = %q, want %q", r.RateLimit, tt.rateLimit)
			}
		})
	}
}

// checkSessionFrom is checkSession for a request from another client, which may place
// Message-Authenticator anywhere.
func checkSessionFrom(t *testing.T, r radiustest.CoARequest, code byte) {
	t.Helper()
	if r.Code != code || r.Username != "alice" || r.SessionID != "80100014" || r.FramedIP != coaFramedIP {
		t.Errorf("request = code %d %q/%q/%v", r.Code, r.Username, r.SessionID, r.FramedIP)
	}
	if !r.AuthValid || !r.HasMA || !r.MAValid {
		t.Errorf("AuthValid=%v HasMA=%v MAValid=%v, want all true", r.AuthValid, r.HasMA, r.MAValid)
	}
}

// TestCoAAddr: a Disconnect or CoA goes to the NAS's address when the NAS is one
// address, and for a NAS that is a range to the router the session's accounting came
// from; never to the range's network address.
func TestCoAAddr(t *testing.T) {
	rangeNAS := tg.NAS{ID: 7, Name: "pop", Prefix: netip.MustParsePrefix("10.20.0.0/24"), Secret: []byte(coaSecret), CoAPort: 1700}
	single := tg.NAS{ID: 8, Name: "r1", Prefix: netip.MustParsePrefix("10.30.0.1/32"), Secret: []byte(coaSecret)}
	v6 := tg.NAS{ID: 9, Name: "v6", Prefix: netip.MustParsePrefix("2001:db8:5::/56"), Secret: []byte(coaSecret)}
	tests := []struct {
		name string
		nas  tg.NAS
		addr string // the session's router; "" for unknown
		want string // "" for EINVALID
	}{
		{"range: the session's router", rangeNAS, "10.20.0.7", "10.20.0.7:1700"},
		{"range: a mapped router address", rangeNAS, "::ffff:10.20.0.9", "10.20.0.9:1700"},
		{"range: router unknown", rangeNAS, "", ""},
		{"range: router outside the range", rangeNAS, "10.20.1.7", ""},
		{"range: ipv6", v6, "2001:db8:5:7::1", "[2001:db8:5:7::1]:3799"},
		{"single: the NAS address", single, "", "10.30.0.1:3799"},
		{"single: the NAS address whatever the session says", single, "10.30.0.2", "10.30.0.1:3799"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := CoATarget{NAS: tt.nas}
			if tt.addr != "" {
				target.Addr = netip.MustParseAddr(tt.addr)
			}
			got, err := coaAddr(target)
			if tt.want == "" {
				if tg.ErrorCode(err) != tg.EINVALID {
					t.Fatalf("coaAddr = %v, %v; want EINVALID", got, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("coaAddr = %v, %v; want %s", got, err, tt.want)
			}
			if p := tt.nas.Prefix; !p.IsSingleIP() && got.Addr() == p.Masked().Addr() {
				t.Fatalf("coaAddr chose the range's network address %v", got)
			}
		})
	}
}

// recordingAccounter keeps every record it is given.
type recordingAccounter struct {
	mu   sync.Mutex
	recs []tg.AcctRecord
}

func (a *recordingAccounter) Record(_ context.Context, r *tg.AcctRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, *r)
	return nil
}

// mustAcctRequest encodes an Accounting-Request with a Message-Authenticator (computed
// with a zero authenticator field) and its Request Authenticator (RFC 2866 §3).
func mustAcctRequest(tb testing.TB, p *radius.Packet) []byte {
	tb.Helper()
	p.Attributes = append(radius.Attributes{{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)}}, p.Attributes...)
	b, err := p.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	clear(b[4:20])
	m := hmac.New(md5.New, p.Secret)
	m.Write(b)
	copy(b[22:38], m.Sum(nil))
	h := md5.New()
	h.Write(b)
	h.Write(p.Secret)
	copy(b[4:20], h.Sum(nil))
	return b
}

// TestCoAToSessionRouter: with a NAS that is the range 127.0.0.0/24, accounting from
// 127.0.0.1 records that address, and the Disconnect for the session arrives there.
func TestCoAToSessionRouter(t *testing.T) {
	fake := radiustest.MustCoANAS(t, coaSecret)
	nas := tg.NAS{ID: 7, Name: "pop", Prefix: netip.MustParsePrefix("127.0.0.0/24"), Secret: []byte(coaSecret),
		CoAPort: fake.Port(), RequireMessageAuthenticator: true}
	acc := &recordingAccounter{}
	srv := New(Config{AuthAddr: "127.0.0.1:0", AcctAddr: "127.0.0.1:0", Workers: 1}, newDirectory().Fake(), nil, testLogger())
	srv.SetAccounting(acc, nil)
	srv.SetNAS([]tg.NAS{nas})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})

	p := radius.New(radius.CodeAccountingRequest, []byte(coaSecret))
	rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Start)
	rfc2866.AcctSessionID_SetString(p, "80100014")
	rfc2865.UserName_SetString(p, "alice")
	rfc2865.FramedIPAddress_Set(p, coaFramedIP.AsSlice())
	conn := MustDial(t, srv.AcctAddr(), netip.MustParseAddr("127.0.0.1"))
	if reply := MustExchange(t, conn, mustAcctRequest(t, p)); radius.Code(reply[0]) != radius.CodeAccountingResponse {
		t.Fatalf("reply code %d", reply[0])
	}
	acc.mu.Lock()
	recs := acc.recs
	acc.mu.Unlock()
	if len(recs) != 1 || recs[0].NASAddr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("recorded %+v, want one record from 127.0.0.1", recs)
	}

	c := newTestCoAClient(coaTestTimeout, coaTestRetries)
	target := CoATarget{NAS: nas, Addr: recs[0].NASAddr, Username: "alice", SessionID: "80100014", FramedIP: coaFramedIP}
	if res, err := c.Disconnect(t.Context(), target); err != nil || res.Result != coaAck {
		t.Fatalf("Disconnect = %+v, %v", res, err)
	}
	checkSession(t, MustCoARequests(t, fake, 1)[0], radiustest.CodeDisconnectRequest)
	// Without the router's address nothing is sent: the range's own address is no router.
	target.Addr = netip.Addr{}
	if res, err := c.Disconnect(t.Context(), target); tg.ErrorCode(err) != tg.EINVALID || res.Result != coaError {
		t.Fatalf("Disconnect without the router = %+v, %v", res, err)
	}
	MustCoARequests(t, fake, 0)
}
