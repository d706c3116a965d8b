// Package authtest wraps the portal account stores for tests: each wrapper passes calls
// to a real store unless the test made a method fail. It is imported only from _test.go
// files.
package authtest

import (
	"context"
	"errors"
	"sync"
	"time"

	"tollgate/portal/auth"
)

// ErrInjected is the error a failing method returns.
var ErrInjected = errors.New("authtest: injected failure")

// Faults is the set of methods that fail, by name ("FindUserByID", "Audit", …).
type Faults struct {
	mu   sync.Mutex
	fail map[string]bool
}

// Fail makes the named methods return ErrInjected until Heal.
func (f *Faults) Fail(methods ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]bool{}
	}
	for _, m := range methods {
		f.fail[m] = true
	}
}

// Heal makes every method work again.
func (f *Faults) Heal() {
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
}

func (f *Faults) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[method] {
		return ErrInjected
	}
	return nil
}

// Users is an auth.UserStore that can fail.
type Users struct {
	auth.UserStore
	*Faults
}

var _ auth.UserStore = Users{}

// CreateUser fails or passes on.
func (u Users) CreateUser(ctx context.Context, x *auth.User) error {
	if err := u.err("CreateUser"); err != nil {
		return err
	}
	return u.UserStore.CreateUser(ctx, x)
}

// FindUserByEmail fails or passes on.
func (u Users) FindUserByEmail(ctx context.Context, email string) (*auth.User, error) {
	if err := u.err("FindUserByEmail"); err != nil {
		return nil, err
	}
	return u.UserStore.FindUserByEmail(ctx, email)
}

// FindUserByLogin fails or passes on.
func (u Users) FindUserByLogin(ctx context.Context, login string) (*auth.User, error) {
	if err := u.err("FindUserByLogin"); err != nil {
		return nil, err
	}
	return u.UserStore.FindUserByLogin(ctx, login)
}

// SetSubscriberPassword fails or passes on.
func (u Users) SetSubscriberPassword(ctx context.Context, subscriberID int64, phc string) (*auth.User, error) {
	if err := u.err("SetSubscriberPassword"); err != nil {
		return nil, err
	}
	return u.UserStore.SetSubscriberPassword(ctx, subscriberID, phc)
}

// FindUserByID fails or passes on.
func (u Users) FindUserByID(ctx context.Context, id int64) (*auth.User, error) {
	if err := u.err("FindUserByID"); err != nil {
		return nil, err
	}
	return u.UserStore.FindUserByID(ctx, id)
}

// FindUsers fails or passes on.
func (u Users) FindUsers(ctx context.Context) ([]*auth.User, error) {
	if err := u.err("FindUsers"); err != nil {
		return nil, err
	}
	return u.UserStore.FindUsers(ctx)
}

// RecordLoginFailure fails or passes on.
func (u Users) RecordLoginFailure(ctx context.Context, id int64, lockUntil time.Time) error {
	if err := u.err("RecordLoginFailure"); err != nil {
		return err
	}
	return u.UserStore.RecordLoginFailure(ctx, id, lockUntil)
}

// ResetLoginFailures fails or passes on.
func (u Users) ResetLoginFailures(ctx context.Context, id int64, lockedBefore time.Time) error {
	if err := u.err("ResetLoginFailures"); err != nil {
		return err
	}
	return u.UserStore.ResetLoginFailures(ctx, id, lockedBefore)
}

// SetTOTPSecret fails or passes on.
func (u Users) SetTOTPSecret(ctx context.Context, id int64, sealed []byte) error {
	if err := u.err("SetTOTPSecret"); err != nil {
		return err
	}
	return u.UserStore.SetTOTPSecret(ctx, id, sealed)
}

// SetDisabled fails or passes on.
func (u Users) SetDisabled(ctx context.Context, id int64, at time.Time) error {
	if err := u.err("SetDisabled"); err != nil {
		return err
	}
	return u.UserStore.SetDisabled(ctx, id, at)
}

// SetRole fails or passes on.
func (u Users) SetRole(ctx context.Context, id int64, role auth.Role, resellerName string) error {
	if err := u.err("SetRole"); err != nil {
		return err
	}
	return u.UserStore.SetRole(ctx, id, role, resellerName)
}

// SetTOTPRequired fails or passes on.
func (u Users) SetTOTPRequired(ctx context.Context, id int64, required bool) error {
	if err := u.err("SetTOTPRequired"); err != nil {
		return err
	}
	return u.UserStore.SetTOTPRequired(ctx, id, required)
}

// Limits is an auth.Limiter that can fail.
type Limits struct {
	auth.Limiter
	*Faults
}

