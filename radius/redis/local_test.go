package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// replica is one process's Cache and Live with the in-process layer on, over a shared
// Redis prefix.
type replica struct {
	c *Cache
	l *Live
}

// mustReplicas returns n replicas sharing one prefix, each with its layer subscribed.
func mustReplicas(t *testing.T, n int) ([]replica, *redis.Client) {
	t.Helper()
	rdb, prefix := radiustest.MustRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := make([]replica, n)
	for i := range out {
		c := New(rdb, prefix, Options{CodeKey: []byte("k"), RecordKey: []byte("r")})
		l := NewLive(rdb, prefix)
		c.Start()
		l.Start()
		t.Cleanup(c.Close)
		t.Cleanup(l.Close)
		c.StartLocal(ctx, nil)
		out[i] = replica{c, l}
	}
	for _, r := range out {
		waitFor(t, "the layer to subscribe", func() bool { return r.c.LocalStats().On })
	}
	return out, rdb
}

// waitFor polls cond every 5 ms for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustSeed caches a subscriber's account named user through c and returns its key.
func mustSeed(tb testing.TB, c *Cache, user string) string {
	tb.Helper()
	a := subscriberAccount()
	a.Username = user
	key := radius.AccountKey(user)
	if err := c.SetAccount(context.Background(), key, a, false); err != nil {
		tb.Fatal(err)
	}
	return key
}

// held reads user's auth through c and reports whether the layer answered it.
func held(t *testing.T, c *Cache, user string, now time.Time) bool {
	t.Helper()
	hits := c.LocalStats().Hits
	mustAuth(t, c, user, now)
	return c.LocalStats().Hits == hits+1
}

