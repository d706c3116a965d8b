package main

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net"
	"sync/atomic"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// RADIUS constants used on the raw wire bytes.
const (
	attrVendorSpecific       = 26
	attrMessageAuthenticator = 80
	vendorMicrosoft          = 311
	msCHAP2Success           = 26
	maxPacket                = radius.MaxPacketLength
)

// maAVP is the zero-valued Message-Authenticator placed first in every
// request; the real HMAC is written into the encoded bytes (see signMA). It is
// shared read-only by all workers.
var maAVP = &radius.AVP{Type: attrMessageAuthenticator, Attribute: make(radius.Attribute, 16)}

// cred holds the per-user strings, computed lazily and cached.
type cred struct {
	name, pass []byte
	mac        string // MikroTik-style Calling-Station-Id
}

// userCache lazily caches per-user credentials. Concurrent first use of the
// same user may compute it twice; both results are identical.
type userCache struct {
	userFmt, passFmt string
	slots            []atomic.Pointer[cred] // nil when N is too large to cache
}

const maxCachedUsers = 1 << 22

func newUserCache(n int, userFmt, passFmt string) *userCache {
	c := &userCache{userFmt: userFmt, passFmt: passFmt}
	if n <= maxCachedUsers {
		c.slots = make([]atomic.Pointer[cred], n)
	}
	return c
}

func (c *userCache) get(i int) *cred {
	if c.slots != nil {
		if p := c.slots[i].Load(); p != nil {
			return p
		}
	}
	p := &cred{
		name: []byte(fmt.Sprintf(c.userFmt, i)),
		pass: []byte(fmt.Sprintf(c.passFmt, i)),
		mac:  macFor(i),
	}
	if c.slots != nil {
		c.slots[i].Store(p)
	}
	return p
}

// macFor derives a MikroTik-formatted MAC (upper-case, colon separated) from
// the user index: AA:BB:CC followed by the low 24 bits of i.
func macFor(i int) string {
	const hexdigits = "0123456789ABCDEF"
	b := []byte("AA:BB:CC:00:00:00")
	for k, shift := range []uint{16, 8, 0} {
		v := byte(uint32(i) >> shift)
		b[9+3*k] = hexdigits[v>>4]
		b[10+3*k] = hexdigits[v&0x0f]
	}
	return string(b)
}

// nasAttributes returns the constant MikroTik PPPoE NAS attributes appended to
// every Access-Request. The returned AVPs are shared read-only.
func nasAttributes() (radius.Attributes, error) {
	p := &radius.Packet{}
	for _, err := range []error{
		rfc2865.NASIdentifier_AddString(p, "radbench"),
		rfc2865.NASIPAddress_Add(p, net.IPv4(127, 0, 0, 1)),
		rfc2865.NASPortType_Add(p, rfc2865.NASPortType_Value_Ethernet),
		rfc2865.ServiceType_Add(p, rfc2865.ServiceType_Value_FramedUser),
		rfc2865.FramedProtocol_Add(p, rfc2865.FramedProtocol_Value_PPP),
		rfc2865.CalledStationID_AddString(p, "pppoe-bench"),
		rfc2869.NASPortID_AddString(p, "ether1"),
	} {
		if err != nil {
			return nil, err
		}
	}
	return p.Attributes, nil
}

// signMA fills in the Message-Authenticator of an encoded request whose first
// attribute is a zeroed Message-Authenticator (value at b[22:38]):
// HMAC-MD5(secret, packet with MA zeroed). mac must be an HMAC-MD5 keyed with
// the secret.
func signMA(b []byte, mac hash.Hash) error {
	if len(b) < 38 || b[20] != attrMessageAuthenticator || b[21] != 18 {
		return errors.New("Message-Authenticator is not the first attribute")
	}
	clear(b[22:38])
	mac.Reset()
	mac.Write(b)
	mac.Sum(b[22:22]) // writes the 16-byte digest in place into b[22:38]
	return nil
}

// verifier checks replies on the raw wire bytes without allocating.
type verifier struct {
	secret  []byte
	md5h    hash.Hash
	mac     hash.Hash // HMAC-MD5 keyed with the secret
	scratch [maxPacket]byte
	sum     [md5.Size]byte
}

func newVerifier(secret []byte) *verifier {
	return &verifier{secret: secret, md5h: md5.New(), mac: hmac.New(md5.New, secret)}
}

var (
	errShortReply  = errors.New("malformed reply: bad length")
	errBadAttrs    = errors.New("malformed reply: bad attribute encoding")
	errBadRespAuth = errors.New("bad Response Authenticator")
	errBadMA       = errors.New("bad Message-Authenticator in reply")
)

// verify checks the Response Authenticator
// MD5(Code‖ID‖Length‖RequestAuth‖Attrs‖Secret) and, when present, the reply's
// Message-Authenticator (HMAC-MD5 over the reply with the MA zeroed and the
// authenticator field replaced by the Request Authenticator). It returns the
// reply truncated to its Length field and whether it carried an MA.
func (v *verifier) verify(reply, reqAuth []byte) (pkt []byte, hasMA bool, err error) {
	if len(reply) < 20 {
		return nil, false, errShortReply
	}
	n := int(binary.BigEndian.Uint16(reply[2:4]))
	if n < 20 || n > len(reply) || n > maxPacket {
		return nil, false, errShortReply
	}
	reply = reply[:n]

	v.md5h.Reset()
	v.md5h.Write(reply[:4])
	v.md5h.Write(reqAuth)
	v.md5h.Write(reply[20:])
	v.md5h.Write(v.secret)
	if subtle.ConstantTimeCompare(v.md5h.Sum(v.sum[:0]), reply[4:20]) != 1 {
		return reply, false, errBadRespAuth
	}

	maOff := -1
	for off := 20; off < n; {
		if n-off < 2 {
			return reply, false, errBadAttrs
		}
		l := int(reply[off+1])
		if l < 2 || off+l > n {
			return reply, false, errBadAttrs
		}
		if reply[off] == attrMessageAuthenticator {
			if l != 18 || maOff >= 0 {
				return reply, false, errBadMA
			}
			maOff = off
		}
		off += l
	}
	if maOff < 0 {
		return reply, false, nil
	}
	s := v.scratch[:n]
	copy(s, reply)
	copy(s[4:20], reqAuth)
	clear(s[maOff+2 : maOff+18])
	v.mac.Reset()
	v.mac.Write(s)
	if !hmac.Equal(v.mac.Sum(v.sum[:0]), reply[maOff+2:maOff+18]) {
		return reply, true, errBadMA
	}
	return reply, true, nil
}

// findVendorAttr returns the value of the first vendor sub-attribute
// (vendorID, vendorType) in an already length-checked packet.
func findVendorAttr(pkt []byte, vendorID uint32, vendorType byte) ([]byte, bool) {
	for off := 20; off+2 <= len(pkt); {
		l := int(pkt[off+1])
		if l < 2 || off+l > len(pkt) {
			return nil, false
		}
		if pkt[off] == attrVendorSpecific && l >= 6 && binary.BigEndian.Uint32(pkt[off+2:off+6]) == vendorID {
			vsa := pkt[off+6 : off+l]
			for len(vsa) >= 2 {
				vl := int(vsa[1])
				if vl < 2 || vl > len(vsa) {
					break
				}
				if vsa[0] == vendorType {
					return vsa[2:vl], true
				}
				vsa = vsa[vl:]
			}
		}
		off += l
	}
	return nil, false
}
