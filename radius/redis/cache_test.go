package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
)

// MustCache returns a Cache on the test Redis, its client, and whether its batching
// loops run; it is closed when the test ends.
func MustCache(tb testing.TB, batched bool) (*Cache, *redis.Client) {
	tb.Helper()
	rdb, prefix := radiustest.MustRedis(tb)
	c := New(rdb, prefix, Options{})
	if batched {
		c.Start()
	}
	tb.Cleanup(c.Close)
	return c, rdb
}

var modes = []struct {
	name    string
	batched bool
}{{"direct", false}, {"batched", true}}

func TestCache(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			c, rdb := MustCache(t, m.batched)
			want := fullAccount()
			key := radius.AccountKey("alice")

			if _, err := c.GetAccount(ctx, key); !errors.Is(err, radius.ErrCacheMiss) {
				t.Fatalf("get before set: err = %v, want ErrCacheMiss", err)
			}
			if err := c.SetAccount(ctx, key, want, false); err != nil {
				t.Fatal(err)
			}
			got, err := c.GetAccount(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			MustEqualAccount(t, got, want)
			MustTTL(t, rdb, c.accountName(key), time.Hour)

			nk := radius.MACKey("AA:BB:CC:DD:EE:00")
			if err := c.SetAccount(ctx, nk, nil, false); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetAccount(ctx, nk); radius.ErrorCode(err) != radius.ENOTFOUND {
				t.Fatalf("negative entry: err = %v, want ENOTFOUND", err)
			}
			MustTTL(t, rdb, c.accountName(nk), 10*time.Second)

			if err := c.DeleteAccounts(ctx, key, nk, "u:nobody"); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{key, nk} {
				if _, err := c.GetAccount(ctx, k); !errors.Is(err, radius.ErrCacheMiss) {
					t.Fatalf("get %s after delete: err = %v, want ErrCacheMiss", k, err)
				}
			}
			if err := c.DeleteAccounts(ctx); err != nil {
				t.Fatalf("delete nothing: %v", err)
			}

			// A value from a newer release, or garbage, reads as a miss so it is refilled.
			forged := c.Forged()
			if err := rdb.Set(ctx, c.accountName("u:bad"), "\x09garbage", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetAccount(ctx, "u:bad"); !errors.Is(err, radius.ErrCacheMiss) {
				t.Fatalf("undecodable: err = %v, want ErrCacheMiss", err)
			}
			if c.Forged() != forged+1 {
				t.Fatalf("forged = %d, want %d", c.Forged(), forged+1)
			}
		})
	}
}

