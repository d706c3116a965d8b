package radius

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// ErrCacheMiss is returned by an AccountCache that holds nothing for a key.
var ErrCacheMiss = errors.New("cache miss")

// AccountStore is the source of truth for accounts (Postgres).
type AccountStore interface {
	// FindAccountByUsername returns the subscriber called username, else the voucher that
	// logs in as username (a userpass voucher's name, or a voucher's account name), else
	// the voucher whose code hashes to codeHash (nil: none is looked up), with the sealed
	// password. ENOTFOUND.
	FindAccountByUsername(ctx context.Context, username string, codeHash []byte) (*Account, error)
	// FindAccountByMAC returns the subscriber on a hotspot plan bound to mac (normalized)
	// that may log in by MAC (Account.MACLogin). ENOTFOUND.
	FindAccountByMAC(ctx context.Context, mac string) (*Account, error)
}

// AccountCache keeps accounts (password sealed) between requests (Redis). Keys are
// AccountKey, MACKey or CodeKey values; the cache hashes them, authenticates what it
// stores with the server key and reads a value that fails the check as a miss.
type AccountCache interface {
	// GetAccount returns the cached account, an ENOTFOUND error when the cache
	// remembers that no such account exists, or ErrCacheMiss.
	GetAccount(ctx context.Context, key string) (*Account, error)
	// SetAccount caches a (nil for "no such account", kept briefly). short keeps a
	// found account briefly too (a key no invalidation names).
	SetAccount(ctx context.Context, key string, a *Account, short bool) error
	// DeleteAccounts drops keys, so the next read goes to the store.
	DeleteAccounts(ctx context.Context, keys ...string) error
}

// AccountKey is the cache key of an account found by username (or voucher code, as
// typed).
func AccountKey(username string) string { return "u:" + username }

// MACKey is the cache key of an account found by bound MAC (a MAC login).
func MACKey(mac string) string { return "m:" + mac }

// CodeKey is the cache key of a voucher found by its code, from the code's hash
// (HashVoucherCode): the cache maps it to the same entry as AccountKey(code) for the
// normalized code, so a voucher's entry can be dropped without its code in clear.
func CodeKey(codeHash []byte) string { return "h:" + string(codeHash) }

// AuthSnapshot is what one round trip to the cache returns for an Access-Request: the
// account and the user's usage and online count.
type AuthSnapshot struct {
	Account *Account
	// AccountErr is nil, ErrCacheMiss, or an ENOTFOUND error for a remembered absence.
	AccountErr error
	// Usage holds Online always, and Uptime and Bytes when UsageCached.
	Usage       Usage
	UsageCached bool
	// UsageGen is what UsageCache.SetUsage takes when the usage was not cached.
	UsageGen int64
}

// AuthCache is the RADIUS path's single-round-trip read (Redis).
type AuthCache interface {
	// GetAuth reads the account under key and username's usage and online count at now.
	// The error is for cache failures only.
	GetAuth(ctx context.Context, key, username string, now time.Time) (AuthSnapshot, error)
	UsageCache
}

// LocalAuthCache is an AuthCache that may answer from process memory: GetAuthLocal
// returns what GetAuth would, without a round trip, or false.
type LocalAuthCache interface {
	GetAuthLocal(key, username string, now time.Time) (AuthSnapshot, bool)
}

// LocalAccountCache is an AccountCache that may answer from process memory:
// GetAccountLocal returns what GetAccount would, without a round trip, or false.
type LocalAccountCache interface {
	GetAccountLocal(key string) (*Account, bool, error)
}

// OnlineCounter counts a user's open sessions in the source of truth (Postgres), for
// when the live index in the cache cannot be read.
type OnlineCounter interface {
	// CountOnline returns how many of username's sessions are open.
	CountOnline(ctx context.Context, username string) (int, error)
}

// Cache fallback defaults: each cache round trip gets a short deadline of its own so a
// hung Redis leaves time for Postgres inside the packet's deadline, and after a failure
// the cache is skipped for a while rather than costing every request that deadline.
const (
	defaultCacheTimeout = 150 * time.Millisecond
	defaultCacheRetry   = 2 * time.Second
)