func mustAuth(t *testing.T, c *Cache, user string, now time.Time) AuthSnapshot {
	t.Helper()
	s, err := c.GetAuth(context.Background(), radius.AccountKey(user), user, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLocalHit: a second read of the same account is answered from memory, even when
// Redis changed behind the layer's back without a message (which no tollgate write does).
func TestLocalHit(t *testing.T) {
	ctx := context.Background()
	rs, rdb := mustReplicas(t, 1)
	c := rs[0].c
	mustSeed(t, c, "alice")
	now := time.Now()
	if s := mustAuth(t, c, "alice", now); s.Account == nil || s.Account.Username != "alice" {
		t.Fatalf("first read %+v", s)
	}
	hits := c.LocalStats().Hits
	// Redis loses the entry silently: the layer still answers (proof it did not ask).
	if err := rdb.Del(ctx, c.accountName(radius.AccountKey("alice"))).Err(); err != nil {
		t.Fatal(err)
	}
	s := mustAuth(t, c, "alice", now)
	if s.Account == nil || c.LocalStats().Hits != hits+1 {
		t.Fatalf("second read %+v, hits %d → %d", s, hits, c.LocalStats().Hits)
	}
	// The copy handed out is the caller's: changing it changes nothing held.
	s.Account.Password = []byte("opened")
	if s = mustAuth(t, c, "alice", now); string(s.Account.Password) == "opened" {
		t.Fatal("the layer handed out its own account")
	}
}

// TestLocalInvalidation: a change made through one replica reaches the other replica's
// layer by the message: an account invalidated, a usage fill, an accounting Start and
// Stop, the reaper's removal, and an erasure.
func TestLocalInvalidation(t *testing.T) {
	ctx := context.Background()
	rs, _ := mustReplicas(t, 2)
	a, b := rs[0], rs[1]
	key := mustSeed(t, a.c, "bob")
	now := time.Now()
	if s := mustAuth(t, b.c, "bob", now); s.Account == nil || s.UsageCached || s.Usage.Online != 0 {
		t.Fatalf("b's first read %+v", s)
	}
	if !held(t, b.c, "bob", now) {
		t.Fatal("b does not hold bob")
	}

	// A suspension through a: the account entry goes on b.
	if err := a.c.DeleteAccounts(ctx, key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to drop bob's account", func() bool { return !held(t, b.c, "bob", now) })
	suspended := *subscriberAccount()
	suspended.Username = "bob"
	suspended.Status = radius.StatusSuspended
	if err := a.c.SetAccount(ctx, key, &suspended, false); err != nil {
		t.Fatal(err)
	}
	if s := mustAuth(t, b.c, "bob", now); s.Account == nil || s.Account.Status != radius.StatusSuspended {
		t.Fatalf("b after the change %+v", s)
	}

	// A usage fill through a: b's "no usage" goes.
	if err := a.c.SetUsage(ctx, "bob", radius.Usage{Uptime: time.Hour, Bytes: 1000}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see bob's usage", func() bool {
		s := mustAuth(t, b.c, "bob", now)
		return s.UsageCached && s.Usage.Bytes == 1000
	})

	// A Start accounted through a: b counts the session and its usage.
	if _, ok := MustUpdate(t, a.l, record("bob", "s1", radius.AcctStart, now, 0, 0, 0)); !ok {
		t.Fatal("no usage hash")
	}
	waitFor(t, "b to count bob's session", func() bool { return mustAuth(t, b.c, "bob", now).Usage.Online == 1 })
	MustUpdate(t, a.l, record("bob", "s1", radius.AcctInterim, now.Add(time.Minute), 60, 400, 600))
	waitFor(t, "b to see the interim's bytes", func() bool { return mustAuth(t, b.c, "bob", now).Usage.Bytes == 2000 })
	// The held deadline is counted at the time asked: past it, the session is stale.
	if s := mustAuth(t, b.c, "bob", now.Add(time.Hour)); s.Usage.Online != 0 {
		t.Fatalf("an hour on, %d online", s.Usage.Online)
	}
	MustUpdate(t, a.l, record("bob", "s1", radius.AcctStop, now.Add(2*time.Minute), 120, 400, 600))
	waitFor(t, "b to see the Stop", func() bool { return mustAuth(t, b.c, "bob", now).Usage.Online == 0 })

	// The reaper's removal, then an erasure, through a.
	MustUpdate(t, a.l, record("bob", "s2", radius.AcctStart, now, 0, 0, 0))
	waitFor(t, "b to count s2", func() bool { return mustAuth(t, b.c, "bob", now).Usage.Online == 1 })
	if err := a.l.Remove(ctx, []radius.SessionKey{{NASID: 1, SessionID: "s2"}}, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see the reaper", func() bool { return mustAuth(t, b.c, "bob", now).Usage.Online == 0 })
	if err := a.l.Forget(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to forget bob's usage", func() bool { return !mustAuth(t, b.c, "bob", now).UsageCached })
}

// TestLocalRace: a fill whose round trip a message overtook is not kept.
func TestLocalRace(t *testing.T) {
	var l local
	l.init(10)
	l.on.Store(true)
	now := time.Now()
	snap := radius.AuthSnapshot{Account: &radius.Account{Username: "carol"}}
	st := l.stamp("n", "carol")
	l.drop(invalUser, "carol") // the message came while the fill was in flight
	l.put(st, "k", "n", "carol", snap, nil, now)
	if _, ok := l.get("k", "carol", now); ok {
		t.Fatal("a fill older than a message was kept")
	}
	st = l.stamp("n", "carol")
	l.flush()
	l.put(st, "k", "n", "carol", snap, nil, now)
	if _, ok := l.get("k", "carol", now); ok {
		t.Fatal("a fill older than a flush was kept")
	}
	st = l.stamp("n", "carol")
	l.put(st, "k", "n", "carol", snap, nil, now)
	if _, ok := l.get("k", "carol", now); !ok {
		t.Fatal("a clean fill was not kept")
	}
	if _, ok := l.get("k", "carol", now.Add(localTTL)); ok {
		t.Fatal("an entry outlived its TTL")
	}
	// The bound holds: 10 entries over 64 shards is one per shard.
	for i := range 1000 {
		u := "u" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		l.put(l.stamp(u, u), u, u, u, snap, nil, now)
	}
	for i := range l.shards {
		if n := len(l.shards[i].accounts); n > l.max {
			t.Fatalf("shard %d holds %d > %d", i, n, l.max)
		}
	}
}

// TestLocalResubscribe: when the subscription is cut, the layer empties itself and is
// off, then on again once the subscription is made again; a change made while it was
// cut is seen.
func TestLocalResubscribe(t *testing.T) {
	ctx := context.Background()
	base, prefix := radiustest.MustRedis(t)
	// A client of its own, named, so that only its subscription is cut.
	opt := *base.Options()
	opt.ClientName = radiustest.RandomName("local")
	rdb := redis.NewClient(&opt)
	t.Cleanup(func() { rdb.Close() })
	c := New(rdb, prefix, Options{})
	c.Start()
	t.Cleanup(c.Close)
	lctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	c.StartLocal(lctx, nil)
	waitFor(t, "the layer to subscribe", func() bool { return c.LocalStats().On })
	mustSeed(t, c, "dave")
	now := time.Now()
	mustAuth(t, c, "dave", now)
	if !held(t, c, "dave", now) {
		t.Fatal("not held")
	}
	// Cut the subscription's connection.
	list, err := base.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if f["name"] == opt.ClientName && f["sub"] != "0" {
			if err := base.Do(ctx, "CLIENT", "KILL", "ID", f["id"]).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscriptions", killed)
	}
	// While cut, Redis changes without a message reaching this process.
	if err := rdb.Del(ctx, c.accountName(radius.AccountKey("dave"))).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the layer to see dave's entry gone", func() bool {
		s, err := c.GetAuth(ctx, radius.AccountKey("dave"), "dave", now)
		return err == nil && s.Account == nil
	})
	waitFor(t, "the layer to come back", func() bool { return c.LocalStats().On })
}

// TestLocalBulkInvalidation: a change naming more entries than one message carries (an
// import) empties every layer with one short message.
func TestLocalBulkInvalidation(t *testing.T) {
	ctx := context.Background()
	rs, _ := mustReplicas(t, 2)
	a, b := rs[0], rs[1]
	mustSeed(t, a.c, "gail")
	now := time.Now()
	mustAuth(t, b.c, "gail", now)
	if !held(t, b.c, "gail", now) {
		t.Fatal("b does not hold gail")
	}
	keys := make([]string, maxInvalLines+1)
	for i := range keys {
		keys[i] = radius.AccountKey("bulk" + strconv.Itoa(i)) // gail is not among them
	}
	if err := a.c.DeleteAccounts(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to empty its layer", func() bool { return !held(t, b.c, "gail", now) })
}

// TestLocalGetAccount: accounting's account reads (GetAccount) are answered from the
// layer too, and dropped by another replica's invalidation.
func TestLocalGetAccount(t *testing.T) {
	ctx := context.Background()
	rs, rdb := mustReplicas(t, 2)
	a, b := rs[0], rs[1]
	key := mustSeed(t, a.c, "hana")
	if got, err := b.c.GetAccount(ctx, key); err != nil || got.Username != "hana" {
		t.Fatalf("first read %+v, %v", got, err)
	}
	if err := rdb.Del(ctx, b.c.accountName(key)).Err(); err != nil { // silently, no message
		t.Fatal(err)
	}
	if got, ok, err := b.c.GetAccountLocal(key); !ok || err != nil || got.Username != "hana" {
		t.Fatalf("not held: %+v, %v, %v", got, ok, err)
	}
	if err := a.c.DeleteAccounts(ctx, key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to drop hana", func() bool { _, ok, _ := b.c.GetAccountLocal(key); return !ok })
	// A remembered absence is held too, briefly.
	if _, err := b.c.GetAccount(ctx, radius.AccountKey("nobody")); radius.ErrorCode(err) != radius.ENOTFOUND && !errors.Is(err, radius.ErrCacheMiss) {
		t.Fatal(err)
	}
}

// BenchmarkGetAuthLocal: an Access-Request's read answered from the in-process layer.
func BenchmarkGetAuthLocal(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := radiustest.MustRedis(b)
	c := New(rdb, prefix, Options{})
	c.Start()
	b.Cleanup(c.Close)
	b.Cleanup(c.StartLocal(ctx, nil))
	for deadline := time.Now().Add(2 * time.Second); !c.LocalStats().On; {
		if time.Now().After(deadline) {
			b.Fatal("the layer did not subscribe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	key := mustSeed(b, c, "ivy")
	now := time.Now()
	if _, err := c.GetAuth(ctx, key, "ivy", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := c.GetAuthLocal(key, "ivy", now); !ok {
			b.Fatal("not held")
		}
	}
}
