package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"fmt"
	"io"
	"log"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"
)

const testSecret = "s3cr3t-bench"

// replyBehaviour controls the in-test responder.
type replyBehaviour int

const (
	replyOK        replyBehaviour = iota
	replyBadMA                    // corrupt the reply Message-Authenticator
	replySilent                   // never answer
	replyNoMA                     // answer without a Message-Authenticator
	replyBadAuth                  // acct: corrupt the Response Authenticator
	replyWrongCode                // acct: answer with Access-Accept
)

type testServer struct {
	addr      string
	behaviour replyBehaviour
	requireMA bool
	wantMAC   bool
	received  atomic.Int64
	problems  atomic.Int64 // requests that violated expectations (logged)
	t         *testing.T
}

// startServer runs a layeh PacketServer on 127.0.0.1:0 that authenticates the
// users bench%06d/pass%06d with PAP, CHAP or MS-CHAPv2.
func startServer(t *testing.T, ts *testServer) *testServer {
	t.Helper()
	ts.t = t
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = conn.LocalAddr().String()
	srv := &radius.PacketServer{
		SecretSource: radius.StaticSecretSource([]byte(testSecret)),
		Handler:      radius.HandlerFunc(ts.serve),
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	go srv.Serve(conn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		conn.Close()
	})
	return ts
}

func (ts *testServer) problem(format string, args ...any) {
	ts.problems.Add(1)
	ts.t.Errorf("server: "+format, args...)
}

func (ts *testServer) serve(w radius.ResponseWriter, r *radius.Request) {
	ts.received.Add(1)
	if ts.behaviour == replySilent {
		return
	}
	p := r.Packet

	// Verify the request's Message-Authenticator: it must be the first
	// attribute and equal HMAC-MD5 over the packet with the MA zeroed.
	if ts.requireMA {
		if len(p.Attributes) == 0 || p.Attributes[0].Type != rfc2869.MessageAuthenticator_Type {
			ts.problem("Message-Authenticator is not the first attribute")
			return
		}
		wire, err := p.MarshalBinary() // re-encodes identically to the wire bytes
		if err != nil {
			ts.problem("marshal: %v", err)
			return
		}
		got := append([]byte(nil), wire[22:38]...)
		clear(wire[22:38])
		mac := hmac.New(md5.New, []byte(testSecret))
		mac.Write(wire)
		if !hmac.Equal(mac.Sum(nil), got) {
			ts.problem("bad request Message-Authenticator")
			return
		}
	} else if _, ok := p.Lookup(rfc2869.MessageAuthenticator_Type); ok {
		ts.problem("unexpected Message-Authenticator")
	}
	if got := rfc2865.NASIdentifier_GetString(p); got != "radbench" {
		ts.problem("NAS-Identifier %q", got)
	}
	if got := rfc2865.NASPortType_Get(p); got != rfc2865.NASPortType_Value_Ethernet {
		ts.problem("NAS-Port-Type %v", got)
	}

	user := rfc2865.UserName_GetString(p)
	var idx int
	if _, err := fmt.Sscanf(user, "bench%d", &idx); err != nil {
		ts.problem("user name %q", user)
		return
	}
	wantPass := fmt.Sprintf("pass%06d", idx)
	if ts.wantMAC {
		if got, want := rfc2865.CallingStationID_GetString(p), macFor(idx); got != want {
			ts.problem("Calling-Station-Id %q, want %q", got, want)
		}
	} else if _, ok := p.Lookup(rfc2865.CallingStationID_Type); ok {
		ts.problem("unexpected Calling-Station-Id")
	}

	ok := false
	var success []byte
	switch {
	case len(rfc2865.CHAPPassword_Get(p)) > 0:
		cp := rfc2865.CHAPPassword_Get(p)
		ch := rfc2865.CHAPChallenge_Get(p)
		if len(cp) != 17 || len(ch) != 16 {
			ts.problem("CHAP attribute lengths %d/%d", len(cp), len(ch))
			break
		}
		sum := md5.Sum(append(append([]byte{cp[0]}, wantPass...), ch...))
		ok = bytes.Equal(sum[:], cp[1:])
	case len(microsoft.MSCHAP2Response_Get(p)) > 0:
		resp := microsoft.MSCHAP2Response_Get(p)
		authCh := microsoft.MSCHAPChallenge_Get(p)
		if len(resp) != 50 || len(authCh) != 16 {
			ts.problem("MS-CHAPv2 attribute lengths %d/%d", len(resp), len(authCh))
			break
		}
		peerCh, nt := resp[2:18], resp[26:50]
		want, err := rfc2759.GenerateNTResponse(authCh, peerCh, []byte(user), []byte(wantPass))
		if err != nil {
			ts.problem("NT response: %v", err)
			break
		}
		if bytes.Equal(want, nt) {
			ok = true
			s, err := rfc2759.GenerateAuthenticatorResponse(authCh, peerCh, nt, []byte(user), []byte(wantPass))
			if err != nil {
				ts.problem("authenticator response: %v", err)
				return
			}
			success = append([]byte{resp[0]}, s...)
		}
	default:
		pass, err := rfc2865.UserPassword_LookupString(p)
		if err != nil {
			ts.problem("no usable credentials: %v", err)
			break
		}
		ok = pass == wantPass
	}

	code := radius.CodeAccessReject
	if ok {
		code = radius.CodeAccessAccept
	}
	resp := p.Response(code)
	if success != nil {
		if err := microsoft.MSCHAP2Success_Add(resp, success); err != nil {
			ts.problem("MSCHAP2Success_Add: %v", err)
			return
		}
	}
	if ts.behaviour != replyNoMA {
		addReplyMA(resp, ts.behaviour == replyBadMA)
	}
	if err := w.Write(resp); err != nil {
		ts.problem("write: %v", err)
	}
}

