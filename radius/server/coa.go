package server

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3576"

	tg "tollgate/radius"
	"tollgate/radius/dict/mikrotik"
)

// defaultCoAPort is where RouterOS listens when `/radius incoming` is set as
// mikrotik-radius.md §1.4 recommends (RFC 5176).
const defaultCoAPort = 3799

// CoA results, as stored in radius.CoAResult.Result.
const (
	coaAck     = "ack"
	coaNak     = "nak"
	coaTimeout = "timeout"
	coaError   = "error"
)

// CoAClient sends Disconnect-Request and CoA-Request packets (RFC 5176) to a NAS and
// waits for a verified answer. It holds no per-request state and is safe for
// concurrent use.
type CoAClient struct {
	timeout time.Duration // per attempt
	retries int           // retransmissions after the first attempt
	log     *slog.Logger
	now     func() time.Time // Event-Timestamp
}

// NewCoAClient returns a client that waits timeout for each attempt and retransmits up
// to retries times. Zero values take the defaults: 1s, 2 retries. log may be nil.
func NewCoAClient(timeout time.Duration, retries int, log *slog.Logger) *CoAClient {
	if timeout <= 0 {
		timeout = time.Second
	}
	if retries <= 0 {
		retries = 2
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CoAClient{timeout: timeout, retries: retries, log: log, now: time.Now}
}

// CoATarget is where and how to reach a session: the NAS (CoAPort its `/radius incoming`
// port, 0 meaning 3799, Secret in clear), the router address the session's accounting
// came from, and the session as last accounted. RouterOS matches sessions in an
// undocumented way, so every identifier known should be set (mikrotik-radius.md §1.4).
type CoATarget struct {
	NAS tg.NAS
	// Addr is the router: where the session's accounting came from. A NAS that is one
	// address is reached there whatever Addr says; for a NAS that is an address range
	// Addr is required and must lie in the range (the range's network address is no
	// router).
	Addr      netip.Addr
	Username  string
	SessionID string     // Acct-Session-Id
	FramedIP  netip.Addr // required by HotSpot; only IPv4 is sent
}

// Disconnect sends a Disconnect-Request for the session. The result is "ack", "nak"
// (with the Error-Cause, if any), "timeout" when no valid answer came within the
// attempts or before ctx's deadline, or "error" with a non-nil error: EINVALID for a
// target that cannot be addressed, and no packet is sent then.
func (c *CoAClient) Disconnect(ctx context.Context, t CoATarget) (tg.CoAResult, error) {
	return c.exchange(ctx, t, "disconnect", radius.CodeDisconnectRequest, nil)
}

// CoA sends a CoA-Request that changes the session's Mikrotik-Rate-Limit (when
// rateLimit is not empty) and Session-Timeout (when sessionTimeout is not zero; RouterOS
// takes it as the seconds left). At least one must be set (EINVALID). Results are as
// for Disconnect.
func (c *CoAClient) CoA(ctx context.Context, t CoATarget, rateLimit string, sessionTimeout uint32) (tg.CoAResult, error) {
	if rateLimit == "" && sessionTimeout == 0 {
		res := tg.CoAResult{NASID: t.NAS.ID, SessionID: t.SessionID, Username: t.Username, Kind: "coa", Result: coaError}
		return res, tg.Errorf(tg.EINVALID, "coa: nothing to change")
	}
	return c.exchange(ctx, t, "coa", radius.CodeCoARequest, func(p *radius.Packet) error {
		if rateLimit != "" {
			if err := mikrotik.MikrotikRateLimit_AddString(p, rateLimit); err != nil {
				return fmt.Errorf("Mikrotik-Rate-Limit: %w", err)
			}
		}
		if sessionTimeout != 0 {
			return rfc2865.SessionTimeout_Add(p, rfc2865.SessionTimeout(sessionTimeout))
		}
		return nil
	})
}

// exchange sends one request and waits for its answer, retransmitting the same bytes
// (same Identifier, same authenticator) so the NAS can spot duplicates (RFC 5176 §2.3).
func (c *CoAClient) exchange(ctx context.Context, t CoATarget, kind string, code radius.Code, extra func(*radius.Packet) error) (tg.CoAResult, error) {
	res := tg.CoAResult{NASID: t.NAS.ID, SessionID: t.SessionID, Username: t.Username, Kind: kind}
	fail := func(err error) (tg.CoAResult, error) {
		res.Result = coaError
		c.log.LogAttrs(ctx, slog.LevelDebug, "radius: "+kind, slog.String("nas", t.NAS.Name), slog.String("user", t.Username), slog.String("acct_session_id", t.SessionID), slog.String("result", res.Result), slog.String("err", err.Error()))
		return res, err
	}
	to, err := coaAddr(t)
	if err != nil {
		return fail(err)
	}
	if t.Username == "" && t.SessionID == "" && !t.FramedIP.IsValid() {
		return fail(tg.Errorf(tg.EINVALID, "%s: no session identifier", kind))
	}
	m := hmac.New(md5.New, t.NAS.Secret)
	req, err := c.request(m, code, t, extra)
	if err != nil {
		return fail(&tg.Error{Code: tg.EINVALID, Message: kind + ": build request", Err: err})
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("%s: %w", kind, err))
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return fail(fmt.Errorf("%s: dial %s: %w", kind, to, err))
	}
	defer conn.Close()
	// Closing the socket is what wakes a blocked Read when ctx ends; the deadlines
	// below only pace the retransmissions.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	ack, nak := code+1, code+2
	buf := make([]byte, maxPacket+1)
	bad := 0
attempts:
	for range 1 + c.retries {
		if _, err := conn.Write(req); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			if ctx.Err() != nil {
				break
			}
			return fail(fmt.Errorf("%s: send to %s: %w", kind, to, err))
		}
		if err := conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fail(fmt.Errorf("%s: %w", kind, err))
		}
		for {
			n, err := conn.Read(buf)
			switch {
			case err == nil:
			case ctx.Err() != nil:
				break attempts
			case errors.Is(err, os.ErrDeadlineExceeded):
				continue attempts
			case errors.Is(err, syscall.ECONNREFUSED):
				continue // ICMP port unreachable: nothing listens yet, keep waiting
			default:
				return fail(fmt.Errorf("%s: read from %s: %w", kind, to, err))
			}
			// The socket is connected, so the kernel only lets through datagrams from
			// exactly to: no source check is needed here.
			got, cause, ok := verifyReply(m, buf[:n], req, t.NAS.Secret, ack, nak)
			if !ok {
				bad++
				continue
			}
			res.Result = coaAck
			if got == nak {
				res.Result, res.ErrorCause = coaNak, cause
			}
			c.done(ctx, t, &res, bad)
			return res, nil
		}
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fail(fmt.Errorf("%s: %w", kind, err))
	}
	res.Result = coaTimeout
	c.done(ctx, t, &res, bad)
	return res, nil
}

