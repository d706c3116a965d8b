package auth

import (
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"tollgate/radius"
)

// TOTP follows RFC 6238 with the parameters every authenticator app supports: SHA-1,
// six digits, 30-second steps. One step of clock skew is accepted each way.
const (
	totpPeriod = 30
	totpSkew   = 1
	// TOTPIssuer names tollgate in authenticator apps.
	TOTPIssuer = "tollgate"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP returns a fresh base32 secret for account and the otpauth:// URI an
// authenticator app reads (as text now, as a QR code later).
func NewTOTP(account string) (secret, uri string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// TOTPURI returns the otpauth:// URI of an existing secret.
func TOTPURI(account, secret string) (string, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", radius.Errorf(radius.EINVALID, "totp: the secret is not base32")
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return "", err
	}
	return k.URL(), nil
}

// CheckTOTP returns the time step (unix seconds / 30) whose code is code, trying the
// current step and one each side. EUNAUTHORIZED when none matches; the step lets the
// caller refuse a second use of the same code.
func CheckTOTP(secret, code string, now time.Time) (int64, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, radius.Errorf(radius.EUNAUTHORIZED, "the code is not valid")
	}
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := step + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, nil
		}
	}
	return 0, radius.Errorf(radius.EUNAUTHORIZED, "the code is not valid")
}

// TOTPCode returns the code of secret at t (for tests and the CLI).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}
