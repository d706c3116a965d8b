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

// Policy is how hard sign-ins are throttled.
type Policy struct {
	// IPAttempts sign-in attempts (password or TOTP step, right or wrong) are allowed
	// per IPWindow from one address; more are refused with 429 until the window ends.
	IPAttempts int64
	IPWindow   time.Duration
	// MaxFailures failed sign-ins for one email lock it for LockFor, known or not (so
	// the answer does not tell which emails have accounts). For a known user the lock is
	// also written to portal_users, where it survives a Redis flush and an admin can
	// lift it.
	MaxFailures int64
	LockFor     time.Duration
}

// DefaultPolicy: 10 attempts a minute per IP; 5 failures lock an email for 15 minutes.
var DefaultPolicy = Policy{IPAttempts: 10, IPWindow: time.Minute, MaxFailures: 5, LockFor: 15 * time.Minute}

// LimitError is a sign-in refused by the rate limit or a lockout, whatever the password.
// It unwraps to an EUNAUTHORIZED radius.Error; the portal answers 429 with Retry-After.
type LimitError struct {
	RetryAfter time.Duration
	Locked     bool // a lockout of the email, not the per-IP rate limit
	err        *radius.Error
}

// NewLimitError returns the refusal for retry (rounded to a second, at least one);
// locked says it is a lockout rather than the per-IP rate limit.
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
	Params Params
	Policy Policy
	Now    func() time.Time

	// hashers bounds concurrent argon2id runs: each takes Params.Memory, and a burst of
	// sign-ins must not take the machine's memory with it.
	hashers   chan struct{}
	dummyOnce sync.Once
	dummy     string
}

// New returns a Service with DefaultParams, DefaultPolicy and at most 4 hashes at once.
func New(users UserStore, limits Limiter, sealer Sealer) *Service {
	return &Service{Users: users, Limits: limits, Sealer: sealer, Params: DefaultParams, Policy: DefaultPolicy, Now: time.Now, hashers: make(chan struct{}, 4)}
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
	ResellerName string // required for a reseller, refused for an admin
	TOTPRequired bool
}

