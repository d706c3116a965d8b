package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"tollgate/radius"
)

// LimitError is a sign-in refused by the rate limit or a lockout, whatever the password.
// It unwraps to an EUNAUTHORIZED radius.Error; the portal answers 429 with Retry-After.
type LimitError struct {
	RetryAfter time.Duration
	Locked     bool // a lockout of the email, not the per-address rate limit
	err        *radius.Error
}

// NewLimitError returns the refusal for retry (rounded to a second, at least one);
// locked says it is a lockout rather than the per-address rate limit.
func NewLimitError(retry time.Duration, locked bool) *LimitError {
	retry = max(retry, time.Second).Round(time.Second)
	msg := "too many sign-in attempts from this address; try again in " + retry.String()
	if locked {
		msg = "too many failed sign-ins for this account; try again in " + retry.String()
	}
	return &LimitError{RetryAfter: retry, Locked: locked, err: radius.Errorf(radius.EUNAUTHORIZED, "%s", msg)}
}

// Error returns the message.
func (e *LimitError) Error() string {
	if e.err == nil {
		return "too many sign-in attempts"
	}
	return e.err.Error()
}

// Unwrap returns the coded error.
func (e *LimitError) Unwrap() error {
	if e.err == nil {
		return radius.Errorf(radius.EUNAUTHORIZED, "too many sign-in attempts")
	}
	return e.err
}

// ErrBadCredentials is the one answer to a wrong email, a wrong password and a wrong
// code, so a guesser learns nothing about which accounts exist.
var ErrBadCredentials = radius.Errorf(radius.EUNAUTHORIZED, "wrong email or password")

// errBadCode answers a wrong or reused TOTP code.
var errBadCode = radius.Errorf(radius.EUNAUTHORIZED, "the code is not valid")

// Service runs sign-ins, enrolment and account changes over its stores. Set the fields
// before the first call; New fills the defaults.
type Service struct {
	Users  UserStore
	Limits Limiter
	Sealer Sealer
	// Sessions, when set, lets an account change end the user's open sessions at once
	// (EndUserSessions); without it they end at their next request (CheckSession).
	Sessions SessionStore
	Params   Params
	Policy   Policy
	// SessionMax is a session's absolute lifetime, however active (DefaultSessionMax).
	SessionMax time.Duration
	Now        func() time.Time

	// hashers bounds concurrent argon2id runs: each takes Params.Memory, and a burst of
	// sign-ins must not take the machine's memory with it.
	hashers   chan struct{}
	dummyOnce sync.Once
	dummy     string
}

// New returns a Service with DefaultParams, DefaultPolicy and at most 4 hashes at once.
func New(users UserStore, limits Limiter, sealer Sealer) *Service {
	return &Service{Users: users, Limits: limits, Sealer: sealer, Params: DefaultParams, Policy: DefaultPolicy,
		SessionMax: DefaultSessionMax, Now: time.Now, hashers: make(chan struct{}, 4)}
}

// acquire waits for a hashing slot.
func (s *Service) acquire(ctx context.Context) (func(), error) {
	select {
	case s.hashers <- struct{}{}:
		return func() { <-s.hashers }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: wait for a hashing slot: %w", ctx.Err())
	}
}

// hash is HashPassword under the concurrency bound.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(pw, s.Params), nil
}

// verify is VerifyPassword under the concurrency bound.
func (s *Service) verify(ctx context.Context, pw, phc string) (bool, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return VerifyPassword(pw, phc)
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email        string
	Password     string
	Role         Role
	ResellerName string // an existing reseller's name: required for a reseller, refused for an admin
	TOTPRequired bool
}

// checkRole validates a role and the reseller name that goes with it, and returns the
// name trimmed. EINVALID.
func checkRole(role Role, resellerName string) (string, error) {
	if !role.Valid() {
		return "", radius.Errorf(radius.EINVALID, "role: %q is not admin or reseller", role)
	}
	name := strings.TrimSpace(resellerName)
	switch {
	case role == RoleReseller && name == "":
		return "", radius.Errorf(radius.EINVALID, "reseller: required for a reseller")
	case role == RoleReseller && len([]rune(name)) > 64:
		return "", radius.Errorf(radius.EINVALID, "reseller: at most 64 characters")
	case role == RoleAdmin && name != "":
		return "", radius.Errorf(radius.EINVALID, "reseller: only resellers have one")
	}
	return name, nil
}

