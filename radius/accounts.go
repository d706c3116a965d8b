package radius

import (
	"context"
	"errors"
	"fmt"
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

// Accounts reads accounts for the RADIUS path: the cache first (one round trip), the
// store once on a miss, then fills the cache. Postgres is never read on a hit.
type Accounts struct {
	Cache  AccountCache
	Store  AccountStore
	Opener Opener
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
	if err != nil {
		if !errors.Is(err, ErrCacheMiss) {
			return nil, err // ENOTFOUND from a negative entry, or a cache failure
		}
		a, err = load(ctx, arg)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			_ = s.Cache.SetAccount(ctx, key, nil)
			return nil, err
		case err != nil:
			return nil, err
		}
		// A failed fill only costs the next request a store read.
		_ = s.Cache.SetAccount(ctx, key, a)
	}
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