// Accounts reads accounts for the RADIUS path: the cache first (one round trip), the
// store once on a miss, then fills the cache. Postgres is never read on a hit. When the
// cache fails (Redis down), it answers from the store alone until the cache works again.
type Accounts struct {
	Cache  AccountCache
	Store  AccountStore
	Opener Opener
	// Codes hashes voucher codes (HashVoucherCode) for store lookups; nil looks up no
	// code.
	Codes Hasher
	// Auth and Usage, when set, let Authorize return usage and the online count too.
	Auth  AuthCache
	Usage UsageStore
	// Online counts open sessions in the store when the cache is down (nil: the online
	// count is then 0).
	Online OnlineCounter
	// Activator, when set, lets Activate activate vouchers at their first login.
	Activator Activator
	Now       func() time.Time
	// CacheTimeout bounds one cache round trip (default 150ms); CacheRetry is how long
	// the cache is skipped after it failed (default 2s).
	CacheTimeout time.Duration
	CacheRetry   time.Duration
	// CacheBack, when set, runs (in a goroutine of its own) once the cache answers
	// again after it failed, and the cache is read again only after it returned nil:
	// while the cache was unreachable, invalidations may have failed (a suspension
	// saved in Postgres, a plan change) and accounting's additions to usage may have
	// been lost, so what it holds may be stale. serve drops the cached accounts and
	// usage there, and Postgres refills them. On an error the cache stays skipped for
	// CacheRetry, and the next answer runs CacheBack again.
	CacheBack func(ctx context.Context) error

	cacheDownUntil atomic.Int64 // unix nanoseconds; 0 while the cache works
	cacheFailures  atomic.Int64
	storeReads     atomic.Int64
}

// CacheFailures returns how many cache round trips failed (each one fell back to the
// store); StoreReads how many account reads went to the store.
func (s *Accounts) CacheFailures() int64 { return s.cacheFailures.Load() }

// StoreReads returns how many account reads went to the store (misses and fallbacks).
func (s *Accounts) StoreReads() int64 { return s.storeReads.Load() }

func (s *Accounts) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// cacheUp reports whether the cache is worth a round trip now.
func (s *Accounts) cacheUp() bool {
	until := s.cacheDownUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

// cacheFailed notes a failed cache round trip: the cache is skipped for CacheRetry. A
// cancelled or expired packet context is not the cache's fault.
func (s *Accounts) cacheFailed(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	s.cacheFailures.Add(1)
	s.skipCache()
}

// skipCache has the cache skipped for CacheRetry.
func (s *Accounts) skipCache() {
	d := s.CacheRetry
	if d <= 0 {
		d = defaultCacheRetry
	}
	s.cacheDownUntil.Store(time.Now().Add(d).UnixNano())
}

// errCacheCatchingUp is what a cache read returns while CacheBack runs.
var errCacheCatchingUp = errors.New("cache: catching up after an outage")

// cacheCatchingUp is cacheDownUntil while CacheBack runs: the cache is not read.
const cacheCatchingUp = math.MaxInt64

// cacheOK notes a cache that answered, and reports whether its answer may be used.
// After a failure it may not until CacheBack has run: the first answer starts it.
func (s *Accounts) cacheOK() bool {
	until := s.cacheDownUntil.Load()
	switch {
	case until == 0:
		return true
	case until == cacheCatchingUp:
		return false
	case s.CacheBack == nil:
		s.cacheDownUntil.CompareAndSwap(until, 0)
		return true
	case s.cacheDownUntil.CompareAndSwap(until, cacheCatchingUp):
		go s.catchUp()
	}
	return false
}

// catchUp runs CacheBack and uses the cache again when it succeeded.
func (s *Accounts) catchUp() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CacheBack(ctx); err != nil {
		s.skipCache()
		return
	}
	s.cacheDownUntil.CompareAndSwap(cacheCatchingUp, 0)
}

// cacheCtx returns ctx with the cache's own, shorter deadline.
func (s *Accounts) cacheCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.CacheTimeout
	if d <= 0 {
		d = defaultCacheTimeout
	}
	return context.WithTimeout(ctx, d)
}

