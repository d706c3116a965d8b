// Package auth is the portal's account domain: admin and reseller sign-ins with argon2id
// passwords and optional TOTP (RFC 6238), the lockout and rate-limit rules, portal
// sessions and the audit log. It holds the rules and the interfaces its stores satisfy
// (auth/postgres, auth/redis); it imports neither fiber nor a database driver, and
// errors are radius.Error codes like everywhere else.
package auth

import (
	"context"
	"net/mail"
	"strings"
	"time"

	"tollgate/radius"
)

// Role is what a portal user may do.
type Role string

// The roles. Each route of the portal admits one of them (or any signed-in user).
const (
	RoleAdmin    Role = "admin"
	RoleReseller Role = "reseller"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleReseller }

// User is a portal account.
type User struct {
	ID    int64
	Email string // lower-cased
	// PasswordHash is an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
	PasswordHash string
	Role         Role
	ResellerName string // resellers only
	// TOTPSecret is the sealed base32 secret; nil until the user enrolls.
	TOTPSecret []byte
	// TOTPRequired makes the user enroll before anything else once signed in.
	TOTPRequired bool
	FailedLogins int
	LockedUntil  time.Time // zero when not locked
	CreatedAt    time.Time
}

// HasTOTP reports whether the user enrolled a second factor.
func (u *User) HasTOTP() bool { return len(u.TOTPSecret) > 0 }

// UserStore keeps portal users (auth/postgres).
type UserStore interface {
	// CreateUser stores u and sets u.ID and u.CreatedAt. ECONFLICT when the email is taken.
	CreateUser(ctx context.Context, u *User) error
	// FindUserByEmail returns the user with the lower-cased email. ENOTFOUND.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindUserByID returns the user. ENOTFOUND.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// FindUsers lists every user, by email.
	FindUsers(ctx context.Context) ([]*User, error)
	// RecordLoginFailure adds one failed sign-in; when that makes max consecutive ones it
	// sets locked_until to until and starts counting again. It returns the lock (zero when
	// none). ENOTFOUND.
	RecordLoginFailure(ctx context.Context, id int64, max int, until time.Time) (time.Time, error)
	// ResetLoginFailures clears the failure count and the lock. ENOTFOUND.
	ResetLoginFailures(ctx context.Context, id int64) error
	// SetTOTPSecret stores the sealed secret (nil removes it). ENOTFOUND.
	SetTOTPSecret(ctx context.Context, id int64, sealed []byte) error
	// SetTOTPRequired sets whether the user must use a second factor. ENOTFOUND.
	SetTOTPRequired(ctx context.Context, id int64, required bool) error
}

// Limiter holds the sign-in counters (auth/redis). Keys are built by the adapter from
// the values given; the email is hashed there so Redis holds no address in clear.
type Limiter interface {
	// HitIP counts one sign-in attempt from ip in the current window and returns the
	// count so far and the time until the window ends.
	HitIP(ctx context.Context, ip string, window time.Duration) (n int64, reset time.Duration, err error)
	// FailEmail counts one failed sign-in for email within window; the max-th failure
	// locks the email for window and restarts the count. It returns the lock's length
	// (0 when this failure did not lock).
	FailEmail(ctx context.Context, email string, max int64, window time.Duration) (locked time.Duration, err error)
	// EmailLocked returns how long email stays locked (0: not locked).
	EmailLocked(ctx context.Context, email string) (time.Duration, error)
	// ClearEmail forgets the failures and the lock of email.
	ClearEmail(ctx context.Context, email string) error
	// UseTOTPStep records that user id signed in with the code of time step step, and
	// reports false when that code was already used (a replay).
	UseTOTPStep(ctx context.Context, id int64, step int64, ttl time.Duration) (bool, error)
}

// Sealer encrypts the TOTP secrets (tollgate/radius/seal).
type Sealer interface {
	Seal(plain []byte) []byte
	Open(sealed []byte) ([]byte, error)
}

// NormalizeEmail trims and lower-cases an address and checks that it is one. EINVALID.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" {
		return "", radius.Errorf(radius.EINVALID, "email: required")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || strings.ContainsAny(e, " \t\r\n") {
		return "", radius.Errorf(radius.EINVALID, "email: %q is not an address", s)
	}
	return e, nil
}
