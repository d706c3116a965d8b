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

var ad = []byte("tollgate/subscribers.password/7")

func TestSealOpen(t *testing.T) {
	s := mustSealer(t, 1)
	for _, tc := range []struct {
		name  string
		plain []byte
	}{{"empty", []byte{}}, {"secret", []byte("testing123")}, {"binary", []byte{0, 1, 2, 255}}} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := s.Seal(tc.plain, ad)
			if bytes.Contains(sealed, tc.plain) && len(tc.plain) > 0 {
				t.Fatalf("sealed value holds the plain text")
			}
			got, err := s.Open(sealed, ad)
			if err != nil || !bytes.Equal(got, tc.plain) {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.plain)
			}
			if bytes.Equal(s.Seal(tc.plain, ad), sealed) {
				t.Fatalf("two seals of the same value are equal: nonce reused")
			}
		})
	}
}

// TestOpenRejects: a value opens only with its key, for the row and column it was sealed
// for, unaltered, and in the bound format.
func TestOpenRejects(t *testing.T) {
	s, other := mustSealer(t, 1), mustSealer(t, 2)
	sealed := s.Seal([]byte("testing123"), ad)
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name string
		s    *Sealer
		in   []byte
		ad   []byte
	}{
		{"wrong key", other, sealed, ad},
		{"another row", s, sealed, []byte("tollgate/subscribers.password/8")},
		{"another column", s, sealed, []byte("tollgate/nas.secret/7")},
		{"no binding", s, sealed, nil},
		{"tampered", s, tampered, ad},
		{"short", s, sealed[:5], ad},
		{"nil", s, nil, ad},
		{"bad version", s, append([]byte{9}, sealed[1:]...), ad},
		{"unbound version byte", s, append([]byte{versionUnbound}, sealed[1:]...), ad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Open(tc.in, tc.ad); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open err = %v, want ErrOpen", err)
			}
		})
	}
}

// TestOpenUnbound: values of the old format open only through OpenUnbound (the one-time
// re-seal), never through Open.
func TestOpenUnbound(t *testing.T) {
	s := mustSealer(t, 1)
	// The old format: version 1, the version byte as the only associated data.
	ns := s.aead.NonceSize()
	old := make([]byte, 1+ns)
	old[0] = versionUnbound
	old = s.aead.Seal(old, old[1:1+ns], []byte("legacy"), old[:1])
	if !IsUnbound(old) {
		t.Fatal("IsUnbound(old) = false")
	}
	if got, err := s.OpenUnbound(old); err != nil || string(got) != "legacy" {
		t.Fatalf("OpenUnbound = %q, %v", got, err)
	}
	if _, err := s.Open(old, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open(old) err = %v, want ErrOpen", err)
	}
	if _, err := s.OpenUnbound(s.Seal([]byte("new"), nil)); !errors.Is(err, ErrOpen) {
		t.Fatalf("OpenUnbound(bound) err = %v, want ErrOpen", err)
	}
}

// TestHash: keyed hashes are stable, differ per purpose and per key, and do not hold the
// value.
func TestHash(t *testing.T) {
	s, other := mustSealer(t, 1), mustSealer(t, 2)
	a := s.Hash("voucher code", []byte("K7PQ4MQ2"))
	if len(a) != 32 || !bytes.Equal(a, s.Hash("voucher code", []byte("K7PQ4MQ2"))) {
		t.Fatalf("Hash not stable: %x", a)
	}
	if bytes.Equal(a, s.Hash("cache record", []byte("K7PQ4MQ2"))) {
		t.Fatal("two purposes share a key")
	}
	if bytes.Equal(a, other.Hash("voucher code", []byte("K7PQ4MQ2"))) {
		t.Fatal("two keys give one hash")
	}
	if bytes.Equal(s.Key("voucher code"), s.master) || len(s.Key("x")) != 32 {
		t.Fatal("derived key is the master key or has the wrong size")
	}
	h := s.NewHash("voucher code")
	h.Write([]byte("K7PQ4MQ2"))
	if !bytes.Equal(h.Sum(nil), a) {
		t.Fatal("NewHash differs from Hash")
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