// addReplyMA adds a Message-Authenticator to a reply: HMAC-MD5 over the reply
// with the MA zeroed and the authenticator field holding the REQUEST
// authenticator (which Response() copied). The Response Authenticator is then
// computed by Encode() over the packet including the MA.
func addReplyMA(resp *radius.Packet, corrupt bool) {
	ma := make(radius.Attribute, 16)
	resp.Add(rfc2869.MessageAuthenticator_Type, ma)
	wire, err := resp.MarshalBinary()
	if err != nil {
		panic(err)
	}
	mac := hmac.New(md5.New, resp.Secret)
	mac.Write(wire)
	copy(ma, mac.Sum(nil))
	if corrupt {
		ma[0] ^= 0xff
	}
}

var resultRE = regexp.MustCompile(`^RESULT mode=(\S+) users=(\d+) concurrency=(\d+) duration=(\d+\.\d\d)s sent=(\d+) accepts=(\d+) rejects=(\d+) timeouts=(\d+) errors=(\d+) rps=(\d+\.\d) p50=(\d+\.\d+)ms p95=(\d+\.\d+)ms p99=(\d+\.\d+)ms max=(\d+\.\d+)ms latency=(kernel|app)\n$`)

type result struct {
	mode                                     string
	users, concurrency                       int
	sent, accepts, rejects, timeouts, errors int
	duration, rps, p50, p95, p99, max        float64
	latency                                  string
	line                                     string
}

func parseResult(t *testing.T, out string) result {
	t.Helper()
	m := resultRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout is not exactly one RESULT line: %q", out)
	}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	atof := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	return result{
		mode: m[1], users: atoi(m[2]), concurrency: atoi(m[3]), duration: atof(m[4]),
		sent: atoi(m[5]), accepts: atoi(m[6]), rejects: atoi(m[7]), timeouts: atoi(m[8]), errors: atoi(m[9]),
		rps: atof(m[10]), p50: atof(m[11]), p95: atof(m[12]), p99: atof(m[13]), max: atof(m[14]),
		latency: m[15],
		line:    strings.TrimSpace(out),
	}
}

func benchConfig(addr, mode string) config {
	cfg := defaultConfig()
	cfg.Server = addr
	cfg.Secret = testSecret
	cfg.Mode = mode
	cfg.Users = 10
	cfg.Concurrency = 4
	cfg.Requests = 200
	cfg.Duration = 10 * time.Second // upper bound only; -requests ends the run
	return cfg
}

func runBench(t *testing.T, cfg config) (result, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), cfg, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	return parseResult(t, stdout.String()), code, stderr.String()
}

func TestRunAccepts(t *testing.T) {
	for _, latency := range []string{"app", "kernel"} {
		t.Run("latency="+latency, func(t *testing.T) { testRunAccepts(t, latency) })
	}
}

func testRunAccepts(t *testing.T, latency string) {
	for _, tc := range []struct {
		mode string
		mac  bool
		noMA bool
		pick string
		warm time.Duration
	}{
		{mode: "pap"},
		{mode: "pap", mac: true, pick: "random", warm: 100 * time.Millisecond},
		{mode: "pap", noMA: true},
		{mode: "chap", mac: true},
		{mode: "mschapv2"},
		{mode: "mschapv2", noMA: true, pick: "random"},
	} {
		name := fmt.Sprintf("%s/mac=%t/noMA=%t/pick=%s", tc.mode, tc.mac, tc.noMA, tc.pick)
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, &testServer{requireMA: !tc.noMA, wantMAC: tc.mac})
			cfg := benchConfig(ts.addr, tc.mode)
			cfg.MAC = tc.mac
			cfg.NoMessageAuthenticator = tc.noMA
			cfg.Warmup = tc.warm
			cfg.Latency = latency
			if tc.pick != "" {
				cfg.Pick = tc.pick
			}
			res, code, stderr := runBench(t, cfg)
			if code != exitOK {
				t.Errorf("exit code %d, want 0", code)
			}
			wantLatency := latency
			if !rxTimestampSupported {
				wantLatency = "app"
			}
			if res.latency != wantLatency {
				t.Errorf("latency=%s, want %s: %s", res.latency, wantLatency, res.line)
			}
			if wantLatency == "kernel" && !strings.Contains(stderr, "kernel-timestamp-fallbacks=0 ") {
				t.Errorf("kernel mode: stderr lacks kernel-timestamp-fallbacks=0")
			}
			if res.mode != tc.mode || res.users != 10 || res.concurrency != 4 {
				t.Errorf("bad header fields: %s", res.line)
			}
			if res.sent != 200 || res.accepts != 200 || res.rejects != 0 || res.errors != 0 || res.timeouts != 0 {
				t.Errorf("want sent=200 accepts=200 and no rejects/errors/timeouts: %s", res.line)
			}
			if res.rps <= 0 || res.p50 > res.p95 || res.p95 > res.p99 || res.p99 > res.max {
				t.Errorf("implausible rps/percentiles: %s", res.line)
			}
			if tc.warm == 0 && ts.received.Load() != 200 {
				t.Errorf("server saw %d requests, want 200", ts.received.Load())
			}
			if ts.problems.Load() != 0 {
				t.Errorf("server reported %d problems", ts.problems.Load())
			}
		})
	}
}

