package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// cheap keeps the tests fast; DefaultParams are checked by TestDefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerify(t *testing.T) {
	h := HashPassword("correct horse", cheap)
	if !phcRE.MatchString(h) {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q does not record its parameters", h)
	}
	if h == HashPassword("correct horse", cheap) {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		name string
		pw   string
		want bool
	}{{"right", "correct horse", true}, {"wrong", "correct horsE", false}, {"empty", "", false}, {"prefix", "correct", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.pw, h)
			if err != nil || ok != tc.want {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	h := HashPassword("a long password", DefaultParams)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Fatalf("default hash %q", h)
	}
	if ok, err := VerifyPassword("a long password", h); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	good := HashPassword("pw", cheap)
	f := strings.Split(good, "$")
	for _, tc := range []struct{ name, phc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"version", strings.Replace(good, "v=19", "v=16", 1)},
		{"fields", "$argon2id$v=19$m=64,t=1,p=1$" + f[4]},
		{"param name", strings.Replace(good, "m=64", "x=64", 1)},
		{"param value", strings.Replace(good, "m=64", "m=lots", 1)},
		{"huge memory", strings.Replace(good, "m=64", "m=4194304", 1)},
		{"zero time", strings.Replace(good, "t=1", "t=0", 1)},
		{"zero threads", strings.Replace(good, "p=1", "p=0", 1)},
		{"salt", strings.Replace(good, f[4], "!!", 1)},
		{"short salt", strings.Replace(good, f[4], "AAAA", 1)},
		{"hash", strings.Replace(good, f[5], "!!", 1)},
		{"short hash", strings.Replace(good, f[5], "AAAAAAAA", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := VerifyPassword("pw", tc.phc); ok || err == nil {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want an error", tc.phc, ok, err)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{
		{"short", "123456789", false},
		{"min", "1234567890", true},
		{"runes", "éééééééééé", true},
		{"max", strings.Repeat("a", MaxPasswordLen), true},
		{"too long", strings.Repeat("a", MaxPasswordLen+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckPassword = %v; want ok=%v", err, tc.ok)
			}
			if err != nil && radius.ErrorCode(err) != radius.EINVALID {
				t.Fatalf("code %q", radius.ErrorCode(err))
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" Admin@Example.COM ", "admin@example.com"},
		{"a.b+c@x.io", "a.b+c@x.io"},
		{"", ""},
		{"no-at", ""},
		{"Name <a@x.io>", ""},
		{"a b@x.io", ""},
		{strings.Repeat("a", 250) + "@x.io", ""},
	} {
		got, err := NormalizeEmail(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && radius.ErrorCode(err) != radius.EINVALID {
			t.Errorf("NormalizeEmail(%q): code %q", tc.in, radius.ErrorCode(err))
		}
	}
}

func TestRole(t *testing.T) {
	if !RoleAdmin.Valid() || !RoleReseller.Valid() || Role("root").Valid() || Role("").Valid() {
		t.Fatal("Role.Valid")
	}
}

// BenchmarkHashPassword times DefaultParams: the figure DefaultParams' comment quotes.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		HashPassword("a long password", DefaultParams)
	}
}

// TestHashingBounded: with every hashing slot taken, a request waits for one only as
// long as its context lasts.
func TestHashingBounded(t *testing.T) {
	s := New(nil, nil, nil)
	for range cap(s.hashers) {
		s.hashers <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.CreateUser(ctx, NewUser{Email: "a@x.io", Password: "0123456789", Role: RoleAdmin}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CreateUser = %v; want the context's error", err)
	}
	if _, err := s.verify(ctx, "pw", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("verify = %v; want the context's error", err)
	}
	<-s.hashers
	if _, err := s.hash(context.Background(), "0123456789"); err != nil {
		t.Fatalf("with a free slot: %v", err)
	}
}

func TestLimitError(t *testing.T) {
	for _, tc := range []struct {
		retry  time.Duration
		locked bool
		want   time.Duration
		msg    string
	}{
		{0, false, time.Second, "from this address; try again in 1s"},
		{1400 * time.Millisecond, false, time.Second, "in 1s"},
		{15 * time.Minute, true, 15 * time.Minute, "for this account; try again in 15m0s"},
	} {
		e := NewLimitError(tc.retry, tc.locked)
		if e.RetryAfter != tc.want || e.Locked != tc.locked || !strings.Contains(e.Error(), tc.msg) || radius.ErrorCode(e) != radius.EUNAUTHORIZED {
			t.Errorf("NewLimitError(%v, %v) = %+v %q", tc.retry, tc.locked, e, e.Error())
		}
		if le, ok := IsLimit(fmt.Errorf("wrapped: %w", e)); !ok || le != e {
			t.Errorf("IsLimit of a wrapped limit = %v, %v", le, ok)
		}
	}
	bare := &LimitError{}
	if bare.Error() == "" || radius.ErrorCode(bare) != radius.EUNAUTHORIZED {
		t.Fatalf("a zero LimitError: %q %q", bare.Error(), radius.ErrorCode(bare))
	}
	if _, ok := IsLimit(errors.New("x")); ok {
		t.Fatal("IsLimit of a plain error")
	}
}
