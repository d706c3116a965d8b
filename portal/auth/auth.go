// Package auth is the portal's account domain: admin and reseller sign-ins with argon2id
// passwords and optional TOTP (RFC 6238), subscriber sign-ins with their one-time links
// (link.go), the lockout and rate-limit rules, portal sessions and the audit log. It holds the rules and the interfaces its stores satisfy
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
	// RoleSubscriber is a subscriber signed in to its own pages (/my). Its account is
	// made by SetSubscriberPassword, never by CreateUser, and it has no email of its own.
	RoleSubscriber Role = "subscriber"
)

// Valid reports whether r is a staff role, one CreateUser and ChangeRole accept.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleReseller }

// User is a portal account.
type User struct {
	ID    int64
	Email string // lower-cased; "" for a subscriber, who signs in by Username or its email
	// PasswordHash is an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
	PasswordHash string
	Role         Role
	// ResellerID and ResellerName are the billing reseller a reseller account sells for
	// (a foreign key; the name is read through it). Zero and "" for an admin.
	ResellerID   int64
	ResellerName string
	// SubscriberID and Username are the billing subscriber of a subscriber account (a
	// foreign key; the username is read through it). Zero and "" for staff.
	SubscriberID int64
	Username     string
	// TOTPSecret is the sealed base32 secret; nil until the user enrolls.
	TOTPSecret []byte
	// TOTPRequired makes the user enroll before anything else once signed in.
	TOTPRequired bool
	// FailedLogins counts failed sign-ins since the last success (shown to admins).
	FailedLogins int
	// LockedUntil is the account-wide lock (see Policy), zero when there is none.
	LockedUntil time.Time
	// DisabledAt is when an admin disabled the account; zero while it may sign in.
	DisabledAt time.Time
	// SessionGen is the account's session generation: every change an open session
	// relies on (role, reseller, second factor, disabling) adds one, and a session begun
	// under another generation ends (Session.Gen).
	SessionGen int64
	CreatedAt  time.Time
}

// Actor is how the account is named in the audit log, the sign-in counters and its
// sessions: the email of staff, "subscriber:<username>" of a subscriber (so that no
// username can pass for a staff email).
func (u *User) Actor() string {
	if u.Role == RoleSubscriber {
		return SubscriberActor(u.Username)
	}
	return u.Email
}

// SubscriberActor is the Actor of the subscriber called username.
func SubscriberActor(username string) string { return "subscriber:" + username }

// Disabled reports whether the account may not sign in.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

// HasTOTP reports whether the user enrolled a second factor.
func (u *User) HasTOTP() bool { return len(u.TOTPSecret) > 0 }

// UserStore keeps portal users (auth/postgres). Every method that changes what an open
// session relies on (SetTOTPSecret, SetTOTPRequired, SetDisabled, SetRole) adds one to
// the user's SessionGen in the same statement.
type UserStore interface {
	// CreateUser stores u and sets u.ID, u.ResellerID, u.SessionGen and u.CreatedAt; a
	// reseller's u.ResellerName must name an existing reseller. ECONFLICT when the email
	// is taken, EINVALID for an unknown reseller.
	CreateUser(ctx context.Context, u *User) error
	// FindUserByEmail returns the user with the lower-cased email. ENOTFOUND.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindUserByLogin returns the account a sign-in names: the staff account with the
	// email login (lower-cased), else the subscriber account whose subscriber is called
	// login, else the one subscriber account whose subscriber's email is login (an email
	// that several subscribers share names none). ENOTFOUND.
	FindUserByLogin(ctx context.Context, login string) (*User, error)
	// FindUserByID returns the user. ENOTFOUND.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// SetSubscriberPassword gives subscriber subscriberID a portal account with the
	// argon2id hash phc, or replaces the hash of the one it has, clearing its failures
	// and lock and adding one to its SessionGen; it returns the account. ENOTFOUND when
	// there is no such subscriber.
	SetSubscriberPassword(ctx context.Context, subscriberID int64, phc string) (*User, error)
	// FindUsers lists every staff user, by email.
	FindUsers(ctx context.Context) ([]*User, error)
	// RecordLoginFailure adds one failed sign-in and, when lockUntil is not zero, sets
	// the account-wide lock to lockUntil (a later lock already there is kept). ENOTFOUND.
	RecordLoginFailure(ctx context.Context, id int64, lockUntil time.Time) error
	// ResetLoginFailures clears the failure count, and the account-wide lock when it
	// ends before lockedBefore (a time far ahead clears any). ENOTFOUND.
	ResetLoginFailures(ctx context.Context, id int64, lockedBefore time.Time) error
	// SetTOTPSecret stores the sealed secret (nil removes it). ENOTFOUND.
	SetTOTPSecret(ctx context.Context, id int64, sealed []byte) error
	// SetTOTPRequired sets whether the user must use a second factor. ENOTFOUND.
	SetTOTPRequired(ctx context.Context, id int64, required bool) error
	// SetDisabled disables the account at at, or enables it when at is zero. ENOTFOUND.
	SetDisabled(ctx context.Context, id int64, at time.Time) error
	// SetRole makes the user role; resellerName names the existing reseller of a
	// reseller account ("" for an admin). ENOTFOUND, EINVALID for an unknown reseller.
	SetRole(ctx context.Context, id int64, role Role, resellerName string) error
}

// Limiter holds the sign-in counters and locks (auth/redis), shared by every replica.
// addr is always an AddrKey (an IPv4 address or an IPv6 /64); email is hashed by the
// adapter, so Redis holds no address in clear. The rules that read the counters are the
// Policy's; the store only counts.
type Limiter interface {
	// HitAddr counts one sign-in attempt from addr in the current window and returns the
	// count so far and the time until the window ends.
	HitAddr(ctx context.Context, addr string, window time.Duration) (n int64, reset time.Duration, err error)
	// Locks reads, in one round trip, the locks of email seen from addr.
	Locks(ctx context.Context, email, addr string) (LockState, error)
	// CountFailure counts one failed sign-in of email from addr, in the windows of p, and returns
	// the counts after it.
	CountFailure(ctx context.Context, email, addr string, p Policy) (FailCounts, error)
	// LockAddr locks email for addr alone for d, raises the pair's backoff level (kept
	// for p.MaxLock) and restarts its failure count.
	LockAddr(ctx context.Context, email, addr string, d time.Duration, p Policy) error
	// LockAccount locks email for d at every address that is not known, and restarts its
	// account-wide counts.
	LockAccount(ctx context.Context, email string, d time.Duration) error
	// Succeeded forgets the failures, lock and backoff of email from addr (not the
	// account-wide lock) and remembers addr as known to email for knownFor.
	Succeeded(ctx context.Context, email, addr string, knownFor time.Duration) error
	// ClearEmail lifts every lock of email, at every address, and forgets its failures:
	// an admin's unlock.
	ClearEmail(ctx context.Context, email string) error
	// UseTOTPStep records that user id signed in with the code of time step step, and
	// reports false when that code was already used (a replay).
	UseTOTPStep(ctx context.Context, id int64, step int64, ttl time.Duration) (bool, error)
}

// Sealer encrypts the TOTP secrets, bound to their user's row (tollgate/radius/seal).
type Sealer = radius.Sealer

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
