package radius

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrCacheMiss is returned by an AccountCache that holds nothing for a key.
var ErrCacheMiss = errors.New("cache miss")

// AccountStore is the source of truth for accounts (Postgres).
type AccountStore interface {
	// FindAccountByUsername returns the account with the sealed password. ENOTFOUND.
	FindAccountByUsername(ctx context.Context, username string) (*Account, error)
	// FindAccountByMAC returns the account bound to mac (normalized). ENOTFOUND.
	FindAccountByMAC(ctx context.Context, mac string) (*Account, error)
}

// AccountCache keeps accounts (password sealed) between requests (Redis). Keys are
// AccountKey or MACKey values.
type AccountCache interface {
	// GetAccount returns the cached account, an ENOTFOUND error when the cache
	// remembers that no such account exists, or ErrCacheMiss.
	GetAccount(ctx context.Context, key string) (*Account, error)
	// SetAccount caches a (nil for "no such account").
	SetAccount(ctx context.Context, key string, a *Account) error
	// DeleteAccounts drops keys, so the next read goes to the store.
	DeleteAccounts(ctx context.Context, keys ...string) error
}

// Opener opens sealed secrets.
type Opener interface {
	Open(sealed []byte) ([]byte, error)
}

// AccountKey is the cache key of an account found by username.
func AccountKey(username string) string { return "u:" + username }

// MACKey is the cache key of an account found by bound MAC.
func MACKey(mac string) string { return "m:" + mac }

// AuthSnapshot is what one round trip to the cache returns for an Access-Request: the
// account and the user's usage and online count.
type AuthSnapshot struct {
	Account *Account
	// AccountErr is nil, ErrCacheMiss, or an ENOTFOUND error for a remembered absence.
	AccountErr error
	// Usage holds Online always, and Uptime and Bytes when UsageCached.
	Usage       Usage
	UsageCached bool
}

// AuthCache is the RADIUS path's single-round-trip read (Redis).
type AuthCache interface {
	// GetAuth reads the account under key and username's usage and online count at now.
	// The error is for cache failures only.
	GetAuth(ctx context.Context, key, username string, now time.Time) (AuthSnapshot, error)
	UsageCache
}

// Accounts reads accounts for the RADIUS path: the cache first (one round trip), the
// store once on a miss, then fills the cache. Postgres is never read on a hit.
type Accounts struct {
	Cache  AccountCache
	Store  AccountStore
	Opener Opener
	// Auth and Usage, when set, let Authorize return usage and the online count too.
	Auth  AuthCache
	Usage UsageStore
	// Activator, when set, lets Activate activate vouchers at their first login.
	Activator Activator
	Now       func() time.Time
}

// Authorize returns the account of username with its password opened, and its usage
// (uptime and bytes since its validity began, and sessions online now), in one cache
// round trip when everything is cached. ENOTFOUND.
func (s *Accounts) Authorize(ctx context.Context, username string) (*Account, Usage, error) {
	if s.Auth == nil {
		a, err := s.FindByUsername(ctx, username)
		return a, Usage{}, err
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	key := AccountKey(username)
	snap, err := s.Auth.GetAuth(ctx, key, username, now)
	if err != nil {
		return nil, Usage{}, err
	}
	a, err := snap.Account, snap.AccountErr
	if errors.Is(err, ErrCacheMiss) {
		a, err = s.load(ctx, key, username, s.Store.FindAccountByUsername)
	}
	if err != nil {
		return nil, Usage{}, err
	}
	if a, err = s.open(a); err != nil {
		return nil, Usage{}, err
	}
	u, err := s.usage(ctx, a, snap)
	return a, u, err
}

// AuthorizeMAC is Authorize for a hotspot MAC login: the account bound to mac.
func (s *Accounts) AuthorizeMAC(ctx context.Context, mac string) (*Account, Usage, error) {
	a, err := s.FindByMAC(ctx, mac)
	if err != nil || s.Auth == nil {
		return a, Usage{}, err
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	snap, err := s.Auth.GetAuth(ctx, AccountKey(a.Username), a.Username, now)
	if err != nil {
		return nil, Usage{}, err
	}
	u, err := s.usage(ctx, a, snap)
	return a, u, err
}

// usage completes the snapshot's usage from the store when it was not cached and the
// account has limits that need it.
func (s *Accounts) usage(ctx context.Context, a *Account, snap AuthSnapshot) (Usage, error) {
	u := snap.Usage
	if snap.UsageCached || (a.UptimeLimit == 0 && a.DataLimit == 0) || s.Usage == nil {
		return u, nil
	}
	pu, err := s.Usage.FindUsage(ctx, a.Username, a.ValidFrom)
	if err != nil {
		return u, err
	}
	u.Uptime, u.Bytes = pu.Uptime, pu.Bytes
	_ = s.Auth.SetUsage(ctx, a.Username, u) // a failed fill costs the next request a store read
	return u, nil
}

// FindByUsername returns the account with its password opened. ENOTFOUND.
func (s *Accounts) FindByUsername(ctx context.Context, username string) (*Account, error) {
	return s.find(ctx, AccountKey(username), username, s.Store.FindAccountByUsername)
}

// FindByMAC returns the account bound to mac (normalized) with its password opened. ENOTFOUND.
func (s *Accounts) FindByMAC(ctx context.Context, mac string) (*Account, error) {
	return s.find(ctx, MACKey(mac), mac, s.Store.FindAccountByMAC)
}

func (s *Accounts) find(ctx context.Context, key, arg string, load func(context.Context, string) (*Account, error)) (*Account, error) {
	a, err := s.Cache.GetAccount(ctx, key)
	if errors.Is(err, ErrCacheMiss) {
		a, err = s.load(ctx, key, arg, load)
	}
	if err != nil {
		return nil, err // ENOTFOUND (maybe remembered by the cache), or a failure
	}
	return s.open(a)
}

// load reads the store after a cache miss and fills the cache, remembering absence too.
func (s *Accounts) load(ctx context.Context, key, arg string, load func(context.Context, string) (*Account, error)) (*Account, error) {
	a, err := load(ctx, arg)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		_ = s.Cache.SetAccount(ctx, key, nil)
		return nil, err
	case err != nil:
		return nil, err
	}
	// A failed fill only costs the next request a store read.
	_ = s.Cache.SetAccount(ctx, key, a)
	return a, nil
}

// open opens the sealed password in place.
func (s *Accounts) open(a *Account) (*Account, error) {
	pw, err := s.Opener.Open(a.Password)
	if err != nil {
		return nil, fmt.Errorf("open password of %q: %w", a.Username, err)
	}
	a.Password = pw
	return a, nil
}

// Invalidate drops the cached entries of an account, after any change to it or its plan.
func (s *Accounts) Invalidate(ctx context.Context, username, mac string) error {
	keys := []string{AccountKey(username)}
	if mac != "" {
		keys = append(keys, MACKey(mac))
	}
	return s.Cache.DeleteAccounts(ctx, keys...)
}

// NASStore lists the configured NASes (with sealed secrets) for the in-memory snapshot.
type NASStore interface {
	ListNAS(ctx context.Context) ([]NAS, error)
}

// AuthLogEntry is one authorization decision, written in batches off the reply path.
type AuthLogEntry struct {
	At       int64 // unix nanoseconds, so the hot path does not keep a time.Time
	NASID    int64
	Username string
	MAC      string
	Method   Method
	Reason   Reason
}

// AuthLogger takes decisions for the auth log. Log must not block.
type AuthLogger interface {
	Log(e AuthLogEntry)
}