func TestWrongPasswordRejects(t *testing.T) {
	for _, mode := range []string{"pap", "chap", "mschapv2"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t, &testServer{requireMA: true})
			cfg := benchConfig(ts.addr, mode)
			cfg.Requests = 50
			cfg.PassFormat = "wrong%d"

			cfg.Expect = "reject"
			res, code, _ := runBench(t, cfg)
			if code != exitOK || res.rejects != 50 || res.accepts != 0 || res.errors != 0 {
				t.Errorf("expect=reject: code=%d %s", code, res.line)
			}

			cfg.Expect = "accept"
			res, code, stderr := runBench(t, cfg)
			if code != exitFail || res.rejects != 50 || res.errors != 50 {
				t.Errorf("expect=accept: code=%d %s", code, res.line)
			}
			if !strings.Contains(stderr, "unexpected Access-Reject") {
				t.Errorf("stderr lacks the error sample")
			}

			cfg.Expect = "any"
			res, code, _ = runBench(t, cfg)
			if code != exitOK || res.rejects != 50 || res.errors != 0 {
				t.Errorf("expect=any: code=%d %s", code, res.line)
			}
		})
	}
}

func TestBadReplyMessageAuthenticator(t *testing.T) {
	ts := startServer(t, &testServer{requireMA: true, behaviour: replyBadMA})
	cfg := benchConfig(ts.addr, "pap")
	cfg.Requests = 40
	res, code, stderr := runBench(t, cfg)
	if code != exitFail || res.errors != 40 || res.accepts != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
	if !strings.Contains(stderr, errBadMA.Error()) {
		t.Errorf("stderr lacks %q", errBadMA)
	}
}

func TestReplyWithoutMessageAuthenticator(t *testing.T) {
	ts := startServer(t, &testServer{requireMA: true, behaviour: replyNoMA})
	cfg := benchConfig(ts.addr, "pap")
	cfg.Requests = 20
	res, code, stderr := runBench(t, cfg)
	if code != exitOK || res.accepts != 20 || res.errors != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
	if !strings.Contains(stderr, "20 verified replies carried no Message-Authenticator") {
		t.Errorf("stderr lacks the no-MA diagnostic")
	}
}

func TestWrongSecretIsError(t *testing.T) {
	ts := startServer(t, &testServer{})
	cfg := benchConfig(ts.addr, "chap")
	cfg.Requests = 20
	cfg.Secret = "not-the-secret"
	cfg.NoMessageAuthenticator = true
	res, code, _ := runBench(t, cfg)
	if code != exitFail || res.errors != 20 || res.accepts != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
}

func TestTimeouts(t *testing.T) {
	ts := startServer(t, &testServer{behaviour: replySilent})
	cfg := benchConfig(ts.addr, "pap")
	cfg.Requests = 4
	cfg.Timeout = 50 * time.Millisecond
	cfg.Retries = 1
	res, code, stderr := runBench(t, cfg)
	if code != exitFail || res.timeouts != 4 || res.sent != 4 || res.accepts != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
	if got := ts.received.Load(); got != 8 {
		t.Errorf("server saw %d packets, want 8 (4 requests × 2 attempts)", got)
	}
	if !strings.Contains(stderr, "retransmissions=4") {
		t.Errorf("stderr lacks retransmission count")
	}
}

func TestDurationBound(t *testing.T) {
	ts := startServer(t, &testServer{requireMA: true})
	cfg := benchConfig(ts.addr, "pap")
	cfg.Requests = 0
	cfg.Duration = 200 * time.Millisecond
	start := time.Now()
	res, code, _ := runBench(t, cfg)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("run took %v", el)
	}
	if code != exitOK || res.sent == 0 || res.accepts != res.sent || res.duration < 0.2 {
		t.Errorf("code=%d %s", code, res.line)
	}
}