var _ auth.Limiter = Limits{}

// HitAddr fails or passes on.
func (l Limits) HitAddr(ctx context.Context, addr string, window time.Duration) (int64, time.Duration, error) {
	if err := l.err("HitAddr"); err != nil {
		return 0, 0, err
	}
	return l.Limiter.HitAddr(ctx, addr, window)
}

// Locks fails or passes on.
func (l Limits) Locks(ctx context.Context, email, addr string) (auth.LockState, error) {
	if err := l.err("Locks"); err != nil {
		return auth.LockState{}, err
	}
	return l.Limiter.Locks(ctx, email, addr)
}

// CountFailure fails or passes on.
func (l Limits) CountFailure(ctx context.Context, email, addr string, p auth.Policy) (auth.FailCounts, error) {
	if err := l.err("CountFailure"); err != nil {
		return auth.FailCounts{}, err
	}
	return l.Limiter.CountFailure(ctx, email, addr, p)
}

// LockAddr fails or passes on.
func (l Limits) LockAddr(ctx context.Context, email, addr string, d time.Duration, p auth.Policy) error {
	if err := l.err("LockAddr"); err != nil {
		return err
	}
	return l.Limiter.LockAddr(ctx, email, addr, d, p)
}

// LockAccount fails or passes on.
func (l Limits) LockAccount(ctx context.Context, email string, d time.Duration) error {
	if err := l.err("LockAccount"); err != nil {
		return err
	}
	return l.Limiter.LockAccount(ctx, email, d)
}

// Succeeded fails or passes on.
func (l Limits) Succeeded(ctx context.Context, email, addr string, knownFor time.Duration) error {
	if err := l.err("Succeeded"); err != nil {
		return err
	}
	return l.Limiter.Succeeded(ctx, email, addr, knownFor)
}

// ClearEmail fails or passes on.
func (l Limits) ClearEmail(ctx context.Context, email string) error {
	if err := l.err("ClearEmail"); err != nil {
		return err
	}
	return l.Limiter.ClearEmail(ctx, email)
}

// UseTOTPStep fails or passes on.
func (l Limits) UseTOTPStep(ctx context.Context, id, step int64, ttl time.Duration) (bool, error) {
	if err := l.err("UseTOTPStep"); err != nil {
		return false, err
	}
	return l.Limiter.UseTOTPStep(ctx, id, step, ttl)
}

// Sessions is an auth.SessionStore that can fail.
type Sessions struct {
	auth.SessionStore
	*Faults
}

var _ auth.SessionStore = Sessions{}

// CreateSession fails or passes on.
func (s Sessions) CreateSession(ctx context.Context, x *auth.Session) (string, error) {
	if err := s.err("CreateSession"); err != nil {
		return "", err
	}
	return s.SessionStore.CreateSession(ctx, x)
}

// EndUserSessions fails or passes on.
func (s Sessions) EndUserSessions(ctx context.Context, userID int64) (int, error) {
	if err := s.err("EndUserSessions"); err != nil {
		return 0, err
	}
	return s.SessionStore.EndUserSessions(ctx, userID)
}

// FindSession fails or passes on.
func (s Sessions) FindSession(ctx context.Context, id string) (*auth.Session, error) {
	if err := s.err("FindSession"); err != nil {
		return nil, err
	}
	return s.SessionStore.FindSession(ctx, id)
}

// UpdateSession fails or passes on.
func (s Sessions) UpdateSession(ctx context.Context, x *auth.Session) error {
	if err := s.err("UpdateSession"); err != nil {
		return err
	}
	return s.SessionStore.UpdateSession(ctx, x)
}

// DeleteSession fails or passes on.
func (s Sessions) DeleteSession(ctx context.Context, id string) error {
	if err := s.err("DeleteSession"); err != nil {
		return err
	}
	return s.SessionStore.DeleteSession(ctx, id)
}

// Audit is an auth.AuditLog that can fail.
type Audit struct {
	auth.AuditLog
	*Faults
}

var _ auth.AuditLog = Audit{}

// Audit fails or passes on.
func (a Audit) Audit(ctx context.Context, e auth.AuditEntry) error {
	if err := a.err("Audit"); err != nil {
		return err
	}
	return a.AuditLog.Audit(ctx, e)
}

// Sealer is an auth.Sealer whose Open can fail.
type Sealer struct {
	auth.Sealer
	*Faults
}

// Open fails or passes on.
func (s Sealer) Open(sealed, ad []byte) ([]byte, error) {
	if err := s.err("Open"); err != nil {
		return nil, err
	}
	return s.Sealer.Open(sealed, ad)
}
