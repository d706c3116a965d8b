package radius

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// mapCache is a Redis stand-in for the service's own logic; the real cache is tested in
// radius/redis against Redis. fail makes every call fail; hang makes it wait for ctx.
type mapCache struct {
	mu    sync.Mutex
	m     map[string]*Account
	short map[string]bool
	usage map[string]Usage
	gets  int
	fail  error
	hang  bool
}

func newMapCache() *mapCache {
	return &mapCache{m: map[string]*Account{}, short: map[string]bool{}, usage: map[string]Usage{}}
}

// name maps a key as the Redis cache does: AccountKey(u) and CodeKey(hash of u) name one
// entry.
func name(key string) string {
	if u, ok := strings.CutPrefix(key, "u:"); ok {
		return CodeKey(shaHasher{}.Hash(HashVoucherCode, []byte(u)))
	}
	return key
}

func (c *mapCache) broken(ctx context.Context) error {
	if c.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return c.fail
}

func (c *mapCache) GetAccount(ctx context.Context, key string) (*Account, error) {
	if err := c.broken(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	a, ok := c.m[name(key)]
	switch {
	case !ok:
		return nil, ErrCacheMiss
	case a == nil:
		return nil, Errorf(ENOTFOUND, "no account")
	}
	cp := *a
	return &cp, nil
}

func (c *mapCache) SetAccount(ctx context.Context, key string, a *Account, short bool) error {
	if err := c.broken(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a != nil {
		cp := *a
		a = &cp
	}
	c.m[name(key)], c.short[name(key)] = a, short
	return nil
}

func (c *mapCache) DeleteAccounts(ctx context.Context, keys ...string) error {
	if err := c.broken(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.m, name(k))
	}
	return nil
}

func (c *mapCache) GetAuth(ctx context.Context, key, username string, now time.Time) (AuthSnapshot, error) {
	a, err := c.GetAccount(ctx, key)
	if err != nil && !errors.Is(err, ErrCacheMiss) && ErrorCode(err) != ENOTFOUND {
		return AuthSnapshot{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.usage[username]
	return AuthSnapshot{Account: a, AccountErr: err, Usage: u, UsageCached: ok}, nil
}

func (c *mapCache) SetUsage(ctx context.Context, username string, u Usage, _ int64) error {
	if err := c.broken(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.usage[username] = u
	return nil
}

type mapStore struct {
	mu     sync.Mutex
	users  map[string]*Account
	codes  map[string]*Account // by string(code hash)
	reads  int
	usage  Usage
	online int
}

func (s *mapStore) FindAccountByUsername(ctx context.Context, u string, codeHash []byte) (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if a, ok := s.users[u]; ok {
		cp := *a
		return &cp, nil
	}
	if a, ok := s.codes[string(codeHash)]; ok && codeHash != nil {
		cp := *a
		return &cp, nil
	}
	return nil, Errorf(ENOTFOUND, "user %q not found", u)
}

func (s *mapStore) FindAccountByMAC(ctx context.Context, mac string) (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	for _, a := range s.users {
		if a.MAC == mac && a.MACLogin {
			cp := *a
			return &cp, nil
		}
	}
	return nil, Errorf(ENOTFOUND, "mac %q not found", mac)
}

func (s *mapStore) FindUsage(ctx context.Context, username string, since time.Time) (Usage, error) {
	return s.usage, nil
}

func (s *mapStore) CountOnline(ctx context.Context, username string) (int, error) {
	return s.online, nil
}

// boundOpener opens "!" + plain only for the place the value was sealed for: the store
// fakes keep the place in Account.Password after the "!" and a "|".
type boundOpener struct{}

func sealFor(plain string, col SealedColumn, id int64) []byte {
	return append([]byte("!"+plain+"|"), col.AD(id)...)
}

func (boundOpener) Open(b, ad []byte) ([]byte, error) {
	i := bytes.IndexByte(b, '|')
	if len(b) == 0 || b[0] != '!' || i < 0 || !bytes.Equal(b[i+1:], ad) {
		return nil, errors.New("not sealed for this place")
	}
	return b[1:i], nil
}

// shaHasher is a Hasher for tests (the real one is keyed: radius/seal).
type shaHasher struct{}

func (shaHasher) Hash(purpose string, data []byte) []byte {
	h := sha256.Sum256(append([]byte(purpose+":"), data...))
	return h[:]
}

func TestAccountsCacheThenStore(t *testing.T) {
	ctx := context.Background()
	cache := newMapCache()
	store := &mapStore{users: map[string]*Account{"alice": {ID: 1, Username: "alice", Password: sealFor("pw", SealSubscriberPassword, 1), MAC: "AA:BB:CC:DD:EE:FF", MACLogin: true}}}
	s := &Accounts{Cache: cache, Store: store, Opener: boundOpener{}}

	for i := 0; i < 3; i++ {
		a, err := s.FindByUsername(ctx, "alice")
		if err != nil || string(a.Password) != "pw" {
			t.Fatalf("find %d: %+v, %v", i, a, err)
		}
	}
	if store.reads != 1 {
		t.Fatalf("store read %d times, want once (then the cache)", store.reads)
	}
	if _, err := s.FindByUsername(ctx, "bob"); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("bob: %v", err)
	}
	if _, err := s.FindByUsername(ctx, "bob"); ErrorCode(err) != ENOTFOUND || store.reads != 2 {
		t.Fatalf("negative entry not used: reads %d, %v", store.reads, err)
	}
	if a, err := s.FindByMAC(ctx, "AA:BB:CC:DD:EE:FF"); err != nil || a.Username != "alice" {
		t.Fatalf("by mac: %+v %v", a, err)
	}
	store.users["alice"].Password = sealFor("new", SealSubscriberPassword, 1)
	if err := s.Invalidate(ctx, "alice", "AA:BB:CC:DD:EE:FF"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.FindByUsername(ctx, "alice"); string(a.Password) != "new" {
		t.Fatalf("after invalidate: %q", a.Password)
	}
	// A password sealed for another row (copied from alice onto carol) does not open.
	store.users["carol"] = &Account{ID: 3, Username: "carol", Password: sealFor("new", SealSubscriberPassword, 1)}
	if _, err := s.FindByUsername(ctx, "carol"); err == nil || ErrorCode(err) != EINTERNAL {
		t.Fatalf("password sealed for another row: %v", err)
	}
	// A voucher's password is bound to the voucher's row, not a subscriber's.
	store.users["voucher-9"] = &Account{ID: 9, VoucherID: 9, Username: "voucher-9", Password: sealFor("CODE", SealSubscriberPassword, 9)}
	if _, err := s.FindByUsername(ctx, "voucher-9"); ErrorCode(err) != EINTERNAL {
		t.Fatalf("voucher password sealed as a subscriber's: %v", err)
	}
}

// TestAccountsVoucherCode: a voucher is found by the hash of its code as typed (any case),
// cached under the code's key for long only when it is typed as stored, and its usage is
// read under its own account name.
func TestAccountsVoucherCode(t *testing.T) {
	ctx := context.Background()
	cache := newMapCache()
	h := shaHasher{}.Hash(HashVoucherCode, []byte("K7PQ4MQ2"))
	v := &Account{ID: 5, VoucherID: 5, Username: "voucher-5", Password: sealFor("K7PQ4MQ2", SealVoucherPassword, 5), CodeHash: h, UptimeLimit: time.Hour}
	store := &mapStore{users: map[string]*Account{}, codes: map[string]*Account{string(h): v}, usage: Usage{Uptime: time.Minute}}
	s := &Accounts{Cache: cache, Store: store, Opener: boundOpener{}, Codes: shaHasher{}, Auth: cache, Usage: store}
	cache.usage["voucher-5"] = Usage{Uptime: 10 * time.Minute, Online: 1}

	a, u, err := s.Authorize(ctx, "K7PQ4MQ2")
	if err != nil || a.Username != "voucher-5" || string(a.Password) != "K7PQ4MQ2" {
		t.Fatalf("Authorize(code) = %+v, %v", a, err)
	}
	if u.Uptime != 10*time.Minute || u.Online != 1 {
		t.Fatalf("usage = %+v, want the cached usage of voucher-5", u)
	}
	if short := cache.short[name(AccountKey("K7PQ4MQ2"))]; short {
		t.Fatal("the code as stored was cached briefly; its entry can be dropped by CodeKey")
	}
	if _, _, err := s.Authorize(ctx, " k7pq4mq2 "); err != nil {
		t.Fatalf("Authorize(code in lower case) = %v", err)
	}
	if !cache.short[name(AccountKey(" k7pq4mq2 "))] {
		t.Fatal("a code typed in another form was cached for long: no invalidation names its key")
	}
}

// TestAccountsCacheDown: while the cache fails, accounts, usage and online counts come
// from the store, the cache is skipped for CacheRetry, and it is used again afterwards.
func TestAccountsCacheDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		hang bool
	}{{"refused", false}, {"hung", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cache := newMapCache()
			acct := &Account{ID: 1, Username: "alice", Password: sealFor("pw", SealSubscriberPassword, 1), SharedUsers: 1, DataLimit: 1 << 20}
			store := &mapStore{users: map[string]*Account{"alice": acct}, usage: Usage{Bytes: 100}, online: 1}
			s := &Accounts{Cache: cache, Store: store, Opener: boundOpener{}, Auth: cache, Usage: store, Online: store,
				CacheTimeout: 20 * time.Millisecond, CacheRetry: time.Hour}
			cache.fail, cache.hang = errors.New("connection refused"), tc.hang

			a, u, err := s.Authorize(ctx, "alice")
			if err != nil || string(a.Password) != "pw" {
				t.Fatalf("Authorize with the cache down = %+v, %v", a, err)
			}
			if u.Bytes != 100 || u.Online != 1 {
				t.Fatalf("usage with the cache down = %+v, want the store's (100 bytes, 1 online)", u)
			}
			if s.CacheFailures() != 1 {
				t.Fatalf("cache failures = %d, want 1", s.CacheFailures())
			}
			// Within CacheRetry the cache is not asked again: no second failure, no wait.
			if _, _, err := s.Authorize(ctx, "alice"); err != nil || s.CacheFailures() != 1 {
				t.Fatalf("second Authorize: %v, failures %d", err, s.CacheFailures())
			}
			if _, err := s.FindByUsername(ctx, "alice"); err != nil {
				t.Fatalf("FindByUsername with the cache down: %v", err)
			}
			// The cache is back and the retry time over: it is read (and filled) again.
			cache.fail, cache.hang = nil, false
			s.cacheDownUntil.Store(time.Now().Add(-time.Second).UnixNano())
			reads := store.reads
			for i := 0; i < 3; i++ {
				if _, _, err := s.Authorize(ctx, "alice"); err != nil {
					t.Fatal(err)
				}
			}
			if store.reads != reads+1 {
				t.Fatalf("store reads after recovery = %d, want %d (one miss, then the cache)", store.reads, reads+1)
			}
		})
	}
}

// TestAccountsCacheBack: once the cache answers again after it failed, what it holds is
// not trusted until CacheBack has run (an invalidation may have failed meanwhile): a
// stale entry is not used, not even by the request that found the cache back; reads go
// to the store while CacheBack runs, and again for CacheRetry when it fails; after it
// succeeded the cache is read and filled again.
func TestAccountsCacheBack(t *testing.T) {
	ctx := context.Background()
	cache := newMapCache()
	suspended := &Account{ID: 1, Username: "alice", Password: sealFor("pw", SealSubscriberPassword, 1), Status: StatusSuspended}
	store := &mapStore{users: map[string]*Account{"alice": suspended}}
	// The cache still holds alice as she was before her suspension, whose invalidation
	// failed while the cache was down.
	stale := *suspended
	stale.Status = StatusActive
	if err := cache.SetAccount(ctx, AccountKey("alice"), &stale, false); err != nil {
		t.Fatal(err)
	}
	calls, results := make(chan struct{}, 2), make(chan error)
	s := &Accounts{Cache: cache, Store: store, Opener: boundOpener{}, Auth: cache, Usage: store, Online: store,
		CacheRetry: time.Hour,
		CacheBack: func(ctx context.Context) error {
			calls <- struct{}{}
			err := <-results
			if err == nil {
				cache.mu.Lock()
				clear(cache.m)
				cache.mu.Unlock()
			}
			return err
		}}
	authorize := func(t *testing.T) {
		t.Helper()
		a, _, err := s.Authorize(ctx, "alice")
		if err != nil || a.Status != StatusSuspended {
			t.Fatalf("Authorize = %+v, %v; want alice suspended", a, err)
		}
	}
	waitState := func(t *testing.T, what string, ok func(until int64) bool) {
		t.Helper()
		for range 500 {
			if ok(s.cacheDownUntil.Load()) {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("%s: cacheDownUntil = %d", what, s.cacheDownUntil.Load())
	}
	back := func(t *testing.T) {
		t.Helper()
		s.cacheDownUntil.Store(time.Now().Add(-time.Second).UnixNano()) // CacheRetry over
		authorize(t)
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatal("CacheBack not called")
		}
	}

	cache.fail = errors.New("connection refused")
	authorize(t)
	cache.fail = nil

	back(t)
	reads, gets := store.reads, cache.gets
	authorize(t) // CacheBack still runs: the store answers, the cache is not asked
	if store.reads != reads+1 || cache.gets != gets {
		t.Fatalf("while CacheBack runs: store reads %d → %d, cache gets %d → %d", reads, store.reads, gets, cache.gets)
	}
	results <- errors.New("redis: drop: i/o timeout")
	waitState(t, "CacheBack failed", func(u int64) bool { return u != cacheCatchingUp })
	gets = cache.gets
	authorize(t) // skipped for CacheRetry again
	if cache.gets != gets {
		t.Fatal("the cache was read after CacheBack failed")
	}

	back(t) // the next answer runs CacheBack again
	results <- nil
	waitState(t, "CacheBack done", func(u int64) bool { return u == 0 })
	reads = store.reads
	for range 3 {
		authorize(t) // a miss, filled from the store, then hits
	}
	if store.reads != reads+1 {
		t.Fatalf("store reads after CacheBack = %d, want %d", store.reads, reads+1)
	}
	select {
	case <-calls:
		t.Fatal("CacheBack ran without a new failure")
	default:
	}
}
