// Package seal encrypts the secrets tollgate must read back (NAS secrets, PPPoE passwords
// needed for CHAP and MS-CHAP, voucher codes and passwords, TOTP secrets) with AES-256-GCM
// under the key in TOLLGATE_SECRET_KEY, so that a database dump or a Redis snapshot holds
// no secret in clear. Every sealed value is bound to where it is stored (the AEAD's
// associated data names the table, the column and the row), so a ciphertext copied into
// another row or column does not open. The same key, through HKDF, also gives the keys of
// the keyed hashes that let tollgate look values up without storing them (voucher codes)
// and authenticate what it caches in Redis.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// The first byte of every sealed value says its format, so the format can change later.
const (
	// versionUnbound was sealed without associated data. Open refuses it; OpenUnbound
	// reads it once, when `tollgate migrate` re-seals old values bound to their rows.
	versionUnbound = 1
	// versionBound is sealed with the associated data of its row and column.
	versionBound = 2
)

// KeySize is the key length in bytes (64 hex characters).
const KeySize = 32

// ErrOpen is returned when a value was not sealed with this key, was sealed for another
// row or column, or was altered.
var ErrOpen = errors.New("seal: value cannot be opened with this key")

// Sealer seals and opens values with one key, and derives the keys of keyed hashes from
// it. It is safe for concurrent use.
type Sealer struct {
	aead   cipher.AEAD
	master []byte

	mu   sync.Mutex
	subs map[string][]byte
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead, master: append([]byte(nil), key...), subs: map[string][]byte{}}, nil
}

// ParseKey decodes a key written as 64 hex characters.
func ParseKey(s string) ([]byte, error) {
	if len(s) != 2*KeySize {
		return nil, fmt.Errorf("must be %d hex characters, got %d", 2*KeySize, len(s))
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("must be hex characters only")
	}
	return k, nil
}

// Seal encrypts plain for the place ad names (radius.SealAD): version ‖ nonce ‖
// ciphertext ‖ tag, with the version byte and ad authenticated.
func (s *Sealer) Seal(plain, ad []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = versionBound
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("seal: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return s.aead.Seal(out, out[1:1+ns], plain, associated(out[0], ad))
}

// Open decrypts a value Seal made for the same ad. It returns ErrOpen for a wrong key, a
// value sealed for another place (or before values were bound), or altered data.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	return s.open(sealed, versionBound, ad)
}

// OpenUnbound decrypts a value sealed before values were bound to their rows. Only the
// one-time re-seal of `tollgate migrate` calls it; everything else uses Open.
func (s *Sealer) OpenUnbound(sealed []byte) ([]byte, error) {
	return s.open(sealed, versionUnbound, nil)
}

// IsUnbound reports whether sealed is in the old, unbound format.
func IsUnbound(sealed []byte) bool { return len(sealed) > 0 && sealed[0] == versionUnbound }

func (s *Sealer) open(sealed []byte, version byte, ad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	p, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], associated(version, ad))
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}

// associated is the AEAD's associated data: the version byte, then ad.
func associated(version byte, ad []byte) []byte {
	b := make([]byte, 0, 1+len(ad))
	b = append(b, version)
	return append(b, ad...)
}

// Key returns a 32-byte key for purpose derived from the master key with HKDF-SHA256, so
// that each use of the key (voucher code lookups, cache authentication) has its own and
// none reveals the master key or another's.
func (s *Sealer) Key(purpose string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.subs[purpose]; ok {
		return k
	}
	k, err := hkdf.Key(sha256.New, s.master, nil, "tollgate "+purpose, 32)
	if err != nil {
		panic("seal: hkdf: " + err.Error()) // only for an impossible length
	}
	s.subs[purpose] = k
	return k
}

// Hash returns HMAC-SHA256 of data under the key of purpose: a value that can be looked
// up by equality but neither reversed nor computed without the server key.
func (s *Sealer) Hash(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.Key(purpose))
	m.Write(data)
	return m.Sum(nil)
}

// NewHash returns an HMAC-SHA256 state keyed for purpose, for callers that hash on a hot
// path and keep a pool of states.
func (s *Sealer) NewHash(purpose string) hash.Hash { return hmac.New(sha256.New, s.Key(purpose)) }