// CreateUser validates n, hashes the password and stores the user. EINVALID (also for
// a reseller name that names no reseller), ECONFLICT.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (*User, error) {
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(n.Password); err != nil {
		return nil, err
	}
	name, err := checkRole(n.Role, n.ResellerName)
	if err != nil {
		return nil, err
	}
	phc, err := s.hash(ctx, n.Password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: email, PasswordHash: phc, Role: n.Role, ResellerName: name, TOTPRequired: n.TOTPRequired}
	if err := s.Users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// hitAddr counts one attempt from addr and refuses it past the policy (rule 1).
func (s *Service) hitAddr(ctx context.Context, addr string) error {
	n, reset, err := s.Limits.HitAddr(ctx, addr, s.Policy.AddrWindow)
	if err != nil {
		return err
	}
	if n > s.Policy.AddrAttempts {
		return NewLimitError(reset, false)
	}
	return nil
}

// locked refuses a sign-in of email (user u, nil when none) from addr that a lock holds:
// the email's lock at this address, or unless the address is known, the account-wide
// one in Redis or Postgres.
func (s *Service) locked(ctx context.Context, email, addr string, u *User) error {
	st, err := s.Limits.Locks(ctx, email, addr)
	if err != nil {
		return err
	}
	if st.Addr > 0 {
		return NewLimitError(st.Addr, true)
	}
	if st.Known {
		return nil
	}
	d := st.Account
	if u != nil {
		d = max(d, u.LockedUntil.Sub(s.Now()))
	}
	if d > 0 {
		return NewLimitError(d, true)
	}
	return nil
}

// fail records a failed sign-in of email (and u when it exists) from addr, sets the
// locks the policy calls for, and returns cause.
func (s *Service) fail(ctx context.Context, email, addr string, u *User, cause error) error {
	c, err := s.Limits.CountFailure(ctx, email, addr, s.Policy)
	if err != nil {
		return err
	}
	addrLock, accountLock := s.Policy.AfterFailure(c)
	if addrLock > 0 {
		if err := s.Limits.LockAddr(ctx, email, addr, addrLock, s.Policy); err != nil {
			return err
		}
	}
	var until time.Time
	if accountLock > 0 {
		if err := s.Limits.LockAccount(ctx, email, accountLock); err != nil {
			return err
		}
		until = s.Now().Add(accountLock)
	}
	if u != nil {
		if err := s.Users.RecordLoginFailure(ctx, u.ID, until); err != nil {
			return err
		}
	}
	return cause
}

// succeed forgets the failures of u at addr after a complete sign-in, and remembers
// addr as one of u's known addresses.
func (s *Service) succeed(ctx context.Context, u *User, addr string) error {
	if err := s.Limits.Succeeded(ctx, u.Actor(), addr, s.Policy.KnownFor); err != nil {
		return err
	}
	if u.FailedLogins > 0 || !u.LockedUntil.IsZero() {
		if err := s.Users.ResetLoginFailures(ctx, u.ID, s.Now()); err != nil {
			return err
		}
		u.FailedLogins = 0
		if !u.LockedUntil.After(s.Now()) {
			u.LockedUntil = time.Time{}
		}
	}
	return nil
}