// TestCacheTamper: a Redis writer without the server key cannot change what the RADIUS
// path reads: an edited value, a value copied from another entry, one the old unsigned
// format wrote and a forged negative marker all read as misses (refilled from Postgres),
// and each is counted; a value the cache wrote, written back after its expiry (a replay
// of an entry from before a suspension), is a miss too.
func TestCacheTamper(t *testing.T) {
	ctx := context.Background()
	c, rdb := MustCache(t, false)
	alice, bob := fullAccount(), fullAccount()
	bob.ID, bob.Username, bob.Status = 2, "bob", radius.StatusSuspended
	for _, a := range []*radius.Account{alice, bob} {
		if err := c.SetAccount(ctx, radius.AccountKey(a.Username), a, false); err != nil {
			t.Fatal(err)
		}
	}
	aliceName, bobName := c.accountName(radius.AccountKey("alice")), c.accountName(radius.AccountKey("bob"))
	bobVal, err := rdb.Get(ctx, bobName).Result()
	if err != nil {
		t.Fatal(err)
	}
	aliceVal, err := rdb.Get(ctx, aliceName).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Flip bob's status "suspended" to "active"-like bytes: any edit breaks the tag.
	edited := []byte(bobVal)
	i := strings.Index(bobVal, "suspended")
	copy(edited[i:], "activexxx")
	untagged := appendAccount(nil, alice) // the right bytes, but no tag
	otherKey := c.sealValue("elsewhere", appendAccount(nil, alice), time.Now().Add(time.Hour))
	// A value the cache wrote once, kept by whoever could read Redis, and written back
	// (without a TTL) after it expired: after a suspension, alice as she was before.
	replayed := c.sealValue(aliceName, appendAccount(nil, alice), time.Now().Add(-time.Second))
	for _, tc := range []struct {
		name, key, val string
	}{
		{"edited status", bobName, string(edited)},
		{"copied from another entry", bobName, aliceVal},
		{"untagged", aliceName, string(untagged)},
		{"tagged for another key", aliceName, string(otherKey)},
		{"forged negative marker", aliceName, string([]byte{formatNone})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := rdb.Set(ctx, tc.key, tc.val, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			forged := c.Forged()
			user := "bob"
			if tc.key == aliceName {
				user = "alice"
			}
			if a, err := c.GetAccount(ctx, radius.AccountKey(user)); !errors.Is(err, radius.ErrCacheMiss) {
				t.Fatalf("GetAccount = %+v, %v; want a miss", a, err)
			}
			snap, err := c.GetAuth(ctx, radius.AccountKey(user), user, time.Now())
			if err != nil || !errors.Is(snap.AccountErr, radius.ErrCacheMiss) {
				t.Fatalf("GetAuth = %+v, %v; want a miss", snap, err)
			}
			if c.Forged() != forged+2 {
				t.Fatalf("forged = %d, want %d", c.Forged(), forged+2)
			}
		})
	}
	// Authentic but past their expiry, or written by the previous format: misses, not
	// counted as forgeries.
	var sum [32]byte
	legacyNone := append([]byte{formatNone}, c.tags.sum(sum[:0], aliceName, string([]byte{formatNone}))[:tagSize]...)
	for _, tc := range []struct{ name, val string }{
		{"replayed after its expiry", string(replayed)},
		{"negative marker of the previous format", string(legacyNone)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := rdb.Set(ctx, aliceName, tc.val, 0).Err(); err != nil {
				t.Fatal(err)
			}
			forged := c.Forged()
			if a, err := c.GetAccount(ctx, radius.AccountKey("alice")); !errors.Is(err, radius.ErrCacheMiss) {
				t.Fatalf("GetAccount = %+v, %v; want a miss", a, err)
			}
			if snap, err := c.GetAuth(ctx, radius.AccountKey("alice"), "alice", time.Now()); err != nil || !errors.Is(snap.AccountErr, radius.ErrCacheMiss) {
				t.Fatalf("GetAuth = %+v, %v; want a miss", snap, err)
			}
			if c.Forged() != forged {
				t.Fatalf("forged = %d, want %d", c.Forged(), forged)
			}
		})
	}
	// The same value before its expiry is read.
	if err := rdb.Set(ctx, aliceName, c.sealValue(aliceName, appendAccount(nil, alice), time.Now().Add(time.Minute)), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if a, err := c.GetAccount(ctx, radius.AccountKey("alice")); err != nil || a.Username != "alice" {
		t.Fatalf("GetAccount of a live value = %+v, %v", a, err)
	}
}

