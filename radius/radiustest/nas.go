package radiustest

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"tollgate/radius/dict/mikrotik"
)

// RFC 5176 codes and the attributes the fake NAS writes itself.
const (
	CodeDisconnectRequest byte = 40
	CodeDisconnectACK     byte = 41
	CodeDisconnectNAK     byte = 42
	CodeCoARequest        byte = 43
	CodeCoAACK            byte = 44
	CodeCoANAK            byte = 45

	attrMessageAuthenticator = 80
	attrErrorCause           = 101
)

// CoARequest is one Disconnect-Request or CoA-Request as the fake NAS received it.
type CoARequest struct {
	Code           byte
	Identifier     byte
	Username       string
	SessionID      string // Acct-Session-Id
	FramedIP       netip.Addr
	RateLimit      string // Mikrotik-Rate-Limit
	SessionTimeout uint32 // 0 when absent
	// HasMA says the request carried a Message-Authenticator; MAValid that it verified.
	HasMA bool
	// MAValid: HMAC-MD5 with the NAS secret over the packet with the attribute's value
	// and the authenticator field zeroed (RFC 5176 §3.3, RFC 3579 §3.2).
	MAValid bool
	// AuthValid: the Request Authenticator is MD5(Code‖ID‖Length‖16 zero octets‖
	// Attributes‖Secret) (RFC 5176 §2.3).
	AuthValid bool
	// Raw is the datagram as received.
	Raw []byte
}

// CoANAS is a fake MikroTik `/radius incoming` listener on 127.0.0.1 for tests: it
// verifies each Disconnect/CoA request on its own (it shares no code with the client
// under test), reports it on Requests, and answers ACK unless SetReply says otherwise.
type CoANAS struct {
	conn   *net.UDPConn
	secret []byte
	reqs   chan CoARequest
	done   chan struct{}

	mu     sync.Mutex
	reply  func(CoARequest) (code byte, errorCause uint32)
	tamper func(req CoARequest, reply []byte) []byte
}

// MustCoANAS starts a fake NAS with secret on 127.0.0.1:0 UDP. It stops when the test
// ends, and Requests is closed then.
func MustCoANAS(tb testing.TB, secret string) *CoANAS {
	tb.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("fake NAS: listen: %v", err)
	}
	n := &CoANAS{conn: conn, secret: []byte(secret), reqs: make(chan CoARequest, 256), done: make(chan struct{})}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		n.serve()
	}()
	tb.Cleanup(func() {
		close(n.done)
		conn.Close()
		<-stopped
		close(n.reqs)
	})
	return n
}

// Port returns the UDP port the fake listens on.
func (n *CoANAS) Port() int { return n.conn.LocalAddr().(*net.UDPAddr).Port }

// Addr returns the address the fake listens on.
func (n *CoANAS) Addr() netip.AddrPort { return n.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Requests yields every datagram the fake received, in order, valid or not. A request
// is delivered before it is answered. The channel holds 256; the fake stops reading
// while it is full.
func (n *CoANAS) Requests() <-chan CoARequest { return n.reqs }

// SetReply decides the answer to each request: the reply code (ACK or NAK; 0 sends
// nothing) and, when non-zero, the Error-Cause it carries. nil restores the default,
// which ACKs every request whose authenticators verify and stays silent otherwise, as
// a router with another secret would.
func (n *CoANAS) SetReply(f func(CoARequest) (code byte, errorCause uint32)) {
	n.mu.Lock()
	n.reply = f
	n.mu.Unlock()
}

// SetTamper edits each signed reply before it is sent, for tests of a client's checks:
// f gets the request and the reply bytes and returns what goes on the wire (nil: nothing).
func (n *CoANAS) SetTamper(f func(req CoARequest, reply []byte) []byte) {
	n.mu.Lock()
	n.tamper = f
	n.mu.Unlock()
}

func (n *CoANAS) serve() {
	buf := make([]byte, 4097)
	for {
		size, from, err := n.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-n.done:
				return
			default:
				continue // e.g. ICMP port unreachable from an earlier reply
			}
		}
		req := n.decode(buf[:size])
		// Deliver before answering, so a request is on Requests by the time its reply
		// reaches the client.
		select {
		case n.reqs <- req:
		case <-n.done:
			return
		}
		n.mu.Lock()
		replyFn, tamper := n.reply, n.tamper
		n.mu.Unlock()

		var code byte
		var cause uint32
		switch {
		case replyFn != nil:
			code, cause = replyFn(req)
		case (req.Code == CodeDisconnectRequest || req.Code == CodeCoARequest) && req.AuthValid && (!req.HasMA || req.MAValid):
			code = req.Code + 1 // Disconnect-ACK, CoA-ACK
		}
		if code != 0 && len(req.Raw) >= 20 {
			b := n.sign(req.Raw, code, cause)
			if tamper != nil {
				b = tamper(req, b)
			}
			if b != nil {
				_, _ = n.conn.WriteToUDPAddrPort(b, from)
			}
		}
	}
}

