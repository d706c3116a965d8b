package mschap

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/bits"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc3079"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// RFC 2759 §9.2 and RFC 3079 §3.5.3 test vectors.
const (
	v2User         = "User"
	v2Password     = "clientPass"
	v2AuthChal     = "5B5D7C7D7B3F2F3E3C2C602132262628"
	v2PeerChal     = "21402324255E262A28295F2B3A337C7E"
	v2ChalHash     = "D02E4386BCE91226"
	v2PwHash       = "44EBBA8D5312B8D611474411F56989AE"
	v2NTResponse   = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
	v2PwHashHash   = "41C00C584BD2D91C4017A2A12FA59F3F"
	v2AuthResponse = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
	v2MasterKey    = "FDECE3717A8C838CB388E527AE3CDD31"
	v2SendKey      = "8B7CDC149B993A1BA118CB153F56DCCB"
	v2RecvKey      = "D5F0E9521E3EA9589645E86051C82226"

	// RFC 2433 Appendix B.2 ("Hash Example"). Note the password there is
	// "MyPw", not the RFC 2759 "clientPass".
	v1Password   = "MyPw"
	v1PwHash     = "FC156AF7EDCD6C0EDDE3337D427F4EAC"
	v1Challenge  = "102DB5DF085D3041"
	v1NTResponse = "4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61"
)

// buildV2Resp assembles an MS-CHAP2-Response attribute value.
func buildV2Resp(ident byte, peerChal, ntResp []byte) []byte {
	resp := make([]byte, ResponseLen)
	resp[0] = ident
	copy(resp[2:18], peerChal)
	copy(resp[26:50], ntResp)
	return resp
}

// buildV1Resp assembles an MS-CHAP-Response attribute value.
func buildV1Resp(ident, flags byte, ntResp []byte) []byte {
	resp := make([]byte, ResponseLen)
	resp[0] = ident
	resp[1] = flags
	copy(resp[26:50], ntResp)
	return resp
}

func rfcV2Resp(t testing.TB) []byte {
	return buildV2Resp(0x42, unhex(t, v2PeerChal), unhex(t, v2NTResponse))
}

func TestRFC2759Vectors(t *testing.T) {
	pwHash := NTPasswordHash(v2Password)
	ch := ChallengeHash(unhex(t, v2PeerChal), unhex(t, v2AuthChal), v2User)
	res, ok := VerifyV2(pwHash, unhex(t, v2AuthChal), rfcV2Resp(t), v2User)
	if !ok {
		t.Fatal("VerifyV2 rejected the RFC 2759 §9.2 vector")
	}
	send, recv := MPPEKeysV2(res.MasterKey)
	hh := HashNTPasswordHash(pwHash)
	nt := ChallengeResponse(ch, pwHash)

	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"NTPasswordHash", pwHash[:], unhex(t, v2PwHash)},
		{"HashNTPasswordHash", hh[:], unhex(t, v2PwHashHash)},
		{"ChallengeHash", ch[:], unhex(t, v2ChalHash)},
		{"ChallengeResponse", nt[:], unhex(t, v2NTResponse)},
		{"VerifyV2/Ident", []byte{res.Ident}, []byte{0x42}},
		{"VerifyV2/NTResponse", res.NTResponse[:], unhex(t, v2NTResponse)},
		{"VerifyV2/AuthenticatorResponse", res.AuthenticatorResponse[:], []byte(v2AuthResponse)},
		{"VerifyV2/MasterKey", res.MasterKey[:], unhex(t, v2MasterKey)},
		{"SuccessV2", SuccessV2(res), append([]byte{0x42}, v2AuthResponse...)},
		{"MPPEKeysV2/send", send[:], unhex(t, v2SendKey)},
		{"MPPEKeysV2/recv", recv[:], unhex(t, v2RecvKey)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("got %X, want %X", tt.got, tt.want)
			}
		})
	}
}

