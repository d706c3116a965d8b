package seal

import (
	"bytes"
	"errors"
	"testing"
)

func mustSealer(tb testing.TB, b byte) *Sealer {
	tb.Helper()
	s, err := New(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := mustSealer(t, 1)
	for _, tc := range []struct {
		name  string
		plain []byte
	}{{"empty", []byte{}}, {"secret", []byte("testing123")}, {"binary", []byte{0, 1, 2, 255}}} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := s.Seal(tc.plain)
			if bytes.Contains(sealed, tc.plain) && len(tc.plain) > 0 {
				t.Fatalf("sealed value holds the plain text")
			}
			got, err := s.Open(sealed)
			if err != nil || !bytes.Equal(got, tc.plain) {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.plain)
			}
			if bytes.Equal(s.Seal(tc.plain), sealed) {
				t.Fatalf("two seals of the same value are equal: nonce reused")
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	s, other := mustSealer(t, 1), mustSealer(t, 2)
	sealed := s.Seal([]byte("testing123"))
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name string
		s    *Sealer
		in   []byte
	}{
		{"wrong key", other, sealed},
		{"tampered", s, tampered},
		{"short", s, sealed[:5]},
		{"nil", s, nil},
		{"bad version", s, append([]byte{9}, sealed[1:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Open(tc.in); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open err = %v, want ErrOpen", err)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"valid", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", true},
		{"short", "0011", false},
		{"not hex", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.in)
			if (err == nil) != tc.ok || (tc.ok && len(k) != KeySize) {
				t.Fatalf("ParseKey(%q) = %x, %v", tc.in, k, err)
			}
		})
	}
}
