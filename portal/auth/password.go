package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"tollgate/radius"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams (m=64 MiB, t=1, p=2) cost about 50 ms and 64 MiB per hash on the
// project's 2-core machines (BenchmarkHashPassword: 40-70 ms, up to 90 ms while other
// tests ran): slow enough to make guessing expensive, fast enough for a sign-in page.
// Memory is what makes argon2id hard on GPUs, so it gets the budget rather than passes.
// Each hash records its parameters, so raising them later keeps old hashes valid.
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 2}

// Password length limits: a floor that makes guessing useless and a ceiling that keeps
// one request from hashing megabytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 1024
)

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// CheckPassword says what is wrong with a new password. EINVALID.
func CheckPassword(pw string) error {
	switch n := len([]rune(pw)); {
	case n < MinPasswordLen:
		return radius.Errorf(radius.EINVALID, "password: at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return radius.Errorf(radius.EINVALID, "password: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the argon2id PHC string of pw with a random salt:
// $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>, both base64 without padding.
func HashPassword(pw string, p Params) string {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether pw matches the PHC string phc, in constant time over
// the hash. A malformed phc is an error, never a match.
func VerifyPassword(pw, phc string) (bool, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// parsePHC reads an argon2id PHC string. Parameters outside sane bounds are refused, so a
// tampered row cannot make one sign-in allocate gigabytes.
func parsePHC(phc string) (Params, []byte, []byte, error) {
	var p Params
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("auth: not an argon2id v=19 hash")
	}
	var m, t, th uint64
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("auth: argon2id parameter %q", kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			th = n
		default:
			return p, nil, nil, fmt.Errorf("auth: argon2id parameter %q", kv)
		}
	}
	if m < 8 || m > 1<<21 || t < 1 || t > 16 || th < 1 || th > 16 {
		return p, nil, nil, fmt.Errorf("auth: argon2id parameters m=%d,t=%d,p=%d out of bounds", m, t, th)
	}
	salt, err := b64.DecodeString(f[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("auth: argon2id salt")
	}
	key, err := b64.DecodeString(f[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("auth: argon2id hash")
	}
	return Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}, salt, key, nil
}