// Authorize returns the account of username (a subscriber's name, a voucher's code or
// name) with its password opened, and its usage (uptime and bytes since its validity
// began, and sessions online now), in one cache round trip when everything is cached.
// ENOTFOUND.
func (s *Accounts) Authorize(ctx context.Context, username string) (*Account, Usage, error) {
	if s.Auth == nil {
		a, err := s.FindByUsername(ctx, username)
		return a, Usage{}, err
	}
	key := AccountKey(username)
	if !s.cacheUp() {
		return s.authorizeFromStore(ctx, username)
	}
	now := s.now()
	snap, err := s.getAuth(ctx, key, username, now)
	if err != nil {
		return s.authorizeFromStore(ctx, username)
	}
	a, err := snap.Account, snap.AccountErr
	if errors.Is(err, ErrCacheMiss) {
		a, err = s.load(ctx, key, username, s.findByUsername)
	}
	if err != nil {
		return nil, Usage{}, err
	}
	if a, err = s.open(a); err != nil {
		return nil, Usage{}, err
	}
	if a.Username != username {
		// A voucher's code (or a name typed in another case): usage and sessions are
		// kept under the account's own name.
		if snap, err = s.usageSnapshot(ctx, a.Username, now); err != nil {
			return a, s.storeUsage(ctx, a), nil
		}
	}
	u, err := s.usage(ctx, a, snap)
	return a, u, err
}

// getAuth reads the cache: from process memory when it can, else in one round trip
// with the cache's own deadline, noting the cache's health.
func (s *Accounts) getAuth(ctx context.Context, key, username string, now time.Time) (AuthSnapshot, error) {
	if l, ok := s.Auth.(LocalAuthCache); ok {
		if snap, ok := l.GetAuthLocal(key, username, now); ok {
			return snap, nil
		}
	}
	cctx, cancel := s.cacheCtx(ctx)
	snap, err := s.Auth.GetAuth(cctx, key, username, now)
	cancel()
	if err != nil {
		s.cacheFailed(ctx)
		return snap, err
	}
	if !s.cacheOK() {
		return snap, errCacheCatchingUp // the first answer after a failure: not trusted yet
	}
	return snap, nil
}

// AuthorizeMAC is Authorize for a hotspot MAC login: the account that may log in by the
// MAC mac (normalized).
func (s *Accounts) AuthorizeMAC(ctx context.Context, mac string) (*Account, Usage, error) {
	a, err := s.FindByMAC(ctx, mac)
	if err != nil || s.Auth == nil {
		return a, Usage{}, err
	}
	if !s.cacheUp() {
		return a, s.storeUsage(ctx, a), nil
	}
	snap, err := s.usageSnapshot(ctx, a.Username, s.now())
	if err != nil {
		return a, s.storeUsage(ctx, a), nil
	}
	u, err := s.usage(ctx, a, snap)
	return a, u, err
}

// usageSnapshot reads username's usage and online count from the cache.
func (s *Accounts) usageSnapshot(ctx context.Context, username string, now time.Time) (AuthSnapshot, error) {
	return s.getAuth(ctx, AccountKey(username), username, now)
}

// authorizeFromStore is Authorize with the cache down: the account, its usage and its
// online count all come from the store.
func (s *Accounts) authorizeFromStore(ctx context.Context, username string) (*Account, Usage, error) {
	s.storeReads.Add(1)
	a, err := s.findByUsername(ctx, username)
	if err != nil {
		return nil, Usage{}, err
	}
	if a, err = s.open(a); err != nil {
		return nil, Usage{}, err
	}
	return a, s.storeUsage(ctx, a), nil
}

// storeUsage reads a's usage and online count from the store, as far as a's limits need
// them. A failed read leaves them zero: the enforcement sweep re-checks open sessions
// against the store.
func (s *Accounts) storeUsage(ctx context.Context, a *Account) Usage {
	var u Usage
	if s.Usage != nil && (a.UptimeLimit > 0 || a.DataLimit > 0) {
		if pu, err := s.Usage.FindUsage(ctx, a.Username, a.ValidFrom); err == nil {
			u.Uptime, u.Bytes = pu.Uptime, pu.Bytes
		}
	}
	if s.Online != nil && a.SharedUsers > 0 {
		if n, err := s.Online.CountOnline(ctx, a.Username); err == nil {
			u.Online = n
		}
	}
	return u
}