func TestRFC2433Vectors(t *testing.T) {
	pwHash := NTPasswordHash(v1Password)
	chal := unhex(t, v1Challenge)
	nt := ChallengeResponse([8]byte(chal), pwHash)
	// MS-CHAP-MPPE-Keys for the RFC 2759 password: its PasswordHashHash is
	// given in RFC 2759 §9.2 and RFC 3079 §2.
	keys := MPPEKeysV1(NTPasswordHash(v2Password))
	wantKeys := make([]byte, 32)
	copy(wantKeys[8:], unhex(t, v2PwHashHash))
	// clientPass with the RFC 2433 challenge, cross-checked against layeh's
	// (identical) RFC 2759 ChallengeResponse primitive.
	cpHash := NTPasswordHash(v2Password)
	cpNT := ChallengeResponse([8]byte(chal), cpHash)

	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"NTPasswordHash", pwHash[:], unhex(t, v1PwHash)},
		{"ChallengeResponse", nt[:], unhex(t, v1NTResponse)},
		{"MPPEKeysV1", keys[:], wantKeys},
		{"ChallengeResponse clientPass vs layeh", cpNT[:], rfc2759.ChallengeResponse(chal, cpHash[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("got %X, want %X", tt.got, tt.want)
			}
		})
	}
}

func TestVerifyV1(t *testing.T) {
	pwHash := NTPasswordHash(v1Password)
	chal := unhex(t, v1Challenge)
	good := unhex(t, v1NTResponse)
	bad := bytes.Clone(good)
	bad[23] ^= 1

	tests := []struct {
		name      string
		pwHash    [16]byte
		challenge []byte
		resp      []byte
		wantIdent byte
		wantOK    bool
	}{
		{"rfc2433 vector", pwHash, chal, buildV1Resp(7, 1, good), 7, true},
		{"extra flag bits ignored", pwHash, chal, buildV1Resp(7, 0x81, good), 7, true},
		{"LM-only rejected", pwHash, chal, buildV1Resp(7, 0, good), 7, false},
		{"wrong password", NTPasswordHash("mypw"), chal, buildV1Resp(7, 1, good), 7, false},
		{"tampered response", pwHash, chal, buildV1Resp(7, 1, bad), 7, false},
		{"wrong challenge", pwHash, unhex(t, "102DB5DF085D3040"), buildV1Resp(7, 1, good), 7, false},
		{"short challenge", pwHash, chal[:7], buildV1Resp(7, 1, good), 7, false},
		{"v2 sized challenge", pwHash, append(bytes.Clone(chal), chal...), buildV1Resp(7, 1, good), 7, false},
		{"short resp", pwHash, chal, buildV1Resp(7, 1, good)[:49], 7, false},
		{"long resp", pwHash, chal, append(buildV1Resp(7, 1, good), 0), 7, false},
		{"one byte resp", pwHash, chal, []byte{9}, 9, false},
		{"nil resp", pwHash, chal, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ident, ok := VerifyV1(tt.pwHash, tt.challenge, tt.resp)
			if ok != tt.wantOK || ident != tt.wantIdent {
				t.Errorf("VerifyV1 = (%d, %v), want (%d, %v)", ident, ok, tt.wantIdent, tt.wantOK)
			}
		})
	}
}

