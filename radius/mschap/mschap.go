// Package mschap implements the server side of MS-CHAPv1 (RFC 2433) and
// MS-CHAPv2 (RFC 2759) verification, MPPE key derivation (RFC 2548 and
// RFC 3079) and the RFC 2548 encryption of the MS-CHAP-MPPE-Keys and
// MS-MPPE-Send-Key/MS-MPPE-Recv-Key attribute values.
//
// It exists because layeh.com/radius/rfc2759 recomputes the NT password hash
// from the cleartext password on every call (so it cannot work from a stored
// NT hash), allocates heavily, and has no MS-CHAPv1 support at all. Everything
// here is a pure function over fixed-size arrays, built on the standard
// library and golang.org/x/crypto/md4 only, so it can sit on the RADIUS hot
// path answering MikroTik PPPoE requests.
//
// All functions are safe for concurrent use.
package mschap

import (
	"crypto/des"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"strings"
	"unicode/utf16"

	//lint:ignore SA1019 MD4 is mandated by the MS-CHAP protocols.
	"golang.org/x/crypto/md4"
)

// Lengths of the MS-CHAP attribute values handled by this package.
const (
	// ResponseLen is the length of both the MS-CHAP-Response (v1) and the
	// MS-CHAP2-Response (v2) attribute values.
	ResponseLen = 50
	// ChallengeLenV1 is the length of an MS-CHAPv1 MS-CHAP-Challenge.
	ChallengeLenV1 = 8
	// ChallengeLenV2 is the length of an MS-CHAPv2 MS-CHAP-Challenge.
	ChallengeLenV2 = 16
	// SuccessV2Len is the length of the MS-CHAP2-Success attribute value.
	SuccessV2Len = 1 + 42
)

const upperHex = "0123456789ABCDEF"

var (
	// RFC 2759 §8.7 "Magic server to client signing constant".
	authMagic1 = []byte("Magic server to client signing constant")
	// RFC 2759 §8.7 "Pad to make it do more than one iteration".
	authMagic2 = []byte("Pad to make it do more than one iteration")
	// RFC 3079 §3.4 Magic1.
	keyMagic1 = []byte("This is the MPPE Master Key")
	// RFC 3079 §3.4 Magic2: the server's receive key.
	keyMagic2 = []byte("On the client side, this is the send key; on the server side, it is the receive key.")
	// RFC 3079 §3.4 Magic3: the server's send key.
	keyMagic3 = []byte("On the client side, this is the receive key; on the server side, it is the send key.")
)