// usage completes the snapshot's usage from the store when it was not cached and the
// account has limits that need it.
func (s *Accounts) usage(ctx context.Context, a *Account, snap AuthSnapshot) (Usage, error) {
	u := snap.Usage
	if snap.UsageCached || (a.UptimeLimit == 0 && a.DataLimit == 0) || s.Usage == nil {
		return u, nil
	}
	var pu Usage
	if a.StoreUsage != nil {
		pu = *a.StoreUsage // read with the account, after the snapshot: one query for a cold login
	} else {
		var err error
		if pu, err = s.Usage.FindUsage(ctx, a.Username, a.ValidFrom); err != nil {
			return u, err
		}
	}
	u.Uptime, u.Bytes = pu.Uptime, pu.Bytes
	// The fill does not hold up the answer: SetUsage refuses a fill that a record
	// overtook (the generation), so landing late is safe, and a failed fill costs the
	// next request a store read.
	go func(username string, gen int64) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Auth.SetUsage(ctx, username, u, gen)
	}(a.Username, snap.UsageGen)
	return u, nil
}

// FindByUsername returns the account with its password opened. ENOTFOUND.
func (s *Accounts) FindByUsername(ctx context.Context, username string) (*Account, error) {
	return s.find(ctx, AccountKey(username), username, s.findByUsername)
}

// FindByMAC returns the account that may log in by mac (normalized) with its password
// opened. ENOTFOUND.
func (s *Accounts) FindByMAC(ctx context.Context, mac string) (*Account, error) {
	return s.find(ctx, MACKey(mac), mac, s.Store.FindAccountByMAC)
}

// findByUsername reads the store by user name and by the hash of the name as a code.
func (s *Accounts) findByUsername(ctx context.Context, username string) (*Account, error) {
	var h []byte
	if s.Codes != nil {
		h = s.CodeHash(username)
	}
	return s.Store.FindAccountByUsername(ctx, username, h)
}

// CodeHash returns the keyed hash of a voucher code, as typed: what a voucher row stores
// and finds the voucher by. It needs Codes.
func (s *Accounts) CodeHash(code string) []byte {
	return s.Codes.Hash(HashVoucherCode, []byte(NormalizeCode(code)))
}

func (s *Accounts) find(ctx context.Context, key, arg string, load func(context.Context, string) (*Account, error)) (*Account, error) {
	if !s.cacheUp() {
		s.storeReads.Add(1)
		a, err := load(ctx, arg)
		if err != nil {
			return nil, err
		}
		return s.open(a)
	}
	if l, ok := s.Cache.(LocalAccountCache); ok {
		if a, ok, err := l.GetAccountLocal(key); ok {
			if err != nil {
				return nil, err // a remembered absence
			}
			return s.open(a)
		}
	}
	cctx, cancel := s.cacheCtx(ctx)
	a, err := s.Cache.GetAccount(cctx, key)
	cancel()
	switch {
	case errors.Is(err, ErrCacheMiss):
		s.cacheOK() // a fill is fresh, even while CacheBack runs
		a, err = s.load(ctx, key, arg, load)
	case err != nil && ErrorCode(err) != ENOTFOUND:
		s.cacheFailed(ctx)
		s.storeReads.Add(1)
		a, err = load(ctx, arg)
	case !s.cacheOK():
		s.storeReads.Add(1)
		a, err = load(ctx, arg)
	}
	if err != nil {
		return nil, err // ENOTFOUND (maybe remembered by the cache), or a failure
	}
	return s.open(a)
}

// load reads the store after a cache miss and fills the cache, remembering absence too.
// An account found under a key that no invalidation names (a voucher's code typed in
// another case) is cached briefly only.
func (s *Accounts) load(ctx context.Context, key, arg string, load func(context.Context, string) (*Account, error)) (*Account, error) {
	s.storeReads.Add(1)
	a, err := load(ctx, arg)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		_ = s.Cache.SetAccount(ctx, key, nil, true)
		return nil, err
	case err != nil:
		return nil, err
	}
	short := a.IsVoucher() && key != AccountKey(a.Username) && key != AccountKey(NormalizeCode(arg))
	// A failed fill only costs the next request a store read.
	_ = s.Cache.SetAccount(ctx, key, a, short)
	return a, nil
}

// open opens the sealed password in place; it is bound to the account's row.
func (s *Accounts) open(a *Account) (*Account, error) {
	col, id := a.PasswordColumn()
	pw, err := s.Opener.Open(a.Password, col.AD(id))
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
// Username is the account's own name when the request found one, and otherwise the name
// as sent, masked (MaskCode) when it could be a voucher code.
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