// CreateUser validates n, hashes the password and stores the user. EINVALID, ECONFLICT.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (*User, error) {
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(n.Password); err != nil {
		return nil, err
	}
	if !n.Role.Valid() {
		return nil, radius.Errorf(radius.EINVALID, "role: %q is not admin or reseller", n.Role)
	}
	name := strings.TrimSpace(n.ResellerName)
	switch {
	case n.Role == RoleReseller && name == "":
		return nil, radius.Errorf(radius.EINVALID, "reseller_name: required for a reseller")
	case n.Role == RoleReseller && len([]rune(name)) > 64:
		return nil, radius.Errorf(radius.EINVALID, "reseller_name: at most 64 characters")
	case n.Role == RoleAdmin && name != "":
		return nil, radius.Errorf(radius.EINVALID, "reseller_name: only resellers have one")
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

// hitIP counts one attempt from ip and refuses it past the policy.
func (s *Service) hitIP(ctx context.Context, ip string) error {
	n, reset, err := s.Limits.HitIP(ctx, ip, s.Policy.IPWindow)
	if err != nil {
		return err
	}
	if n > s.Policy.IPAttempts {
		return NewLimitError(reset, false)
	}
	return nil
}

// locked refuses a sign-in for a locked email or user.
func (s *Service) locked(ctx context.Context, email string, u *User) error {
	d, err := s.Limits.EmailLocked(ctx, email)
	if err != nil {
		return err
	}
	if u != nil {
		if left := u.LockedUntil.Sub(s.Now()); left > d {
			d = left
		}
	}
	if d > 0 {
		return NewLimitError(d, true)
	}
	return nil
}

// fail records a failed sign-in for email (and u when it exists) and returns cause.
func (s *Service) fail(ctx context.Context, email string, u *User, cause error) error {
	if _, err := s.Limits.FailEmail(ctx, email, s.Policy.MaxFailures, s.Policy.LockFor); err != nil {
		return err
	}
	if u != nil {
		if _, err := s.Users.RecordLoginFailure(ctx, u.ID, int(s.Policy.MaxFailures), s.Now().Add(s.Policy.LockFor)); err != nil {
			return err
		}
	}
	return cause
}

// succeed forgets the failures of u after a complete sign-in.
func (s *Service) succeed(ctx context.Context, u *User) error {
	if err := s.Limits.ClearEmail(ctx, u.Email); err != nil {
		return err
	}
	if u.FailedLogins > 0 || !u.LockedUntil.IsZero() {
		if err := s.Users.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
	}
	return nil
}

// Login checks an email and password from ip. It returns the user when they match; for
// a user with TOTP the sign-in is complete only after LoginTOTP. Errors: EINVALID for
// an empty field, ErrBadCredentials, a *LimitError for the rate limit or a lockout.
func (s *Service) Login(ctx context.Context, email, password, ip string) (*User, error) {
	if err := s.hitIP(ctx, ip); err != nil {
		return nil, err
	}
	if strings.TrimSpace(email) == "" {
		return nil, radius.Errorf(radius.EINVALID, "email: required")
	}
	if password == "" {
		return nil, radius.Errorf(radius.EINVALID, "password: required")
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, ErrBadCredentials
	}
	u, err := s.Users.FindUserByEmail(ctx, email)
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		u = nil
	case err != nil:
		return nil, err
	}
	if err := s.locked(ctx, email, u); err != nil {
		return nil, err
	}
	if len(password) > MaxPasswordLen {
		return nil, s.fail(ctx, email, u, ErrBadCredentials)
	}
	if u == nil {
		// Spend the same time as for a real account, so timing tells nothing either.
		s.dummyOnce.Do(func() { s.dummy = HashPassword(NewToken(), s.Params) })
		if _, err := s.verify(ctx, password, s.dummy); err != nil {
			return nil, err
		}
		return nil, s.fail(ctx, email, nil, ErrBadCredentials)
	}
	ok, err := s.verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("auth: user %d: %w", u.ID, err)
	}
	if !ok {
		return nil, s.fail(ctx, email, u, ErrBadCredentials)
	}
	if !u.HasTOTP() {
		if err := s.succeed(ctx, u); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// LoginTOTP completes the sign-in of user id, whose password was right, with a TOTP code
// from ip. A code works once. Errors as Login's, and ENOTFOUND.
func (s *Service) LoginTOTP(ctx context.Context, id int64, code, ip string) (*User, error) {
	if err := s.hitIP(ctx, ip); err != nil {
		return nil, err
	}
	u, err := s.Users.FindUserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.locked(ctx, u.Email, u); err != nil {
		return nil, err
	}
	if !u.HasTOTP() {
		return nil, radius.Errorf(radius.EINVALID, "totp: this account has no second factor")
	}
	secret, err := s.Sealer.Open(u.TOTPSecret)
	if err != nil {
		return nil, fmt.Errorf("auth: open TOTP secret of user %d: %w", u.ID, err)
	}
	if err := s.useCode(ctx, u.ID, string(secret), code); err != nil {
		if radius.ErrorCode(err) != radius.EUNAUTHORIZED {
			return nil, err
		}
		return nil, s.fail(ctx, u.Email, u, err)
	}
	if err := s.succeed(ctx, u); err != nil {
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

// BeginEnroll makes a new TOTP secret for u and returns it sealed, to keep in the
// session until the first code proves the app has it, with the otpauth:// URI to show.
func (s *Service) BeginEnroll(u *User) (sealed []byte, uri string, err error) {
	secret, uri, err := NewTOTP(u.Email)
	if err != nil {
		return nil, "", fmt.Errorf("auth: new TOTP secret: %w", err)
	}
	return s.Sealer.Seal([]byte(secret)), uri, nil
}

// EnrollURI returns the otpauth:// URI of a sealed secret from BeginEnroll.
func (s *Service) EnrollURI(email string, sealed []byte) (string, error) {
	secret, err := s.Sealer.Open(sealed)
	if err != nil {
		return "", fmt.Errorf("auth: open enrolment secret: %w", err)
	}
	return TOTPURI(email, string(secret))
}

// FinishEnroll stores the sealed secret for user id once code matches it. EUNAUTHORIZED
// for a wrong code, ENOTFOUND.
func (s *Service) FinishEnroll(ctx context.Context, id int64, sealed []byte, code string) error {
	secret, err := s.Sealer.Open(sealed)
	if err != nil {
		return fmt.Errorf("auth: open enrolment secret: %w", err)
	}
	if err := s.useCode(ctx, id, string(secret), code); err != nil {
		return err
	}
	return s.Users.SetTOTPSecret(ctx, id, sealed)
}

// RequireTOTP sets whether user id must use a second factor. ENOTFOUND.
func (s *Service) RequireTOTP(ctx context.Context, id int64, required bool) error {
	return s.Users.SetTOTPRequired(ctx, id, required)
}

// Unlock lifts a lockout of user id and forgets its failures. ENOTFOUND.
func (s *Service) Unlock(ctx context.Context, id int64) error {
	u, err := s.Users.FindUserByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Users.ResetLoginFailures(ctx, id); err != nil {
		return err
	}
	return s.Limits.ClearEmail(ctx, u.Email)
}

// IsLimit reports whether err is a *LimitError and returns it.
func IsLimit(err error) (*LimitError, bool) {
	var le *LimitError
	ok := errors.As(err, &le)
	return le, ok
}