// TestCacheKeyNames: no user name, code or MAC appears in a Redis key; a voucher's entry
// cached under its code is named by the code's hash too (CodeKey), so it can be dropped
// without the code; a short entry gets the short TTL.
func TestCacheKeyNames(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := radiustest.MustRedis(t)
	s, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c := New(rdb, prefix, Options{CodeKey: s.Key(radius.HashVoucherCode), RecordKey: s.Key("cache record")})
	v := fullAccount()
	v.Username, v.VoucherID = "voucher-77", 77
	for _, k := range []string{radius.AccountKey("K7PQ4MQ2"), radius.AccountKey("alice"), radius.MACKey("AA:BB:CC:DD:EE:FF")} {
		if err := c.SetAccount(ctx, k, v, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetAccount(ctx, radius.AccountKey("k7pq4mq2"), v, true); err != nil {
		t.Fatal(err)
	}
	MustTTL(t, rdb, c.accountName(radius.AccountKey("k7pq4mq2")), 10*time.Second)
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		for _, secret := range []string{"K7PQ4MQ2", "k7pq4mq2", "alice", "AA:BB", "voucher-77"} {
			if strings.Contains(k, secret) {
				t.Fatalf("key %q holds %q", k, secret)
			}
		}
	}
	h := s.Hash(radius.HashVoucherCode, []byte("K7PQ4MQ2"))
	if c.accountName(radius.CodeKey(h)) != c.accountName(radius.AccountKey("K7PQ4MQ2")) {
		t.Fatal("CodeKey(hash of the code) names another entry than AccountKey(code)")
	}
	if err := c.DeleteAccounts(ctx, radius.CodeKey(h)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccount(ctx, radius.AccountKey("K7PQ4MQ2")); !errors.Is(err, radius.ErrCacheMiss) {
		t.Fatalf("entry under the code after DeleteAccounts(CodeKey): %v", err)
	}
}

// MustTTL fails unless key has a TTL in (0, max].
func MustTTL(tb testing.TB, rdb *redis.Client, key string, max time.Duration) {
	tb.Helper()
	ttl, err := rdb.TTL(context.Background(), key).Result()
	if err != nil {
		tb.Fatal(err)
	}
	if ttl <= 0 || ttl > max {
		tb.Fatalf("TTL %s = %v, want (0, %v]", key, ttl, max)
	}
}

func TestCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	c, _ := MustCache(t, true)
	const accounts = 100
	for i := range accounts {
		a := fullAccount()
		a.ID, a.Username = int64(i), "user"+strconv.Itoa(i)
		if err := c.SetAccount(ctx, radius.AccountKey(a.Username), a, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetAccount(ctx, radius.AccountKey("gone"), nil, false); err != nil {
		t.Fatal(err)
	}
	const workers, gets = 64, 200
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range gets {
				n := (w*gets + i) % (accounts + 2)
				switch n {
				case accounts: // negative entry
					if _, err := c.GetAccount(ctx, radius.AccountKey("gone")); radius.ErrorCode(err) != radius.ENOTFOUND {
						errs <- fmt.Errorf("gone: err = %v", err)
						return
					}
				case accounts + 1: // missing
					if _, err := c.GetAccount(ctx, radius.AccountKey("missing")); !errors.Is(err, radius.ErrCacheMiss) {
						errs <- fmt.Errorf("missing: err = %v", err)
						return
					}
				default:
					a, err := c.GetAccount(ctx, radius.AccountKey("user"+strconv.Itoa(n)))
					if err != nil || a.ID != int64(n) || a.Username != "user"+strconv.Itoa(n) || a.RateLimit != "10M/20M" {
						errs <- fmt.Errorf("user%d: %+v, %v", n, a, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// MustSilentServer returns the address of a TCP server that accepts connections and
// never answers, and a func that closes it with its connections (also called when the
// test ends).
func MustSilentServer(tb testing.TB) (string, func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	stop := func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	tb.Cleanup(stop)
	return ln.Addr().String(), stop
}

func TestCacheContext(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		for _, m := range modes {
			t.Run(m.name, func(t *testing.T) {
				c, _ := MustCache(t, m.batched)
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if _, err := c.GetAccount(ctx, "u:alice"); !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
			})
		}
	})
	t.Run("deadline while waiting", func(t *testing.T) {
		addr, stop := MustSilentServer(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		t.Cleanup(func() { rdb.Close() })
		c := New(rdb, "t:", Options{})
		c.Start()
		t.Cleanup(c.Close)
		// Deferred calls run before cleanups: closing the server's connections ends
		// the loop's round trip, so that Close does not wait for the read timeout.
		defer stop()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.GetAccount(ctx, "u:alice")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("GetAccount returned after %v", d)
		}
	})
}

func TestCacheLifecycle(t *testing.T) {
	ctx := context.Background()
	c, _ := MustCache(t, false)
	if err := c.SetAccount(ctx, "u:alice", fullAccount(), false); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"new", "start", "start again", "close", "close again", "start after close"} {
		t.Run(step, func(t *testing.T) {
			switch step {
			case "start", "start again", "start after close":
				c.Start()
			case "close", "close again":
				c.Close()
			}
			if _, err := c.GetAccount(ctx, "u:alice"); err != nil {
				t.Fatalf("get: %v", err)
			}
		})
	}
}

func BenchmarkGetAccount(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			ctx := context.Background()
			c, _ := MustCache(b, m.batched)
			const accounts = 1000
			keys := make([]string, accounts)
			for i := range keys {
				a := fullAccount()
				a.Username = "user" + strconv.Itoa(i)
				keys[i] = radius.AccountKey(a.Username)
				if err := c.SetAccount(ctx, keys[i], a, false); err != nil {
					b.Fatal(err)
				}
			}
			// 64 requests in flight, as a busy RADIUS server has.
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			var next sync.Mutex
			n := 0
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				i := n
				n++
				next.Unlock()
				for pb.Next() {
					i = (i + 7) % accounts
					if _, err := c.GetAccount(ctx, keys[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestCacheDropAll: DropAll deletes the cached accounts, negative markers and usage
// hashes under its prefix (more than one SCAN batch of them), and nothing else: not the
// live session index, not another prefix's keys, not a key that only looks like one
// through a glob character in the prefix.
func TestCacheDropAll(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := radiustest.MustRedis(t)
	c := New(rdb, prefix+"[x]:", Options{})
	l := NewLive(rdb, prefix+"[x]:")
	other := New(rdb, prefix+"y:", Options{})
	lookalike := New(rdb, prefix+"x:", Options{}) // what "[x]:" would match unescaped
	const n = 1500
	for i := range n {
		if err := c.SetAccount(ctx, radius.AccountKey(fmt.Sprint("user", i)), subscriberAccount(), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetAccount(ctx, radius.MACKey("AA:BB:CC:DD:EE:00"), nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUsage(ctx, "user1", radius.Usage{Uptime: time.Minute, Bytes: 10}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := l.Update(ctx, record("user1", "S1", radius.AcctStart, time.Now(), 0, 0, 0), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Cache{other, lookalike} {
		if err := k.SetAccount(ctx, radius.AccountKey("user1"), subscriberAccount(), false); err != nil {
			t.Fatal(err)
		}
		if err := k.SetUsage(ctx, "user1", radius.Usage{Bytes: 1}, 0); err != nil {
			t.Fatal(err)
		}
	}

	dropped, err := c.DropAll(ctx)
	if err != nil || dropped != n+2 {
		t.Fatalf("DropAll = %d, %v; want %d", dropped, err, n+2)
	}
	if _, err := c.GetAccount(ctx, radius.AccountKey("user1")); !errors.Is(err, radius.ErrCacheMiss) {
		t.Fatalf("account after DropAll: %v, want a miss", err)
	}
	if _, err := c.GetAccount(ctx, radius.MACKey("AA:BB:CC:DD:EE:00")); !errors.Is(err, radius.ErrCacheMiss) {
		t.Fatalf("negative marker after DropAll: %v, want a miss", err)
	}
	if snap, err := c.GetAuth(ctx, radius.AccountKey("user1"), "user1", time.Now()); err != nil || snap.UsageCached || snap.Usage.Online != 1 {
		t.Fatalf("after DropAll: %+v, %v; want no usage and the live session kept", snap, err)
	}
	for _, k := range []*Cache{other, lookalike} {
		if _, err := k.GetAccount(ctx, radius.AccountKey("user1")); err != nil {
			t.Fatalf("another prefix's account dropped: %v", err)
		}
		if snap, err := k.GetAuth(ctx, radius.AccountKey("user1"), "user1", time.Now()); err != nil || !snap.UsageCached {
			t.Fatalf("another prefix's usage dropped: %+v, %v", snap, err)
		}
	}
	if dropped, err := c.DropAll(ctx); err != nil || dropped != 0 {
		t.Fatalf("second DropAll = %d, %v", dropped, err)
	}
}

// TestCacheDropAllLocal: DropAll also empties the in-process layer, so what the process
// read from Redis just before (the first answer after an outage) is not answered from
// memory afterwards.
func TestCacheDropAllLocal(t *testing.T) {
	ctx := context.Background()
	rs, _ := mustReplicas(t, 1)
	c := rs[0].c
	if err := c.SetAccount(ctx, radius.AccountKey("alice"), subscriberAccount(), false); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mustAuth(t, c, "alice", now)
	if _, ok := c.GetAuthLocal(radius.AccountKey("alice"), "alice", now); !ok {
		t.Fatal("the read was not kept in process")
	}
	if _, err := c.DropAll(ctx); err != nil {
		t.Fatal(err)
	}
	if s, ok := c.GetAuthLocal(radius.AccountKey("alice"), "alice", now); ok {
		t.Fatalf("after DropAll the layer still answers %+v", s)
	}
}