// TestVerifyV2Layeh cross-checks VerifyV2 and MPPEKeysV2 against layeh's
// cleartext-password implementations.
func TestVerifyV2Layeh(t *testing.T) {
	tests := []struct {
		name     string
		user     string // as sent in User-Name
		password string
	}{
		{"rfc vector", "User", "clientPass"},
		{"domain prefix", `CORP\alice`, "s3cret!"},
		{"empty password", "bob", ""},
		{"non-ascii password", "carol", "pässwörd€"},
		{"long", "a-rather-long-user-name@example.com", "0123456789012345678901234567890123456789"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authChal := make([]byte, 16)
			peerChal := make([]byte, 16)
			for j := range 16 {
				authChal[j] = byte(i*31 + j*7 + 1)
				peerChal[j] = byte(i*17 + j*13 + 5)
			}
			user := StripDomain(tt.user)
			ntResp, err := rfc2759.GenerateNTResponse(authChal, peerChal, []byte(user), []byte(tt.password))
			if err != nil {
				t.Fatal(err)
			}
			wantAuth, err := rfc2759.GenerateAuthenticatorResponse(authChal, peerChal, ntResp, []byte(user), []byte(tt.password))
			if err != nil {
				t.Fatal(err)
			}
			wantSend, err := rfc3079.MakeKey(ntResp, []byte(tt.password), true)
			if err != nil {
				t.Fatal(err)
			}
			wantRecv, err := rfc3079.MakeKey(ntResp, []byte(tt.password), false)
			if err != nil {
				t.Fatal(err)
			}
			wantHash := rfc2759.NTPasswordHash(mustUTF16(t, tt.password))

			pwHash := NTPasswordHash(tt.password)
			if !bytes.Equal(pwHash[:], wantHash) {
				t.Fatalf("NTPasswordHash = %X, layeh %X", pwHash, wantHash)
			}
			res, ok := VerifyV2(pwHash, authChal, buildV2Resp(byte(i), peerChal, ntResp), user)
			if !ok {
				t.Fatal("VerifyV2 rejected layeh's NT-Response")
			}
			if got := string(res.AuthenticatorResponse[:]); got != wantAuth {
				t.Errorf("AuthenticatorResponse = %s, layeh %s", got, wantAuth)
			}
			send, recv := MPPEKeysV2(res.MasterKey)
			if !bytes.Equal(send[:], wantSend) {
				t.Errorf("send key = %X, layeh %X", send, wantSend)
			}
			if !bytes.Equal(recv[:], wantRecv) {
				t.Errorf("recv key = %X, layeh %X", recv, wantRecv)
			}
		})
	}
}