// NTPasswordHash returns the NT password hash of password, MD4 over its
// UTF-16LE encoding (RFC 2759 §8.3). Invalid UTF-8 is encoded as U+FFFD.
func NTPasswordHash(password string) [16]byte {
	// 256 Unicode characters is the protocol maximum; longer passwords spill
	// to the heap via append but still hash correctly.
	var buf [512]byte
	b := buf[:0]
	for _, r := range password {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return md4Sum(b)
}

// HashNTPasswordHash returns MD4(h), the "PasswordHashHash" of RFC 2759 §8.4
// and the NT-Key of RFC 2548 §2.4.1.
func HashNTPasswordHash(h [16]byte) [16]byte {
	return md4Sum(h[:])
}

func md4Sum(b []byte) (out [16]byte) {
	d := md4.New()
	d.Write(b)
	d.Sum(out[:0])
	return out
}

// ChallengeHash returns the first 8 octets of
// SHA1(peerChallenge ‖ authChallenge ‖ username) (RFC 2759 §8.2). username
// must already have any "DOMAIN\" prefix removed (see StripDomain).
func ChallengeHash(peerChallenge, authChallenge []byte, username string) [8]byte {
	var buf [16 + 16 + 256]byte
	b := append(buf[:0], peerChallenge...)
	b = append(b, authChallenge...)
	b = append(b, username...)
	sum := sha1.Sum(b)
	return [8]byte(sum[:8])
}

// ChallengeResponse returns the 24-octet response to an 8-octet challenge:
// the challenge DES-encrypted under each of the three 7-octet thirds of the
// zero-padded 21-octet password hash (RFC 2759 §8.5, RFC 2433 §A.5).
func ChallengeResponse(challenge [8]byte, pwHash [16]byte) [24]byte {
	var z [21]byte
	copy(z[:], pwHash[:])
	// Slices passed through the cipher.Block interface escape, so keep the
	// challenge and the three output blocks in one small heap buffer.
	buf := new([8 + 24]byte)
	copy(buf[:8], challenge[:])
	for i := range 3 {
		key := desKey([7]byte(z[i*7 : i*7+7]))
		c, err := des.NewCipher(key[:])
		if err != nil {
			// Only possible in FIPS 140-only mode, where MS-CHAP cannot work.
			panic("mschap: " + err.Error())
		}
		c.Encrypt(buf[8+i*8:16+i*8], buf[:8])
	}
	return [24]byte(buf[8:])
}

// desKey expands a 56-bit key to the 64-bit DES form: seven key bits per
// octet followed by an odd-parity bit (RFC 2759 §8.6).
func desKey(k [7]byte) (out [8]byte) {
	v := uint64(k[0])<<48 | uint64(k[1])<<40 | uint64(k[2])<<32 |
		uint64(k[3])<<24 | uint64(k[4])<<16 | uint64(k[5])<<8 | uint64(k[6])
	for i := range 8 {
		b := byte(v>>(49-7*i)) << 1
		// Set the low bit so the octet has odd parity.
		p := b ^ b>>4
		p ^= p >> 2
		p ^= p >> 1
		out[i] = b | (^p & 1)
	}
	return out
}

// StripDomain returns user with any "DOMAIN\" prefix removed, which is the
// user name MS-CHAPv2 peers feed into ChallengeHash (RFC 2759 §8.2).
func StripDomain(user string) string {
	if i := strings.IndexByte(user, '\\'); i >= 0 {
		return user[i+1:]
	}
	return user
}

// V2Result holds what a successful MS-CHAPv2 verification yields.
type V2Result struct {
	// Ident is the PPP identifier copied from the MS-CHAP2-Response.
	Ident byte
	// NTResponse is the verified 24-octet NT-Response.
	NTResponse [24]byte
	// AuthenticatorResponse is "S=" followed by 40 upper-case hex digits
	// (RFC 2759 §8.7).
	AuthenticatorResponse [42]byte
	// MasterKey is the RFC 3079 §3.4 MPPE master key.
	MasterKey [16]byte
}

// VerifyV2 verifies an MS-CHAP2-Response attribute value resp (50 octets:
// ident, flags, peer challenge [2:18], reserved [18:26], NT-Response [26:50])
// against the 16-octet MS-CHAP-Challenge authChallenge, the stored NT password
// hash pwHash and username (already passed through StripDomain).
//
// The flags and reserved octets are ignored, as most servers do. The
// NT-Response is compared in constant time. It returns false for a wrong
// response and for malformed lengths. On failure only Ident is set (if resp is
// non-empty) so the caller can build ErrorV2; on success every field is set.
func VerifyV2(pwHash [16]byte, authChallenge, resp []byte, username string) (V2Result, bool) {
	var r V2Result
	if len(resp) > 0 {
		r.Ident = resp[0]
	}
	if len(resp) != ResponseLen || len(authChallenge) != ChallengeLenV2 {
		return r, false
	}
	ch := ChallengeHash(resp[2:18], authChallenge, username)
	nt := ChallengeResponse(ch, pwHash)
	if subtle.ConstantTimeCompare(nt[:], resp[26:50]) != 1 {
		return r, false
	}
	r.NTResponse = nt
	hh := HashNTPasswordHash(pwHash)

	// RFC 2759 §8.7 GenerateAuthenticatorResponse.
	var buf [16 + 24 + 41]byte
	b := append(buf[:0], hh[:]...)
	b = append(b, nt[:]...)
	b = append(b, authMagic1...)
	digest := sha1.Sum(b)
	b = append(buf[:0], digest[:]...)
	b = append(b, ch[:]...)
	b = append(b, authMagic2...)
	digest = sha1.Sum(b)
	r.AuthenticatorResponse[0], r.AuthenticatorResponse[1] = 'S', '='
	for i, c := range digest {
		r.AuthenticatorResponse[2+2*i] = upperHex[c>>4]
		r.AuthenticatorResponse[3+2*i] = upperHex[c&0x0f]
	}

	// RFC 3079 §3.4 GetMasterKey.
	b = append(buf[:0], hh[:]...)
	b = append(b, nt[:]...)
	b = append(b, keyMagic1...)
	digest = sha1.Sum(b)
	r.MasterKey = [16]byte(digest[:16])
	return r, true
}

// SuccessV2 returns the MS-CHAP2-Success attribute value for r: the ident
// followed by the 42-octet "S=..." authenticator response (43 octets).
func SuccessV2(r V2Result) []byte {
	out := make([]byte, SuccessV2Len)
	out[0] = r.Ident
	copy(out[1:], r.AuthenticatorResponse[:])
	return out
}

// MPPEKeysV2 derives the server's 128-bit MPPE send and receive keys from the
// MS-CHAPv2 master key (RFC 3079 §3.4 GetAsymmetricStartKey with IsServer
// true): send uses the magic "... on the server side, it is the send key."
// and recv the magic "... on the server side, it is the receive key.". They
// go into MS-MPPE-Send-Key and MS-MPPE-Recv-Key respectively (see EncryptKey).
func MPPEKeysV2(masterKey [16]byte) (send, recv [16]byte) {
	return asymmetricStartKey(masterKey, keyMagic3), asymmetricStartKey(masterKey, keyMagic2)
}

func asymmetricStartKey(masterKey [16]byte, magic []byte) [16]byte {
	var buf [16 + 40 + 84 + 40]byte
	b := append(buf[:0], masterKey[:]...)
	b = b[:len(b)+40] // SHSpad1: 40 zero octets
	b = append(b, magic...)
	for range 40 { // SHSpad2: 40 octets of 0xf2
		b = append(b, 0xf2)
	}
	sum := sha1.Sum(b)
	return [16]byte(sum[:16])
}

// VerifyV1 verifies an MS-CHAP-Response attribute value resp (50 octets:
// ident, flags, LM-Response [2:26], NT-Response [26:50]) against the 8-octet
// MS-CHAP-Challenge challenge and the NT password hash pwHash (RFC 2433).
//
// Only the NT-Response is checked, in constant time; responses without the
// "use NT-Response" flag (flags&1 == 0, i.e. LM-only) are rejected, as are
// malformed lengths. ident is resp[0] whenever resp is non-empty, so the
// caller can build ErrorV1 on failure.
func VerifyV1(pwHash [16]byte, challenge, resp []byte) (ident byte, ok bool) {
	if len(resp) > 0 {
		ident = resp[0]
	}
	if len(resp) != ResponseLen || len(challenge) != ChallengeLenV1 || resp[1]&1 == 0 {
		return ident, false
	}
	nt := ChallengeResponse([8]byte(challenge), pwHash)
	return ident, subtle.ConstantTimeCompare(nt[:], resp[26:50]) == 1
}

// MPPEKeysV1 returns the 32-octet plaintext of the MS-CHAP-MPPE-Keys
// attribute (RFC 2548 §2.4.1) for an MS-CHAPv1 session: an 8-octet LM-Key
// (zeros, as no LM hash is kept), the 16-octet NT-Key
// HashNTPasswordHash(pwHash), then 8 octets of zero padding. Encrypt it with
// EncryptKeyV1.
func MPPEKeysV1(pwHash [16]byte) [32]byte {
	var out [32]byte
	hh := HashNTPasswordHash(pwHash)
	copy(out[8:24], hh[:])
	return out
}

// EncryptKeyV1 encrypts the MS-CHAP-MPPE-Keys plaintext keys as RFC 2548
// §2.4.1 prescribes (the RFC 2865 User-Password method, without salt):
// c(1) = p(1) XOR MD5(secret ‖ reqAuth), c(i) = p(i) XOR MD5(secret ‖ c(i-1)).
// reqAuth is the Request Authenticator of the Access-Request being answered.
// The result is the 32-octet attribute value.
func EncryptKeyV1(secret []byte, reqAuth [16]byte, keys [32]byte) []byte {
	out := make([]byte, 32)
	copy(out, keys[:])
	md5Chain(out, secret, reqAuth[:], nil)
	return out
}

// maxKeyLen is the longest key EncryptKey accepts: 2 + 16n octets of
// attribute value must fit in a Microsoft vendor-specific sub-attribute
// (at most 247 octets), so n <= 15 and the key at most 16*15-1 octets.
const maxKeyLen = 16*15 - 1

// EncryptKey returns the MS-MPPE-Send-Key or MS-MPPE-Recv-Key attribute value
// for key as RFC 2548 §2.4.2 prescribes: salt ‖ c(1) … c(n), where the
// plaintext is len(key) ‖ key ‖ zero padding to a multiple of 16 octets,
// c(1) = p(1) XOR MD5(secret ‖ reqAuth ‖ salt) and
// c(i) = p(i) XOR MD5(secret ‖ c(i-1)). reqAuth is the Request Authenticator
// of the Access-Request being answered.
//
// The most significant bit of salt is forced on as the RFC requires; salt
// must be unique per key within a packet (Send and Recv keys need different
// salts). It returns nil if key is longer than 239 octets, which would not
// fit in the attribute.
func EncryptKey(secret []byte, reqAuth [16]byte, salt [2]byte, key []byte) []byte {
	if len(key) > maxKeyLen {
		return nil
	}
	salt[0] |= 0x80
	n := (1 + len(key) + 15) &^ 15
	out := make([]byte, 2+n)
	out[0], out[1] = salt[0], salt[1]
	out[2] = byte(len(key))
	copy(out[3:], key)
	md5Chain(out[2:], secret, reqAuth[:], salt[:])
	return out
}

// md5Chain encrypts p (a multiple of 16 octets) in place:
// b(1) = MD5(secret ‖ first ‖ extra), b(i) = MD5(secret ‖ c(i-1)),
// c(i) = p(i) XOR b(i).
func md5Chain(p, secret, first, extra []byte) {
	var buf [128 + 16 + 2]byte
	b := append(buf[:0], secret...)
	b = append(b, first...)
	b = append(b, extra...)
	for i := 0; i < len(p); i += 16 {
		sum := md5.Sum(b)
		block := p[i : i+16]
		subtle.XORBytes(block, block, sum[:])
		b = append(b[:len(secret)], block...)
	}
}

// ErrorV2 returns the MS-CHAP-Error attribute value for a failed MS-CHAPv2
// authentication (RFC 2759 §6): ident followed by
// "E=691 R=0 C=<authChallenge in upper-case hex> V=3 M=Authentication failed".
func ErrorV2(ident byte, authChallenge []byte) []byte {
	const (
		pre = "E=691 R=0 C="
		suf = " V=3 M=Authentication failed"
	)
	out := make([]byte, 0, 1+len(pre)+2*len(authChallenge)+len(suf))
	out = append(out, ident)
	out = append(out, pre...)
	for _, c := range authChallenge {
		out = append(out, upperHex[c>>4], upperHex[c&0x0f])
	}
	return append(out, suf...)
}

// ErrorV1 returns the MS-CHAP-Error attribute value for a failed MS-CHAPv1
// authentication (RFC 2433 §3): ident followed by "E=691 R=1".
func ErrorV1(ident byte) []byte {
	const msg = "E=691 R=1"
	out := make([]byte, 0, 1+len(msg))
	out = append(out, ident)
	return append(out, msg...)
}
