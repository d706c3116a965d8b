package server

import (
	"bytes"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// FuzzParsePacket: parsePacket accepts what radius.Parse accepts, with the same
// attributes, and refuses what it refuses.
func FuzzParsePacket(f *testing.F) {
	p := radius.New(radius.CodeAccessRequest, []byte("s"))
	_ = rfc2865.UserName_SetString(p, "alice")
	_ = rfc2865.CallingStationID_SetString(p, "AA:BB:CC:DD:EE:FF")
	p.Add(rfc2865.State_Type, nil) // an empty value
	good, err := p.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:20])
	f.Add(good[:19])
	f.Add(append(append([]byte(nil), good...), 0, 0, 0))
	bad := append([]byte(nil), good...)
	bad[21] = 1 // an attribute length under 2
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := radius.Parse(b, []byte("s"))
		got, gerr := parsePacket(b, []byte("s"))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("layeh %v, parsePacket %v", werr, gerr)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Fatalf("errors differ: %q, %q", werr, gerr)
			}
			return
		}
		if got.Code != want.Code || got.Identifier != want.Identifier || got.Authenticator != want.Authenticator ||
			len(got.Attributes) != len(want.Attributes) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i, a := range want.Attributes {
			if g := got.Attributes[i]; g.Type != a.Type || !bytes.Equal(g.Attribute, a.Attribute) || (g.Attribute == nil) != (a.Attribute == nil) {
				t.Fatalf("attribute %d: got %v %x, want %v %x", i, g.Type, g.Attribute, a.Type, a.Attribute)
			}
		}
		// The values are the packet's own: the buffer may be reused.
		if len(b) > 22 {
			b[22] ^= 0xff
			for i, a := range want.Attributes {
				if !bytes.Equal(got.Attributes[i].Attribute, a.Attribute) {
					t.Fatal("parsePacket kept a reference into the buffer")
				}
			}
		}
	})
}