func TestRefuseNonLoopback(t *testing.T) {
	for _, args := range [][]string{
		{"-secret", "x", "-server", "10.0.0.1:1812"},
		{"-secret", "x", "-server", "192.168.88.1:1812"},
		{"-secret", "x", "-server", "example.com:1812"},
		{"-secret", "x", "-server", "[2001:db8::1]:1812"},
		{"-secret", "x", "-server", "0.0.0.0:1812"},
		{"-secret", "x", "-acct-server", "10.1.2.3:1813"},
	} {
		var stdout, stderr bytes.Buffer
		if code := realMain(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "non-loopback") {
			t.Errorf("%v: stdout=%q stderr=%q", args, stdout.String(), stderr.String())
		}
	}
	for _, addr := range []string{"127.0.0.1:1812", "127.1.2.3:1812", "[::1]:1812", "localhost:1812", "LOCALHOST:1812"} {
		if err := checkLoopback("-server", addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},                               // no secret
		{"-secret", "x", "-mode", "eap"}, // unknown
		{"-secret", "x", "-mode", "acct", "-requests", "3"}, // less than one session
		{"-secret", "x", "-mode", "acct", "-interims", "-1"},
		{"-secret", "x", "-mode", "acct", "-interims", "10001"},
		{"-secret", "x", "-duration", "0"},   // unbounded
		{"-secret", "x", "-expect", "maybe"}, // bad expect
		{"-secret", "x", "-user-format", "u%q%q"},
		{"-secret", "x", "-bogus"},
		{"-secret", "x", "-latency", "wall"},
	} {
		var stdout, stderr bytes.Buffer
		if code := realMain(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestWarmupFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "2": 2 * time.Second, "0.5": 500 * time.Millisecond, "750ms": 750 * time.Millisecond} {
		cfg, err := parseFlags([]string{"-secret", "x", "-warmup", in}, io.Discard)
		if err != nil || cfg.Warmup != want {
			t.Errorf("-warmup %s: %v %v", in, cfg.Warmup, err)
		}
	}
}

func TestMACFormat(t *testing.T) {
	for i, want := range map[int]string{0: "AA:BB:CC:00:00:00", 1: "AA:BB:CC:00:00:01", 0xabcdef: "AA:BB:CC:AB:CD:EF", 99999: "AA:BB:CC:01:86:9F"} {
		if got := macFor(i); got != want {
			t.Errorf("macFor(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 10000; i++ { // 1µs .. 10ms uniformly
		h.record(time.Duration(i) * time.Microsecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 5 * time.Millisecond, 0.95: 9500 * time.Microsecond, 0.99: 9900 * time.Microsecond} {
		got := h.quantile(q)
		if d := got - want; d < -want/500 || d > want/500 {
			t.Errorf("q%.2f = %v, want ≈%v", q, got, want)
		}
	}
	if h.max != 10*time.Millisecond {
		t.Errorf("max = %v", h.max)
	}
	// Index/value round trip stays within the bucket precision, up to 10 s.
	for us := uint64(0); us <= histMaxUS; us = us*3/2 + 1 {
		i := histIndex(us)
		if i < 0 || i >= histBuckets {
			t.Fatalf("index %d out of range for %d", i, us)
		}
		v := histValue(i)
		if diff := int64(v) - int64(us); diff < 0 && -diff > int64(us/1000)+1 || diff > int64(us/1000)+1 {
			t.Errorf("value(index(%d)) = %d", us, v)
		}
	}
	h.record(time.Minute) // clamped bucket, exact max
	if h.max != time.Minute || h.quantile(1) != time.Minute {
		t.Errorf("clamp: max=%v q1=%v", h.max, h.quantile(1))
	}
}

// TestSignMA checks signMA against an independent HMAC over a layeh-encoded
// request.
func TestSignMA(t *testing.T) {
	p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	rfc2865.UserName_SetString(p, "bench000001")
	rfc2865.UserPassword_SetString(p, "pass000001")
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := hmac.New(md5.New, []byte(testSecret))
	want.Write(b)
	if err := signMA(b, hmac.New(md5.New, []byte(testSecret))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[22:38], want.Sum(nil)) {
		t.Fatal("MA mismatch")
	}
	if err := signMA(b[:30], hmac.New(md5.New, nil)); err == nil {
		t.Fatal("short packet accepted")
	}
}

// ---- accounting ----

// acctEvent is one Accounting-Request as the responder saw it. Counters are
// 64-bit session totals (Gigawords folded in).
type acctEvent struct {
	status          rfc2866.AcctStatusType
	sessTime        uint32
	in, out         uint64
	inGW, outGW     uint32
	inPkts, outPkts uint32
}

// acctTrace is everything seen for one Acct-Session-Id.
type acctTrace struct {
	user, ip string
	port     uint32
	events   []acctEvent
}

// acctServer is an in-test accounting responder: a raw UDP loop that checks
// every Accounting-Request (Request Authenticator computed independently,
// Message-Authenticator, MikroTik PPPoE attributes) and records the events
// of each session before answering.
type acctServer struct {
	addr      string
	behaviour replyBehaviour // replyOK, replySilent, replyBadMA, replyBadAuth, replyWrongCode
	wantMA    bool           // requests must carry a valid Message-Authenticator first (else none)
	replyMA   bool           // add a Message-Authenticator to replies
	wantClass string         // expected Class ("" = must be absent)
	received  atomic.Int64
	problems  atomic.Int64
	t         *testing.T

	mu       sync.Mutex
	sessions map[string]*acctTrace
	order    []string // session ids in order of first appearance
}

var sessionIDRE = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{8}$`)

func startAcctServer(t *testing.T, as *acctServer) *acctServer {
	t.Helper()
	as.t = t
	as.sessions = map[string]*acctTrace{}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	as.addr = conn.LocalAddr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if reply := as.handle(buf[:n]); reply != nil {
				if _, err := conn.WriteTo(reply, from); err != nil {
					as.problem("write: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return as
}

func (as *acctServer) problem(format string, args ...any) {
	as.problems.Add(1)
	as.t.Errorf("acct server: "+format, args...)
}

func (as *acctServer) handle(b []byte) []byte {
	as.received.Add(1)
	if as.behaviour == replySilent {
		return nil
	}
	if len(b) < 20 || radius.Code(b[0]) != radius.CodeAccountingRequest {
		as.problem("not an Accounting-Request: % x", b)
		return nil
	}
	// Request Authenticator: MD5(Code‖ID‖Length‖16 zero octets‖Attributes‖Secret).
	zeroed := bytes.Clone(b)
	clear(zeroed[4:20])
	if sum := md5.Sum(append(bytes.Clone(zeroed), testSecret...)); !bytes.Equal(sum[:], b[4:20]) {
		as.problem("bad Request Authenticator")
		return nil
	}
	p, err := radius.Parse(b, []byte(testSecret))
	if err != nil {
		as.problem("parse: %v", err)
		return nil
	}
	if as.wantMA {
		// First attribute, HMAC-MD5 over the packet with the authenticator
		// field and the MA value zeroed.
		if len(p.Attributes) == 0 || p.Attributes[0].Type != rfc2869.MessageAuthenticator_Type || b[21] != 18 {
			as.problem("Message-Authenticator is not the first attribute")
			return nil
		}
		clear(zeroed[22:38])
		mac := hmac.New(md5.New, []byte(testSecret))
		mac.Write(zeroed)
		if !hmac.Equal(mac.Sum(nil), b[22:38]) {
			as.problem("bad request Message-Authenticator")
			return nil
		}
	} else if _, ok := p.Lookup(rfc2869.MessageAuthenticator_Type); ok {
		as.problem("unexpected Message-Authenticator")
	}

	status, err := rfc2866.AcctStatusType_Lookup(p)
	if err != nil {
		as.problem("Acct-Status-Type: %v", err)
		return nil
	}
	sid := rfc2866.AcctSessionID_GetString(p)
	if !sessionIDRE.MatchString(sid) {
		as.problem("Acct-Session-Id %q", sid)
	}
	user := rfc2865.UserName_GetString(p)
	var idx int
	if _, err := fmt.Sscanf(user, "bench%d", &idx); err != nil {
		as.problem("user name %q", user)
		return nil
	}
	check := func(ok bool, what string, got any) {
		if !ok {
			as.problem("%v %s: got %v", status, what, got)
		}
	}
	nasIP := rfc2865.NASIPAddress_Get(p)
	check(nasIP.Equal(net.IPv4(127, 0, 0, 1)), "NAS-IP-Address", nasIP)
	check(rfc2865.NASIdentifier_GetString(p) == "radbench", "NAS-Identifier", rfc2865.NASIdentifier_GetString(p))
	port, err := rfc2865.NASPort_Lookup(p)
	check(err == nil, "NAS-Port", err)
	check(rfc2865.NASPortType_Get(p) == rfc2865.NASPortType_Value_Ethernet, "NAS-Port-Type", rfc2865.NASPortType_Get(p))
	check(rfc2869.NASPortID_GetString(p) == "ether1", "NAS-Port-Id", rfc2869.NASPortID_GetString(p))
	check(rfc2865.ServiceType_Get(p) == rfc2865.ServiceType_Value_FramedUser, "Service-Type", rfc2865.ServiceType_Get(p))
	check(rfc2865.FramedProtocol_Get(p) == rfc2865.FramedProtocol_Value_PPP, "Framed-Protocol", rfc2865.FramedProtocol_Get(p))
	ip := rfc2865.FramedIPAddress_Get(p)
	check(ip.To4() != nil && ip.To4()[0] == 10, "Framed-IP-Address", ip)
	check(rfc2865.CallingStationID_GetString(p) == macFor(idx), "Calling-Station-Id", rfc2865.CallingStationID_GetString(p))
	check(rfc2865.CalledStationID_GetString(p) == "pppoe-bench", "Called-Station-Id", rfc2865.CalledStationID_GetString(p))
	check(rfc2866.AcctAuthentic_Get(p) == rfc2866.AcctAuthentic_Value_RADIUS, "Acct-Authentic", rfc2866.AcctAuthentic_Get(p))
	delay, err := rfc2866.AcctDelayTime_Lookup(p)
	check(err == nil && delay == 0, "Acct-Delay-Time", delay)
	class, err := rfc2865.Class_Lookup(p)
	check(string(class) == as.wantClass && (err == nil) == (as.wantClass != ""), "Class", string(class))

	ev := acctEvent{status: status}
	counters := []radius.Type{
		rfc2866.AcctSessionTime_Type, rfc2866.AcctInputOctets_Type, rfc2866.AcctOutputOctets_Type,
		rfc2869.AcctInputGigawords_Type, rfc2869.AcctOutputGigawords_Type,
		rfc2866.AcctInputPackets_Type, rfc2866.AcctOutputPackets_Type,
	}
	switch status {
	case rfc2866.AcctStatusType_Value_Start:
		for _, typ := range counters {
			_, ok := p.Lookup(typ)
			check(!ok, fmt.Sprintf("attribute %d on Start", typ), ok)
		}
	case rfc2866.AcctStatusType_Value_InterimUpdate, rfc2866.AcctStatusType_Value_Stop:
		for _, typ := range counters {
			_, ok := p.Lookup(typ) // Gigawords too, even when 0
			check(ok, fmt.Sprintf("attribute %d present", typ), ok)
		}
		ev.sessTime = uint32(rfc2866.AcctSessionTime_Get(p))
		ev.inGW = uint32(rfc2869.AcctInputGigawords_Get(p))
		ev.outGW = uint32(rfc2869.AcctOutputGigawords_Get(p))
		ev.in = uint64(ev.inGW)<<32 | uint64(rfc2866.AcctInputOctets_Get(p))
		ev.out = uint64(ev.outGW)<<32 | uint64(rfc2866.AcctOutputOctets_Get(p))
		ev.inPkts = uint32(rfc2866.AcctInputPackets_Get(p))
		ev.outPkts = uint32(rfc2866.AcctOutputPackets_Get(p))
	default:
		as.problem("Acct-Status-Type %v", status)
	}
	cause, err := rfc2866.AcctTerminateCause_Lookup(p)
	if status == rfc2866.AcctStatusType_Value_Stop {
		check(err == nil && cause == rfc2866.AcctTerminateCause_Value_UserRequest, "Acct-Terminate-Cause", cause)
	} else {
		check(err != nil, "Acct-Terminate-Cause", cause)
	}

	as.mu.Lock()
	tr := as.sessions[sid]
	if tr == nil {
		tr = &acctTrace{user: user, ip: ip.String(), port: uint32(port)}
		as.sessions[sid] = tr
		as.order = append(as.order, sid)
	}
	if tr.user != user || tr.ip != ip.String() || tr.port != uint32(port) {
		as.problem("session %s changed user/ip/port: %s %s %d -> %s %s %d", sid, tr.user, tr.ip, tr.port, user, ip, port)
	}
	tr.events = append(tr.events, ev)
	as.mu.Unlock()

	code := radius.CodeAccountingResponse
	if as.behaviour == replyWrongCode {
		code = radius.CodeAccessAccept
	}
	resp := p.Response(code) // carries the Request Authenticator for Encode
	if as.replyMA || as.behaviour == replyBadMA {
		addReplyMA(resp, as.behaviour == replyBadMA)
	}
	out, err := resp.Encode()
	if err != nil {
		as.problem("encode: %v", err)
		return nil
	}
	if as.behaviour == replyBadAuth {
		out[4] ^= 0xff
	}
	return out
}

// acctSummary is what checkSessions found.
type acctSummary struct {
	sessions, requests int
	bigIn, bigOut      int // sessions whose Stop carries Input/Output-Gigawords > 0
	anyGigawords       bool
}

// checkSessions verifies that every session seen is complete and in order:
// Start, interims × Interim-Update, Stop, with non-decreasing session time
// and counters.
func (as *acctServer) checkSessions(t *testing.T, interims int) acctSummary {
	t.Helper()
	as.mu.Lock()
	defer as.mu.Unlock()
	var sum acctSummary
	for _, sid := range as.order {
		tr := as.sessions[sid]
		sum.sessions++
		sum.requests += len(tr.events)
		var got []string
		for _, ev := range tr.events {
			got = append(got, ev.status.String())
		}
		want := []string{"Start"}
		for range interims {
			want = append(want, "Interim-Update")
		}
		want = append(want, "Stop")
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("session %s (%s): events %v, want %v", sid, tr.user, got, want)
			continue
		}
		for i := 2; i < len(tr.events); i++ {
			a, b := tr.events[i-1], tr.events[i]
			if b.sessTime < a.sessTime || b.in < a.in || b.out < a.out || b.inPkts < a.inPkts || b.outPkts < a.outPkts {
				t.Errorf("session %s: counters decrease from %+v to %+v", sid, a, b)
			}
		}
		last := tr.events[len(tr.events)-1]
		if last.sessTime == 0 || last.out == 0 || last.in == 0 || last.outPkts == 0 {
			t.Errorf("session %s: Stop without usage: %+v", sid, last)
		}
		if last.inGW > 0 {
			sum.bigIn++
		}
		if last.outGW > 0 {
			sum.bigOut++
		}
		for _, ev := range tr.events {
			sum.anyGigawords = sum.anyGigawords || ev.inGW > 0 || ev.outGW > 0
		}
	}
	return sum
}

func acctConfig(addr string) config {
	cfg := benchConfig("127.0.0.1:1", "acct") // auth server unused
	cfg.AcctServer = addr
	return cfg
}

func TestAcctSessions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ma        bool // -acct-message-authenticator
		replyMA   bool
		class     string
		pick      string
		warm      time.Duration
		conc      int
		checkNoMA bool
	}{
		{name: "default"},
		{name: "reply-MA", replyMA: true},
		{name: "request-MA", ma: true, replyMA: true, class: "tg:1"},
		{name: "request-MA/no-reply-MA", ma: true, checkNoMA: true},
		{name: "random/warmup", pick: "random", warm: 100 * time.Millisecond, conc: 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := startAcctServer(t, &acctServer{wantMA: tc.ma, replyMA: tc.replyMA, wantClass: tc.class})
			cfg := acctConfig(as.addr)
			cfg.AcctMessageAuthenticator = tc.ma
			cfg.AcctClass = tc.class
			cfg.Warmup = tc.warm
			if tc.pick != "" {
				cfg.Pick = tc.pick
			}
			if tc.conc != 0 {
				cfg.Concurrency = tc.conc
			}
			res, code, stderr := runBench(t, cfg)
			if code != exitOK {
				t.Errorf("exit code %d, want 0", code)
			}
			if res.mode != "acct" || res.concurrency != cfg.Concurrency {
				t.Errorf("bad header fields: %s", res.line)
			}
			if res.sent != 200 || res.accepts != 200 || res.rejects != 0 || res.errors != 0 || res.timeouts != 0 {
				t.Errorf("want sent=200 accepts=200 and no rejects/errors/timeouts: %s", res.line)
			}
			if res.rps <= 0 || res.p50 > res.p95 || res.p95 > res.p99 || res.p99 > res.max {
				t.Errorf("implausible rps/percentiles: %s", res.line)
			}
			if tc.checkNoMA != strings.Contains(stderr, "200 verified replies carried no Message-Authenticator") {
				t.Errorf("no-MA diagnostic: want %t", tc.checkNoMA)
			}
			sum := as.checkSessions(t, 2)
			if tc.warm == 0 && (sum.sessions != 50 || sum.requests != 200 || as.received.Load() != 200) {
				t.Errorf("server saw %d sessions, %d requests (%d packets); want 50, 200", sum.sessions, sum.requests, as.received.Load())
			}
			if sum.anyGigawords {
				t.Errorf("Gigawords > 0 without -big-counters")
			}
			if as.problems.Load() != 0 {
				t.Errorf("server reported %d problems", as.problems.Load())
			}
			if tc.name != "default" {
				return
			}
			// A second run must use new session ids (a reused id would show
			// up as a session with two Starts).
			res, code, _ = runBench(t, cfg)
			if code != exitOK || res.sent != 200 || res.accepts != 200 {
				t.Errorf("second run: code=%d %s", code, res.line)
			}
			if sum := as.checkSessions(t, 2); sum.sessions != 100 || sum.requests != 400 {
				t.Errorf("after two runs: %d sessions, %d requests; want 100, 400", sum.sessions, sum.requests)
			}
		})
	}
}

func TestAcctBigCounters(t *testing.T) {
	as := startAcctServer(t, &acctServer{})
	cfg := acctConfig(as.addr)
	cfg.BigCounters = true
	res, code, _ := runBench(t, cfg)
	if code != exitOK || res.sent != 200 || res.accepts != 200 || res.errors != 0 || res.timeouts != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
	sum := as.checkSessions(t, 2)
	if sum.sessions != 50 {
		t.Errorf("%d sessions, want 50", sum.sessions)
	}
	// Every fourth session id is big: 50 consecutive ids hold at least 12.
	if sum.bigIn < 12 || sum.bigOut < 12 || sum.bigOut == sum.sessions {
		t.Errorf("sessions with Input/Output-Gigawords > 0 at Stop: %d/%d of %d; want some (>= 12), not all", sum.bigIn, sum.bigOut, sum.sessions)
	}
	if as.problems.Load() != 0 {
		t.Errorf("server reported %d problems", as.problems.Load())
	}
}

func TestAcctInterims(t *testing.T) {
	for _, tc := range []struct {
		interims       int
		requests, sent int
	}{
		{interims: 0, requests: 10, sent: 10}, // 5 × Start, Stop
		{interims: 5, requests: 20, sent: 14}, // 2 × 7; a third session does not fit
	} {
		t.Run(strconv.Itoa(tc.interims), func(t *testing.T) {
			as := startAcctServer(t, &acctServer{})
			cfg := acctConfig(as.addr)
			cfg.Interims = tc.interims
			cfg.Requests = int64(tc.requests)
			res, code, stderr := runBench(t, cfg)
			if code != exitOK || res.sent != tc.sent || res.accepts != tc.sent {
				t.Errorf("code=%d %s; want sent=accepts=%d", code, res.line, tc.sent)
			}
			if sum := as.checkSessions(t, tc.interims); sum.requests != tc.sent {
				t.Errorf("server saw %d requests, want %d", sum.requests, tc.sent)
			}
			if (tc.sent != tc.requests) != strings.Contains(stderr, "is not a multiple of") {
				t.Errorf("stderr note about -requests not a multiple of the session size")
			}
		})
	}
}

// TestAcctOpen checks -acct-open: one Start per request, each a session of
// its own, none stopped; -requests 3 is enough (no whole session needed).
func TestAcctOpen(t *testing.T) {
	as := startAcctServer(t, &acctServer{})
	cfg := acctConfig(as.addr)
	cfg.AcctOpen = true
	cfg.Users = 30
	cfg.Requests = 30
	res, code, stderr := runBench(t, cfg)
	if code != exitOK || res.sent != 30 || res.accepts != 30 || res.errors != 0 || res.timeouts != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
	if strings.Contains(stderr, "is not a multiple of") {
		t.Errorf("stderr notes a session size with -acct-open")
	}
	as.mu.Lock()
	users := map[string]bool{}
	for _, sid := range as.order {
		tr := as.sessions[sid]
		users[tr.user] = true
		if len(tr.events) != 1 || tr.events[0].status != rfc2866.AcctStatusType_Value_Start {
			t.Errorf("session %s (%s): %d events, want one Start", sid, tr.user, len(tr.events))
		}
	}
	if len(as.order) != 30 || len(users) != 30 {
		t.Errorf("server saw %d sessions of %d users, want 30 of 30 (-pick seq)", len(as.order), len(users))
	}
	as.mu.Unlock()
	if as.problems.Load() != 0 {
		t.Errorf("server reported %d problems", as.problems.Load())
	}

	cfg.Requests = 3
	if err := cfg.validate(); err != nil {
		t.Errorf("-acct-open -requests 3: %v", err)
	}
}

func TestAcctDurationBound(t *testing.T) {
	as := startAcctServer(t, &acctServer{})
	cfg := acctConfig(as.addr)
	cfg.Requests = 0
	cfg.Duration = 200 * time.Millisecond
	res, code, _ := runBench(t, cfg)
	if code != exitOK || res.sent == 0 || res.accepts != res.sent || res.sent%4 != 0 || res.duration < 0.2 {
		t.Errorf("code=%d %s", code, res.line)
	}
	// Sessions in flight when the time is up still end with their Stop.
	if sum := as.checkSessions(t, 2); sum.requests != res.sent || sum.sessions*4 != res.sent {
		t.Errorf("server saw %d sessions, %d requests; bench sent %d", sum.sessions, sum.requests, res.sent)
	}
}

func TestAcctBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		behaviour replyBehaviour
		want      string
	}{
		{"bad-response-authenticator", replyBadAuth, errBadRespAuth.Error()},
		{"bad-reply-MA", replyBadMA, errBadMA.Error()},
		{"wrong-code", replyWrongCode, "unexpected reply code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := startAcctServer(t, &acctServer{behaviour: tc.behaviour})
			cfg := acctConfig(as.addr)
			cfg.Requests = 20
			res, code, stderr := runBench(t, cfg)
			if code != exitFail || res.sent != 20 || res.errors != 20 || res.accepts != 0 {
				t.Errorf("code=%d %s", code, res.line)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q", tc.want)
			}
			// A NAS carries on with its sessions when answers are bad.
			if sum := as.checkSessions(t, 2); sum.sessions != 5 || sum.requests != 20 {
				t.Errorf("server saw %d sessions, %d requests", sum.sessions, sum.requests)
			}
		})
	}
}

func TestAcctTimeouts(t *testing.T) {
	as := startAcctServer(t, &acctServer{behaviour: replySilent})
	cfg := acctConfig(as.addr)
	cfg.Requests = 4 // one session
	cfg.Timeout = 50 * time.Millisecond
	cfg.Retries = 1
	res, code, stderr := runBench(t, cfg)
	if code != exitFail || res.timeouts != 4 || res.sent != 4 || res.accepts != 0 {
		t.Errorf("code=%d %s", code, res.line)
	}
	if got := as.received.Load(); got != 8 {
		t.Errorf("server saw %d packets, want 8 (4 requests × 2 attempts)", got)
	}
	if !strings.Contains(stderr, "retransmissions=4") {
		t.Errorf("stderr lacks retransmission count")
	}
}

// TestSignAcctRequest checks the Accounting-Request authenticator against
// layeh's Encode and IsAuthenticRequest, and the Message-Authenticator
// against an independent HMAC computed with the authenticator field zeroed.
func TestSignAcctRequest(t *testing.T) {
	p := radius.New(radius.CodeAccountingRequest, []byte(testSecret))
	p.Authenticator = [16]byte{}
	rfc2866.AcctStatusType_Add(p, rfc2866.AcctStatusType_Value_Start)
	rfc2866.AcctSessionID_AddString(p, "80100014-0A0B0C0D")
	rfc2865.UserName_SetString(p, "bench000001")
	want, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier([]byte(testSecret))
	signAcctRequest(b, v)
	if !bytes.Equal(b, want) || !radius.IsAuthenticRequest(b, []byte(testSecret)) {
		t.Fatalf("authenticator mismatch:\n got % x\nwant % x", b, want)
	}

	p.Attributes = append(radius.Attributes{maAVP}, p.Attributes...)
	b, err = p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := signMA(b, v.mac); err != nil {
		t.Fatal(err)
	}
	signAcctRequest(b, v)
	if !radius.IsAuthenticRequest(b, []byte(testSecret)) {
		t.Fatal("authenticator over the signed MA is wrong")
	}
	z := bytes.Clone(b)
	clear(z[4:20])
	clear(z[22:38])
	mac := hmac.New(md5.New, []byte(testSecret))
	mac.Write(z)
	if !hmac.Equal(mac.Sum(nil), b[22:38]) {
		t.Fatal("Message-Authenticator mismatch")
	}
	if bytes.Equal(maAVP.Attribute, b[22:38]) || !bytes.Equal(maAVP.Attribute, make([]byte, 16)) {
		t.Fatal("shared zero MA attribute was modified")
	}
}
