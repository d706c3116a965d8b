package auth

import (
	"net/url"
	"testing"
	"time"

	"tollgate/radius"
)

// rfcSecret is RFC 6238 appendix B's SHA-1 key "12345678901234567890" in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestTOTPVectors checks RFC 6238 appendix B (SHA-1), keeping the last six digits.
func TestTOTPVectors(t *testing.T) {
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		got, err := TOTPCode(rfcSecret, time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("TOTPCode(%d) = %q, %v; want %q", tc.unix, got, err, tc.want)
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	now := time.Unix(1111111111, 0)
	step := now.Unix() / 30
	code := func(d time.Duration) string {
		c, err := TOTPCode(rfcSecret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		code     string
		wantStep int64 // 0: refused
	}{
		{"now", code(0), step},
		{"previous step", code(-30 * time.Second), step - 1},
		{"next step", code(30 * time.Second), step + 1},
		{"spaces", " " + code(0) + " ", step},
		{"two steps old", code(-60 * time.Second), 0},
		{"two steps ahead", code(60 * time.Second), 0},
		{"short", "12345", 0},
		{"long", "1234567", 0},
		{"empty", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckTOTP(rfcSecret, tc.code, now)
			if tc.wantStep == 0 {
				if err == nil || radius.ErrorCode(err) != radius.EUNAUTHORIZED {
					t.Fatalf("CheckTOTP(%q) = %d, %v; want EUNAUTHORIZED", tc.code, got, err)
				}
				return
			}
			if err != nil || got != tc.wantStep {
				t.Fatalf("CheckTOTP(%q) = %d, %v; want step %d", tc.code, got, err, tc.wantStep)
			}
		})
	}
	if _, err := CheckTOTP("not base32!", "123456", now); err == nil || radius.ErrorCode(err) == radius.EUNAUTHORIZED {
		t.Fatalf("a broken secret: %v; want an internal error", err)
	}
}

func TestNewTOTP(t *testing.T) {
	secret, uri, err := NewTOTP("admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("URI %q", uri)
	}
	q := u.Query()
	if q.Get("secret") != secret || q.Get("issuer") != TOTPIssuer || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("URI %q: query %v", uri, q)
	}
	if len(secret) < 32 {
		t.Fatalf("secret %q is shorter than 160 bits", secret)
	}
	again, err := TOTPURI("admin@example.com", secret)
	if err != nil || again != uri {
		t.Fatalf("TOTPURI = %q, %v; want %q", again, err, uri)
	}
	if _, err := TOTPURI("a@x.io", "!!"); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("TOTPURI of a bad secret: %v", err)
	}
	code, _ := TOTPCode(secret, time.Now())
	if _, err := CheckTOTP(secret, code, time.Now()); err != nil {
		t.Fatalf("a fresh secret's own code: %v", err)
	}
}
