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
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"
)

const testSecret = "s3cr3t-bench"

// replyBehaviour controls the in-test responder.
type replyBehaviour int

const (
	replyOK     replyBehaviour = iota
	replyBadMA                 // corrupt the reply Message-Authenticator
	replySilent                // never answer
	replyNoMA                  // answer without a Message-Authenticator
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

var resultRE = regexp.MustCompile(`^RESULT mode=(\S+) users=(\d+) concurrency=(\d+) duration=(\d+\.\d\d)s sent=(\d+) accepts=(\d+) rejects=(\d+) timeouts=(\d+) errors=(\d+) rps=(\d+\.\d) p50=(\d+\.\d+)ms p95=(\d+\.\d+)ms p99=(\d+\.\d+)ms max=(\d+\.\d+)ms\n$`)

type result struct {
	mode                                     string
	users, concurrency                       int
	sent, accepts, rejects, timeouts, errors int
	duration, rps, p50, p95, p99, max        float64
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
		line: strings.TrimSpace(out),
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
			if tc.pick != "" {
				cfg.Pick = tc.pick
			}
			res, code, _ := runBench(t, cfg)
			if code != exitOK {
				t.Errorf("exit code %d, want 0", code)
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
		{},                                   // no secret
		{"-secret", "x", "-mode", "acct"},    // not implemented
		{"-secret", "x", "-mode", "eap"},     // unknown
		{"-secret", "x", "-duration", "0"},   // unbounded
		{"-secret", "x", "-expect", "maybe"}, // bad expect
		{"-secret", "x", "-user-format", "u%q%q"},
		{"-secret", "x", "-bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if code := realMain(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	realMain(context.Background(), []string{"-secret", "x", "-mode", "acct"}, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "not implemented") {
		t.Errorf("acct stderr = %q", stderr.String())
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
