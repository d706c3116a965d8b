// Package seal encrypts the secrets tollgate must read back (NAS secrets, PPPoE passwords
// needed for CHAP and MS-CHAP, RouterOS API passwords) with AES-256-GCM under the key in
// TOLLGATE_SECRET_KEY, so that a database dump or a Redis snapshot holds no secret in clear.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// version is the first byte of every sealed value, so the format can change later.
const version = 1

// KeySize is the key length in bytes (64 hex characters).
const KeySize = 32

// ErrOpen is returned when a value was not sealed with this key or was altered.
var ErrOpen = errors.New("seal: value cannot be opened with this key")

// Sealer seals and opens values with one key. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
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
	return &Sealer{aead: aead}, nil
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

// Seal encrypts plain: version ‖ nonce ‖ ciphertext ‖ tag.
func (s *Sealer) Seal(plain []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("seal: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return s.aead.Seal(out, out[1:1+ns], plain, out[:1])
}

// Open decrypts a value made by Seal. It returns ErrOpen for a wrong key or altered data.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	p, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealed[:1])
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}