// Login checks a sign-in name and password from ip: a staff email, or a subscriber's
// username or email (FindUserByLogin). It returns the user when they match; for a user
// with TOTP the sign-in is complete only after LoginTOTP. Errors: EINVALID for an empty
// field, ErrBadCredentials (also for a disabled account), a *LimitError for the rate
// limit or a lockout (see Policy). The counters and locks of an account are kept under
// its Actor whatever name it was signed in with; a name without an account is counted
// under itself, lower-cased.
func (s *Service) Login(ctx context.Context, email, password, ip string) (*User, error) {
	addr := AddrKey(ip)
	if err := s.hitAddr(ctx, addr); err != nil {
		return nil, err
	}
	login := strings.TrimSpace(email)
	if login == "" {
		return nil, radius.Errorf(radius.EINVALID, "email: required")
	}
	if password == "" {
		return nil, radius.Errorf(radius.EINVALID, "password: required")
	}
	if len(login) > 254 || strings.ContainsAny(login, "\x00\r\n") {
		return nil, ErrBadCredentials
	}
	email = strings.ToLower(login)
	u, err := s.Users.FindUserByLogin(ctx, login)
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		u = nil
	case err != nil:
		return nil, err
	default:
		email = u.Actor()
	}
	if err := s.locked(ctx, email, addr, u); err != nil {
		return nil, err
	}
	if len(password) > MaxPasswordLen {
		return nil, s.fail(ctx, email, addr, u, ErrBadCredentials)
	}
	if u == nil {
		// Spend the same time as for a real account, so timing tells nothing either.
		s.dummyOnce.Do(func() { s.dummy = HashPassword(NewToken(), s.Params) })
		if _, err := s.verify(ctx, password, s.dummy); err != nil {
			return nil, err
		}
		return nil, s.fail(ctx, email, addr, nil, ErrBadCredentials)
	}
	ok, err := s.verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("auth: user %d: %w", u.ID, err)
	}
	if !ok {
		return nil, s.fail(ctx, email, addr, u, ErrBadCredentials)
	}
	if u.Disabled() {
		// The right password of a disabled account: refused like a wrong one, but it is
		// not a guess, so it does not count towards a lock.
		return nil, ErrBadCredentials
	}
	if !u.HasTOTP() {
		if err := s.succeed(ctx, u, addr); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// LoginTOTP completes the sign-in of user id, whose password was right, with a TOTP code
// from ip. A code works once. Errors as Login's, and ENOTFOUND.
func (s *Service) LoginTOTP(ctx context.Context, id int64, code, ip string) (*User, error) {
	addr := AddrKey(ip)
	if err := s.hitAddr(ctx, addr); err != nil {
		return nil, err
	}
	u, err := s.Users.FindUserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.locked(ctx, u.Actor(), addr, u); err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, ErrBadCredentials
	}
	if !u.HasTOTP() {
		return nil, radius.Errorf(radius.EINVALID, "totp: this account has no second factor")
	}
	secret, err := s.Sealer.Open(u.TOTPSecret, radius.SealTOTPSecret.AD(u.ID))
	if err != nil {
		return nil, fmt.Errorf("auth: open TOTP secret of user %d: %w", u.ID, err)
	}
	if err := s.useCode(ctx, u.ID, string(secret), code); err != nil {
		if radius.ErrorCode(err) != radius.EUNAUTHORIZED {
			return nil, err
		}
		return nil, s.fail(ctx, u.Actor(), addr, u, err)
	}
	if err := s.succeed(ctx, u, addr); err != nil {
		return nil, err
	}
	return u, nil
}

// useCode checks code against secret and spends it. errBadCode for a wrong or reused code.
func (s *Service) useCode(ctx context.Context, id int64, secret, code string) error {
	step, err := CheckTOTP(secret, code, s.Now())
	if err != nil {
		return err
	}
	// A code stays acceptable for up to three steps (skew), so remember it that long.
	fresh, err := s.Limits.UseTOTPStep(ctx, id, step, (2*totpSkew+2)*totpPeriod*time.Second)
	if err != nil {
		return err
	}
	if !fresh {
		return errBadCode
	}
	return nil
}

// BeginEnroll makes a new TOTP secret for u and returns it sealed to u's row, to keep in
// the session until the first code proves the app has it, with the otpauth:// URI to
// show.
func (s *Service) BeginEnroll(u *User) (sealed []byte, uri string, err error) {
	secret, uri, err := NewTOTP(u.Email)
	if err != nil {
		return nil, "", fmt.Errorf("auth: new TOTP secret: %w", err)
	}
	return s.Sealer.Seal([]byte(secret), radius.SealTOTPSecret.AD(u.ID)), uri, nil
}

// EnrollURI returns the otpauth:// URI of a sealed secret from BeginEnroll for user id.
func (s *Service) EnrollURI(id int64, email string, sealed []byte) (string, error) {
	secret, err := s.Sealer.Open(sealed, radius.SealTOTPSecret.AD(id))
	if err != nil {
		return "", fmt.Errorf("auth: open enrolment secret: %w", err)
	}
	return TOTPURI(email, string(secret))
}