// done logs the outcome of an exchange: at Debug, or at Warn when replies failed
// verification, which points at a wrong secret or a forger.
func (c *CoAClient) done(ctx context.Context, t CoATarget, res *tg.CoAResult, bad int) {
	level := slog.LevelDebug
	if bad > 0 {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(ctx, level, "radius: "+res.Kind, slog.String("nas", t.NAS.Name), slog.String("user", t.Username), slog.String("acct_session_id", t.SessionID), slog.String("result", res.Result), slog.Int("error_cause", res.ErrorCause), slog.Int("bad_replies", bad))
}

// coaAddr returns where t's request goes: the NAS's address and CoA port, or for a NAS
// that is a range the router address t.Addr, which must lie in it; never the range's
// own address. It refuses an address that cannot be a router.
func coaAddr(t CoATarget) (netip.AddrPort, error) {
	n := t.NAS
	var a netip.Addr
	switch {
	case !n.Prefix.IsValid():
		return netip.AddrPort{}, tg.Errorf(tg.EINVALID, "coa: NAS %q has no address", n.Name)
	case n.Prefix.IsSingleIP():
		a = n.Prefix.Addr().Unmap()
	case !t.Addr.IsValid():
		return netip.AddrPort{}, tg.Errorf(tg.EINVALID, "coa: NAS %q is the range %s and the session's router address is not known", n.Name, n.Prefix)
	case !n.Prefix.Contains(t.Addr.Unmap()) && !n.Prefix.Contains(t.Addr):
		return netip.AddrPort{}, tg.Errorf(tg.EINVALID, "coa: router address %s is outside NAS %q's range %s", t.Addr, n.Name, n.Prefix)
	default:
		a = t.Addr.Unmap()
	}
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return netip.AddrPort{}, tg.Errorf(tg.EINVALID, "coa: NAS %q has no unicast address (%s)", n.Name, a)
	}
	port := n.CoAPort
	if port == 0 {
		port = defaultCoAPort
	}
	if port < 0 || port > 65535 {
		return netip.AddrPort{}, tg.Errorf(tg.EINVALID, "coa: NAS %q has CoA port %d", n.Name, port)
	}
	if len(n.Secret) == 0 {
		return netip.AddrPort{}, tg.Errorf(tg.EINVALID, "coa: NAS %q has no secret", n.Name)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// request encodes a Disconnect- or CoA-Request: Message-Authenticator first, computed
// with a zero authenticator field (RFC 5176 §3.3), then the Request Authenticator
// MD5(Code‖ID‖Length‖16 zero octets‖Attributes‖Secret) (RFC 5176 §2.3).
func (c *CoAClient) request(m hash.Hash, code radius.Code, t CoATarget, extra func(*radius.Packet) error) ([]byte, error) {
	p := &radius.Packet{Code: code, Identifier: byte(rand.Uint32()), Secret: t.NAS.Secret}
	p.Attributes = radius.Attributes{{Type: typeMessageAuthenticator, Attribute: make([]byte, 16)}}
	if t.Username != "" {
		if err := rfc2865.UserName_AddString(p, t.Username); err != nil {
			return nil, fmt.Errorf("User-Name: %w", err)
		}
	}
	if t.SessionID != "" {
		if err := rfc2866.AcctSessionID_AddString(p, t.SessionID); err != nil {
			return nil, fmt.Errorf("Acct-Session-Id: %w", err)
		}
	}
	if ip := t.FramedIP.Unmap(); ip.Is4() {
		if err := rfc2865.FramedIPAddress_Add(p, ip.AsSlice()); err != nil {
			return nil, fmt.Errorf("Framed-IP-Address: %w", err)
		}
	}
	if err := rfc2869.EventTimestamp_Add(p, c.now()); err != nil {
		return nil, fmt.Errorf("Event-Timestamp: %w", err)
	}
	if extra != nil {
		if err := extra(p); err != nil {
			return nil, err
		}
	}
	b, err := p.MarshalBinary() // the authenticator field is zero
	if err != nil {
		return nil, err
	}
	m.Reset()
	m.Write(b)
	m.Sum(b[22:22:38])
	h := md5.New()
	h.Write(b)
	h.Write(t.NAS.Secret)
	h.Sum(b[4:4:20])
	return b, nil
}

// verifyReply checks that b answers req: the same Identifier, an ACK or NAK code, a
// Response Authenticator MD5(Code‖ID‖Length‖RequestAuth‖Attributes‖Secret) that
// matches and, when present, a Message-Authenticator computed with the Request
// Authenticator in the header. It returns the code and the Error-Cause (0 if none).
func verifyReply(m hash.Hash, b, req, secret []byte, ack, nak radius.Code) (radius.Code, int, bool) {
	if len(b) < 20 || b[1] != req[1] {
		return 0, 0, false
	}
	code := radius.Code(b[0])
	if code != ack && code != nak {
		return 0, 0, false
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length < 20 || length > len(b) {
		return 0, 0, false
	}
	b = b[:length] // octets past Length are padding (RFC 2865 §3)
	h := md5.New()
	h.Write(b[:4])
	h.Write(req[4:20])
	h.Write(b[20:])
	h.Write(secret)
	var sum [16]byte
	if subtle.ConstantTimeCompare(h.Sum(sum[:0]), b[4:20]) != 1 {
		return 0, 0, false
	}
	off := findMA(b)
	if off == -2 {
		return 0, 0, false
	}
	if off >= 0 {
		var got, respAuth [16]byte
		copy(got[:], b[off:off+16])
		copy(respAuth[:], b[4:20])
		copy(b[4:20], req[4:20])
		clear(b[off : off+16])
		m.Reset()
		m.Write(b)
		ok := subtle.ConstantTimeCompare(m.Sum(sum[:0]), got[:]) == 1
		copy(b[4:20], respAuth[:])
		copy(b[off:off+16], got[:])
		if !ok {
			return 0, 0, false
		}
	}
	p, err := radius.Parse(b, secret)
	if err != nil {
		return 0, 0, false
	}
	cause, _ := rfc3576.ErrorCause_Lookup(p)
	return code, int(cause), true
}