func mustUTF16(t testing.TB, s string) []byte {
	b, err := rfc2759.ToUTF16([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyV2Negative(t *testing.T) {
	pwHash := NTPasswordHash(v2Password)
	authChal := unhex(t, v2AuthChal)
	good := rfcV2Resp(t)
	tampered := bytes.Clone(good)
	tampered[49] ^= 0x80
	otherPeer := bytes.Clone(good)
	otherPeer[2] ^= 1
	garbage := bytes.Repeat([]byte{0xA5}, ResponseLen)

	tests := []struct {
		name      string
		pwHash    [16]byte
		authChal  []byte
		resp      []byte
		user      string
		wantIdent byte
	}{
		{"wrong password", NTPasswordHash("clientPasS"), authChal, good, v2User, 0x42},
		{"zero hash", [16]byte{}, authChal, good, v2User, 0x42},
		{"wrong user", pwHash, authChal, good, "user", 0x42},
		{"unstripped domain", pwHash, authChal, good, `DOM\User`, 0x42},
		{"wrong auth challenge", pwHash, unhex(t, "5B5D7C7D7B3F2F3E3C2C602132262629"), good, v2User, 0x42},
		{"tampered NT-Response", pwHash, authChal, tampered, v2User, 0x42},
		{"tampered peer challenge", pwHash, authChal, otherPeer, v2User, 0x42},
		{"garbage resp", pwHash, authChal, garbage, v2User, 0xA5},
		{"short resp", pwHash, authChal, good[:49], v2User, 0x42},
		{"long resp", pwHash, authChal, append(bytes.Clone(good), 0), v2User, 0x42},
		{"one byte resp", pwHash, authChal, []byte{3}, v2User, 3},
		{"nil resp", pwHash, authChal, nil, v2User, 0},
		{"short auth challenge", pwHash, authChal[:15], good, v2User, 0x42},
		{"v1 sized challenge", pwHash, authChal[:8], good, v2User, 0x42},
		{"nil auth challenge", pwHash, nil, good, v2User, 0x42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, ok := VerifyV2(tt.pwHash, tt.authChal, tt.resp, tt.user)
			if ok {
				t.Fatal("VerifyV2 accepted")
			}
			if want := (V2Result{Ident: tt.wantIdent}); res != want {
				t.Errorf("result on failure = %+v, want only Ident %d", res, tt.wantIdent)
			}
		})
	}
}

func TestStripDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"User", "User"},
		{`DOMAIN\User`, "User"},
		{`\User`, "User"},
		{`DOMAIN\`, ""},
		{"user@realm", "user@realm"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := StripDomain(tt.in); got != tt.want {
				t.Errorf("StripDomain(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNTPasswordHashUTF16(t *testing.T) {
	tests := []struct{ name, password string }{
		{"empty", ""},
		{"ascii", "clientPass"},
		{"latin1", "ñandú"},
		{"bmp", "пароль密码"},
		{"astral (surrogate pair)", "pw\U0001F600x"},
		{"invalid utf8", "a\xffb"},
		{"longer than 256 chars", string(bytes.Repeat([]byte("xyz€"), 100))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NTPasswordHash(tt.password)
			want := rfc2759.NTPasswordHash(mustUTF16(t, tt.password))
			if !bytes.Equal(got[:], want) {
				t.Errorf("NTPasswordHash = %X, layeh %X", got, want)
			}
		})
	}
}

func TestDESKeyParity(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		// 0xFF.. expands to 0xFE bytes with the parity bit set.
		{"ones", "FFFFFFFFFFFFFF", "FEFEFEFEFEFEFEFE"},
		{"zeros", "00000000000000", "0101010101010101"},
		{"rfc2759 first third", "44EBBA8D5312B8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := desKey([7]byte(unhex(t, tt.in)))
			for i, b := range k {
				if bits.OnesCount8(b)%2 != 1 {
					t.Errorf("octet %d = %02X has even parity", i, b)
				}
			}
			if tt.want != "" && !bytes.Equal(k[:], unhex(t, tt.want)) {
				t.Errorf("desKey = %X, want %s", k, tt.want)
			}
			// Stripping the parity bits must give back the 56 input bits.
			var v uint64
			for _, b := range k {
				v = v<<7 | uint64(b>>1)
			}
			if got := fmt.Sprintf("%014X", v); got != tt.in {
				t.Errorf("key bits = %s, want %s", got, tt.in)
			}
		})
	}
}

// decryptKey reverses EncryptKey (RFC 2548 §2.4.2).
func decryptKey(t testing.TB, secret []byte, reqAuth [16]byte, value []byte) (salt [2]byte, key []byte) {
	t.Helper()
	if len(value) < 18 || (len(value)-2)%16 != 0 {
		t.Fatalf("bad encrypted length %d", len(value))
	}
	salt = [2]byte(value[:2])
	if salt[0]&0x80 == 0 {
		t.Errorf("salt %X lacks the top bit", salt)
	}
	c := value[2:]
	p := make([]byte, len(c))
	prev := append(reqAuth[:], salt[:]...)
	for i := 0; i < len(c); i += 16 {
		b := md5.Sum(append(bytes.Clone(secret), prev...))
		for j := range 16 {
			p[i+j] = c[i+j] ^ b[j]
		}
		prev = c[i : i+16]
	}
	n := int(p[0])
	if n > len(p)-1 {
		t.Fatalf("decrypted length %d exceeds %d", n, len(p)-1)
	}
	for _, z := range p[1+n:] {
		if z != 0 {
			t.Fatalf("non-zero padding in %X", p)
		}
	}
	return salt, p[1 : 1+n]
}

func TestEncryptKeyRoundTrip(t *testing.T) {
	reqAuth := [16]byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0}
	send, _ := MPPEKeysV2([16]byte(unhex(t, v2MasterKey)))
	tests := []struct {
		name    string
		secret  []byte
		salt    [2]byte
		key     []byte
		wantLen int
	}{
		{"mppe send key", []byte("testing123"), [2]byte{0x80, 0x01}, send[:], 2 + 32},
		{"empty key", []byte("s"), [2]byte{0x81, 0x02}, nil, 2 + 16},
		{"15 octets", []byte("s"), [2]byte{0x81, 0x02}, bytes.Repeat([]byte{1}, 15), 2 + 16},
		{"17 octets", []byte("s"), [2]byte{0x81, 0x02}, bytes.Repeat([]byte{2}, 17), 2 + 32},
		{"32 octets", []byte("secret"), [2]byte{0xff, 0xff}, bytes.Repeat([]byte{3}, 32), 2 + 48},
		{"salt top bit forced", []byte("secret"), [2]byte{0x12, 0x34}, send[:], 2 + 32},
		{"long secret", bytes.Repeat([]byte("k"), 300), [2]byte{0x80, 0x00}, send[:], 2 + 32},
		{"empty secret", nil, [2]byte{0x80, 0x00}, send[:], 2 + 32},
		{"max key", []byte("secret"), [2]byte{0x80, 0x09}, bytes.Repeat([]byte{4}, maxKeyLen), 2 + 240},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := EncryptKey(tt.secret, reqAuth, tt.salt, tt.key)
			if len(enc) != tt.wantLen {
				t.Fatalf("len = %d, want %d", len(enc), tt.wantLen)
			}
			wantSalt := tt.salt
			wantSalt[0] |= 0x80
			salt, key := decryptKey(t, tt.secret, reqAuth, enc)
			if salt != wantSalt {
				t.Errorf("salt = %X, want %X", salt, wantSalt)
			}
			if !bytes.Equal(key, tt.key) {
				t.Errorf("key = %X, want %X", key, tt.key)
			}
			if len(tt.secret) == 0 {
				return // layeh refuses an empty secret
			}
			// RFC 2548 §2.4.2 is the RFC 2868 Tunnel-Password scheme.
			lkey, lsalt, err := radius.TunnelPassword(enc, tt.secret, reqAuth[:])
			if err != nil {
				t.Fatalf("layeh TunnelPassword: %v", err)
			}
			if !bytes.Equal(lkey, tt.key) || !bytes.Equal(lsalt, wantSalt[:]) {
				t.Errorf("layeh decrypt = %X/%X, want %X/%X", lkey, lsalt, tt.key, wantSalt)
			}
		})
	}
	t.Run("too long", func(t *testing.T) {
		if enc := EncryptKey([]byte("s"), reqAuth, [2]byte{0x80, 0}, make([]byte, maxKeyLen+1)); enc != nil {
			t.Errorf("got %d octets, want nil", len(enc))
		}
	})
}

func TestEncryptKeyV1(t *testing.T) {
	keys := MPPEKeysV1(NTPasswordHash(v2Password))
	tests := []struct {
		name    string
		secret  []byte
		reqAuth [16]byte
	}{
		{"short secret", []byte("testing123"), [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{"long secret", bytes.Repeat([]byte("x"), 200), [16]byte{0xff}},
		{"empty secret", nil, [16]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := EncryptKeyV1(tt.secret, tt.reqAuth, keys)
			if len(enc) != 32 {
				t.Fatalf("len = %d, want 32", len(enc))
			}
			// Decrypt: p(i) = c(i) XOR MD5(secret ‖ c(i-1)), c(0) = reqAuth.
			prev := tt.reqAuth[:]
			var dec [32]byte
			for i := 0; i < 32; i += 16 {
				b := md5.Sum(append(bytes.Clone(tt.secret), prev...))
				for j := range 16 {
					dec[i+j] = enc[i+j] ^ b[j]
				}
				prev = enc[i : i+16]
			}
			if dec != keys {
				t.Errorf("decrypted %X, want %X", dec, keys)
			}
			if len(tt.secret) == 0 {
				return // layeh refuses an empty secret
			}
			// Same scheme as RFC 2865 User-Password.
			a, err := radius.NewUserPassword(keys[:], tt.secret, tt.reqAuth[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, a) {
				t.Errorf("EncryptKeyV1 = %X, layeh NewUserPassword %X", enc, a)
			}
		})
	}
}

func TestErrorValues(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"ErrorV2", ErrorV2(0x42, unhex(t, v2AuthChal)), "\x42E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed"},
		{"ErrorV2 lower hex input", ErrorV2(1, unhex(t, "00ff10ab")), "\x01E=691 R=0 C=00FF10AB V=3 M=Authentication failed"},
		{"ErrorV1", ErrorV1(7), "\x07E=691 R=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestAllocs guards the hot path against allocation regressions. The only
// unavoidable allocations are crypto/des's three key schedules and the one
// buffer that crosses the cipher.Block interface.
func TestAllocs(t *testing.T) {
	pwHash := NTPasswordHash(v2Password)
	authChal := unhex(t, v2AuthChal)
	resp := rfcV2Resp(t)
	v1Hash := NTPasswordHash(v1Password)
	v1Chal := unhex(t, v1Challenge)
	v1Resp := buildV1Resp(1, 1, unhex(t, v1NTResponse))
	master := [16]byte(unhex(t, v2MasterKey))
	secret := []byte("testing123")
	var reqAuth [16]byte
	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"VerifyV2", 4, func() {
			if _, ok := VerifyV2(pwHash, authChal, resp, v2User); !ok {
				t.Fatal("VerifyV2 failed")
			}
		}},
		{"VerifyV1", 4, func() {
			if _, ok := VerifyV1(v1Hash, v1Chal, v1Resp); !ok {
				t.Fatal("VerifyV1 failed")
			}
		}},
		{"NTPasswordHash", 0, func() { _ = NTPasswordHash(v2Password) }},
		{"MPPEKeysV2", 0, func() { _, _ = MPPEKeysV2(master) }},
		{"MPPEKeysV1", 0, func() { _ = MPPEKeysV1(pwHash) }},
		{"EncryptKey", 1, func() { _ = EncryptKey(secret, reqAuth, [2]byte{0x80, 1}, master[:]) }},
		{"EncryptKeyV1", 1, func() { _ = EncryptKeyV1(secret, reqAuth, [32]byte{}) }},
		{"SuccessV2", 1, func() { _ = SuccessV2(V2Result{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got > tt.max {
				t.Errorf("%v allocs/op, want <= %v", got, tt.max)
			}
		})
	}
}

func BenchmarkVerifyV2(b *testing.B) {
	pwHash := NTPasswordHash(v2Password)
	authChal := unhex(b, v2AuthChal)
	resp := rfcV2Resp(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := VerifyV2(pwHash, authChal, resp, v2User); !ok {
			b.Fatal("VerifyV2 failed")
		}
	}
}

func BenchmarkVerifyV1(b *testing.B) {
	pwHash := NTPasswordHash(v1Password)
	chal := unhex(b, v1Challenge)
	resp := buildV1Resp(1, 1, unhex(b, v1NTResponse))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := VerifyV1(pwHash, chal, resp); !ok {
			b.Fatal("VerifyV1 failed")
		}
	}
}

func FuzzVerifyV2(f *testing.F) {
	f.Add(unhex(f, v2PwHash), unhex(f, v2AuthChal), rfcV2Resp(f), v2User)
	f.Add([]byte{}, []byte{}, []byte{}, "")
	f.Add(unhex(f, v1PwHash), unhex(f, v1Challenge), buildV1Resp(1, 1, unhex(f, v1NTResponse)), `DOM\u`)
	f.Add(bytes.Repeat([]byte{0xff}, 20), bytes.Repeat([]byte{0}, 16), bytes.Repeat([]byte{0xff}, 50), string(bytes.Repeat([]byte("u"), 400)))
	f.Fuzz(func(t *testing.T, hash, authChal, resp []byte, user string) {
		var pwHash [16]byte
		copy(pwHash[:], hash)
		user = StripDomain(user)
		res, ok := VerifyV2(pwHash, authChal, resp, user)
		if ok {
			if !bytes.Equal(res.NTResponse[:], resp[26:50]) {
				t.Fatalf("accepted but NTResponse %X != resp %X", res.NTResponse, resp[26:50])
			}
			if s := SuccessV2(res); len(s) != SuccessV2Len || s[0] != resp[0] || string(s[1:3]) != "S=" {
				t.Fatalf("bad SuccessV2 %q", s)
			}
		} else if len(resp) > 0 && res.Ident != resp[0] {
			t.Fatalf("Ident = %d, want %d", res.Ident, resp[0])
		}
		_ = ErrorV2(res.Ident, authChal)
		_, _ = VerifyV1(pwHash, authChal, resp)
	})
}