// FinishEnroll stores the sealed secret for user id once code matches it, and ends the
// user's open sessions (the caller starts a new one for the browser that enrolled).
// EUNAUTHORIZED for a wrong code, ENOTFOUND.
func (s *Service) FinishEnroll(ctx context.Context, id int64, sealed []byte, code string) error {
	secret, err := s.Sealer.Open(sealed, radius.SealTOTPSecret.AD(id))
	if err != nil {
		return fmt.Errorf("auth: open enrolment secret: %w", err)
	}
	if err := s.useCode(ctx, id, string(secret), code); err != nil {
		return err
	}
	if err := s.Users.SetTOTPSecret(ctx, id, sealed); err != nil {
		return err
	}
	return s.endSessions(ctx, id)
}

// RequireTOTP sets whether user id must use a second factor, and ends the user's open
// sessions so the next sign-in asks for it. ENOTFOUND.
func (s *Service) RequireTOTP(ctx context.Context, id int64, required bool) error {
	if err := s.Users.SetTOTPRequired(ctx, id, required); err != nil {
		return err
	}
	return s.endSessions(ctx, id)
}

// Disable stops user id from signing in and ends its open sessions at once. ENOTFOUND.
func (s *Service) Disable(ctx context.Context, id int64) error {
	if err := s.Users.SetDisabled(ctx, id, s.Now()); err != nil {
		return err
	}
	return s.endSessions(ctx, id)
}

// Enable lets a disabled user id sign in again. ENOTFOUND.
func (s *Service) Enable(ctx context.Context, id int64) error {
	return s.Users.SetDisabled(ctx, id, time.Time{})
}

// ChangeRole makes user id role, selling for the existing reseller resellerName when
// role is reseller, and ends the user's open sessions. EINVALID, ENOTFOUND.
func (s *Service) ChangeRole(ctx context.Context, id int64, role Role, resellerName string) error {
	name, err := checkRole(role, resellerName)
	if err != nil {
		return err
	}
	if err := s.Users.SetRole(ctx, id, role, name); err != nil {
		return err
	}
	return s.endSessions(ctx, id)
}

// endSessions ends the open sessions of user id now when the service has the session
// store; either way CheckSession ends them at their next request, since the change bumped
// the user's session generation.
func (s *Service) endSessions(ctx context.Context, id int64) error {
	if s.Sessions == nil {
		return nil
	}
	_, err := s.Sessions.EndUserSessions(ctx, id)
	return err
}

// SetSubscriberPassword checks and hashes password and makes it the portal password of
// subscriber subscriberID (giving it a portal account when it has none), then ends the
// account's open sessions. EINVALID, ENOTFOUND.
func (s *Service) SetSubscriberPassword(ctx context.Context, subscriberID int64, password string) (*User, error) {
	phc, err := s.HashNew(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err := s.Users.SetSubscriberPassword(ctx, subscriberID, phc)
	if err != nil {
		return nil, err
	}
	return u, s.endSessions(ctx, u.ID)
}

// HashNew checks a new password (CheckPassword) and returns its argon2id hash. EINVALID.
func (s *Service) HashNew(ctx context.Context, password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	return s.hash(ctx, password)
}

// EndSessions ends every open session of user id now (when the service has the session
// store; otherwise at their next request, once the account's SessionGen moved on).
func (s *Service) EndSessions(ctx context.Context, id int64) error { return s.endSessions(ctx, id) }

// Unlock lifts every lock of user id (at every address, and account-wide) and forgets
// its failures. ENOTFOUND.
func (s *Service) Unlock(ctx context.Context, id int64) error {
	u, err := s.Users.FindUserByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Users.ResetLoginFailures(ctx, id, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return err
	}
	return s.Limits.ClearEmail(ctx, u.Actor())
}

// IsLimit reports whether err is a *LimitError and returns it.
func IsLimit(err error) (*LimitError, bool) {
	var le *LimitError
	ok := errors.As(err, &le)
	return le, ok
}
