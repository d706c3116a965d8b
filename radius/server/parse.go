package server

import (
	"encoding/binary"
	"errors"

	"layeh.com/radius"
)

// Errors of parsePacket, as layeh's Parse words them.
var (
	errShortPacket  = errors.New("radius: packet not at least 20 bytes long")
	errPacketLength = errors.New("radius: invalid packet length")
	errShortAttr    = errors.New("short buffer")
	errAttrLength   = errors.New("invalid attribute length")
)

// parsePacket is radius.Parse in four allocations instead of two per attribute: the
// attribute values are copied once, together, and the AVPs share one backing array. It
// accepts and refuses exactly what radius.Parse does (FuzzParsePacket).
func parsePacket(b, secret []byte) (*radius.Packet, error) {
	if len(b) < 20 {
		return nil, errShortPacket
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length < 20 || length > radius.MaxPacketLength || len(b) < length {
		return nil, errPacketLength
	}
	body := b[20:length]
	n := 0
	for rest := body; len(rest) > 0; n++ {
		if len(rest) < 2 {
			return nil, errShortAttr
		}
		l := int(rest[1])
		if l > len(rest) || l < 2 {
			return nil, errAttrLength
		}
		rest = rest[l:]
	}
	p := &radius.Packet{Code: radius.Code(b[0]), Identifier: b[1], Secret: secret}
	copy(p.Authenticator[:], b[4:20])
	if n == 0 {
		return p, nil
	}
	buf := append([]byte(nil), body...) // the packet's buffer is reused after the request
	avps := make([]radius.AVP, n)
	attrs := make(radius.Attributes, n)
	for i := range avps {
		l := int(buf[1])
		avps[i].Type = radius.Type(buf[0])
		if l > 2 {
			avps[i].Attribute = radius.Attribute(buf[2:l:l])
		}
		attrs[i] = &avps[i]
		buf = buf[l:]
	}
	p.Attributes = attrs
	return p, nil
}
