package radiustest

import (
	"context"
	"sync"

	"tollgate/radius"
)

// Accounts is a function-field fake of the account lookups the RADIUS engine consumes
// (server.Accounts). A nil function field answers ENOTFOUND, so a test sets only the
// lookups it expects.
type Accounts struct {
	FindByUsernameFn func(ctx context.Context, username string) (*radius.Account, error)
	FindByMACFn      func(ctx context.Context, mac string) (*radius.Account, error)
	// UsageFn gives the usage Authorize returns; nil means none.
	UsageFn func(ctx context.Context, username string) (radius.Usage, error)
}

// Authorize is FindByUsername plus UsageFn.
func (a *Accounts) Authorize(ctx context.Context, username string) (*radius.Account, radius.Usage, error) {
	acct, err := a.FindByUsername(ctx, username)
	if err != nil {
		return nil, radius.Usage{}, err
	}
	return acct, a.usage(ctx, acct.Username), nil
}

// AuthorizeMAC is FindByMAC plus UsageFn.
func (a *Accounts) AuthorizeMAC(ctx context.Context, mac string) (*radius.Account, radius.Usage, error) {
	acct, err := a.FindByMAC(ctx, mac)
	if err != nil {
		return nil, radius.Usage{}, err
	}
	return acct, a.usage(ctx, acct.Username), nil
}

func (a *Accounts) usage(ctx context.Context, username string) radius.Usage {
	if a.UsageFn == nil {
		return radius.Usage{}
	}
	u, _ := a.UsageFn(ctx, username)
	return u
}

// FindByUsername calls FindByUsernameFn, or returns ENOTFOUND when it is nil.
func (a *Accounts) FindByUsername(ctx context.Context, username string) (*radius.Account, error) {
	if a.FindByUsernameFn == nil {
		return nil, radius.Errorf(radius.ENOTFOUND, "account %q not found", username)
	}
	return a.FindByUsernameFn(ctx, username)
}

// FindByMAC calls FindByMACFn, or returns ENOTFOUND when it is nil.
func (a *Accounts) FindByMAC(ctx context.Context, mac string) (*radius.Account, error) {
	if a.FindByMACFn == nil {
		return nil, radius.Errorf(radius.ENOTFOUND, "account with MAC %q not found", mac)
	}
	return a.FindByMACFn(ctx, mac)
}

// AuthLog is a fake radius.AuthLogger that records every entry under a mutex, so a
// test can read what the engine logged while the engine keeps running.
type AuthLog struct {
	mu      sync.Mutex
	entries []radius.AuthLogEntry
}

var _ radius.AuthLogger = (*AuthLog)(nil)

// Log records e. It never blocks for long, as the interface requires.
func (l *AuthLog) Log(e radius.AuthLogEntry) {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
}

// Entries returns a copy of the entries recorded so far, oldest first.
func (l *AuthLog) Entries() []radius.AuthLogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]radius.AuthLogEntry(nil), l.entries...)
}

// Reset forgets the recorded entries.
func (l *AuthLog) Reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}
