package radius

import (
	"context"
	"errors"
	"testing"
)

// mapCache is a Redis stand-in for the service's own logic; the real cache is tested in
// radius/redis against Redis.
type mapCache struct {
	m    map[string]*Account
	gets int
}

func (c *mapCache) GetAccount(ctx context.Context, key string) (*Account, error) {
	c.gets++
	a, ok := c.m[key]
	switch {
	case !ok:
		return nil, ErrCacheMiss
	case a == nil:
		return nil, Errorf(ENOTFOUND, "no account")
	}
	cp := *a
	return &cp, nil
}

func (c *mapCache) SetAccount(ctx context.Context, key string, a *Account) error {
	if a != nil {
		cp := *a
		a = &cp
	}
	c.m[key] = a
	return nil
}

func (c *mapCache) DeleteAccounts(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		delete(c.m, k)
	}
	return nil
}

type mapStore struct {
	users map[string]*Account
	reads int
}

func (s *mapStore) FindAccountByUsername(ctx context.Context, u string) (*Account, error) {
	s.reads++
	if a, ok := s.users[u]; ok {
		cp := *a
		return &cp, nil
	}
	return nil, Errorf(ENOTFOUND, "user %q not found", u)
}

func (s *mapStore) FindAccountByMAC(ctx context.Context, mac string) (*Account, error) {
	s.reads++
	for _, a := range s.users {
		if a.MAC == mac {
			cp := *a
			return &cp, nil
		}
	}
	return nil, Errorf(ENOTFOUND, "mac %q not found", mac)
}

type rot13 struct{}

func (rot13) Open(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != '!' {
		return nil, errors.New("not sealed")
	}
	return b[1:], nil
}

func TestAccountsCacheThenStore(t *testing.T) {
	ctx := context.Background()
	cache := &mapCache{m: map[string]*Account{}}
	store := &mapStore{users: map[string]*Account{"alice": {ID: 1, Username: "alice", Password: []byte("!pw"), MAC: "AA:BB:CC:DD:EE:FF"}}}
	s := &Accounts{Cache: cache, Store: store, Opener: rot13{}}

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
	store.users["alice"].Password = []byte("!new")
	if err := s.Invalidate(ctx, "alice", "AA:BB:CC:DD:EE:FF"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.FindByUsername(ctx, "alice"); string(a.Password) != "new" {
		t.Fatalf("after invalidate: %q", a.Password)
	}
	store.users["carol"] = &Account{Username: "carol", Password: []byte("plain")}
	if _, err := s.FindByUsername(ctx, "carol"); err == nil || ErrorCode(err) != EINTERNAL {
		t.Fatalf("unopenable password: %v", err)
	}
}