// decode verifies and reads a request. It never fails: what does not parse is reported
// with the Raw bytes and the verdicts false.
func (n *CoANAS) decode(b []byte) CoARequest {
	req := CoARequest{Raw: append([]byte(nil), b...)}
	if len(b) < 20 {
		return req
	}
	req.Code, req.Identifier = b[0], b[1]
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length < 20 || length > len(b) {
		return req
	}
	raw := b[:length]

	h := md5.New()
	h.Write(raw[:4])
	h.Write(make([]byte, 16))
	h.Write(raw[20:])
	h.Write(n.secret)
	req.AuthValid = hmac.Equal(h.Sum(nil), raw[4:20])

	if off, ok := maOffset(raw); ok && off > 0 {
		req.HasMA = true
		c := append([]byte(nil), raw...)
		clear(c[4:20])
		clear(c[off : off+16])
		m := hmac.New(md5.New, n.secret)
		m.Write(c)
		req.MAValid = hmac.Equal(m.Sum(nil), raw[off:off+16])
	}

	p, err := radius.Parse(raw, n.secret)
	if err != nil {
		return req
	}
	req.Username = rfc2865.UserName_GetString(p)
	req.SessionID = rfc2866.AcctSessionID_GetString(p)
	if ip, err := rfc2865.FramedIPAddress_Lookup(p); err == nil {
		req.FramedIP, _ = netip.AddrFromSlice(ip.To4())
	}
	req.RateLimit = mikrotik.MikrotikRateLimit_GetString(p)
	req.SessionTimeout = uint32(rfc2865.SessionTimeout_Get(p))
	return req
}

// maOffset returns the offset of the (single, 16-octet) Message-Authenticator value in
// b, 0 when there is none, and ok=false when the attributes are malformed.
func maOffset(b []byte) (off int, ok bool) {
	for i := 20; i < len(b); {
		if i+2 > len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return 0, false
		}
		if b[i] == attrMessageAuthenticator {
			if b[i+1] != 18 || off != 0 {
				return 0, false
			}
			off = i + 2
		}
		i += int(b[i+1])
	}
	return off, true
}

// sign builds a reply to req: Message-Authenticator first, computed with the Request
// Authenticator in the header, then Error-Cause when non-zero, then the Response
// Authenticator MD5(Code‖ID‖Length‖RequestAuth‖Attributes‖Secret).
func (n *CoANAS) sign(req []byte, code byte, cause uint32) []byte {
	b := make([]byte, 20, 20+18+6)
	b[0], b[1] = code, req[1]
	copy(b[4:20], req[4:20])
	b = append(b, attrMessageAuthenticator, 18)
	b = append(b, make([]byte, 16)...)
	if cause != 0 {
		b = append(b, attrErrorCause, 6)
		b = binary.BigEndian.AppendUint32(b, cause)
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	m := hmac.New(md5.New, n.secret)
	m.Write(b)
	copy(b[22:38], m.Sum(nil))
	h := md5.New()
	h.Write(b)
	h.Write(n.secret)
	copy(b[4:20], h.Sum(nil))
	return b
}
