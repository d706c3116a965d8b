package redis

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

// MustAllTTL fails unless every key under the client's prefix matching pattern has a
// TTL, and at least one key matches.
func MustAllTTL(tb testing.TB, rdb *redis.Client, pattern string) {
	tb.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err != nil {
		tb.Fatal(err)
	}
	if len(keys) == 0 {
		tb.Fatalf("no key matches %s", pattern)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			tb.Fatal(err)
		}
		if ttl <= 0 {
			tb.Fatalf("key %s has TTL %v", k, ttl)
		}
	}
}

func TestLiveUpdate(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			c, l, rdb := MustStores(t, m.batched)
			t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
			if err := c.SetUsage(ctx, "alice", radius.Usage{Uptime: time.Hour, Bytes: 1_000_000}, 0); err != nil {
				t.Fatal(err)
			}
			at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
			steps := []struct {
				name   string
				r      *radius.AcctRecord
				uptime time.Duration // added to the hour
				bytes  int64         // added to the million
				online int
			}{
				{"start", record("alice", "s1", radius.AcctStart, at(0), 0, 0, 0), 0, 0, 1},
				{"interim", record("alice", "s1", radius.AcctInterim, at(60), 60, 1000, 2000), 60 * time.Second, 3000, 1},
				{"duplicate interim", record("alice", "s1", radius.AcctInterim, at(60), 60, 1000, 2000), 60 * time.Second, 3000, 1},
				{"late lower interim", record("alice", "s1", radius.AcctInterim, at(30), 30, 500, 500), 60 * time.Second, 3000, 1},
				{"lower time higher bytes", record("alice", "s1", radius.AcctInterim, at(61), 59, 1000, 2500), 60 * time.Second, 3500, 1},
				{"second session", record("alice", "s2", radius.AcctStart, at(70), 0, 0, 0), 60 * time.Second, 3500, 2},
				{"interim 2", record("alice", "s1", radius.AcctInterim, at(120), 120, 4000, 4000), 120 * time.Second, 8000, 2},
				{"replayed start", record("alice", "s1", radius.AcctStart, at(0), 0, 0, 0), 120 * time.Second, 8000, 2},
				{"stop", record("alice", "s1", radius.AcctStop, at(150), 150, 5000, 5000), 150 * time.Second, 10000, 1},
				{"duplicate stop", record("alice", "s1", radius.AcctStop, at(150), 150, 5000, 5000), 150 * time.Second, 10000, 1},
				{"interim after stop", record("alice", "s1", radius.AcctInterim, at(120), 120, 4000, 4000), 150 * time.Second, 10000, 1},
				{"start replayed after stop", record("alice", "s1", radius.AcctStart, at(0), 0, 0, 0), 150 * time.Second, 10000, 1},
				{"stop 2", record("alice", "s2", radius.AcctStop, at(200), 130, 10, 0), 280 * time.Second, 10010, 0},
				// The NAS rebooted and gave a new session an old id.
				{"id reused", record("alice", "s1", radius.AcctStart, at(300), 0, 0, 0), 280 * time.Second, 10010, 1},
				{"id reused interim", record("alice", "s1", radius.AcctInterim, at(360), 60, 7, 3), 340 * time.Second, 10020, 1},
			}
			for _, st := range steps {
				u, ok := MustUpdate(t, l, st.r)
				want := radius.Usage{Uptime: time.Hour + st.uptime, Bytes: 1_000_000 + st.bytes, Online: st.online}
				if !ok || u != want {
					t.Fatalf("%s: usage = %+v, %v; want %+v, true", st.name, u, ok, want)
				}
				s, err := c.GetAuth(ctx, radius.AccountKey("alice"), "alice", st.r.EventTime)
				if err != nil {
					t.Fatal(err)
				}
				want.Online = st.online
				if !s.UsageCached || s.Usage != want {
					t.Fatalf("%s: GetAuth usage = %+v, want %+v", st.name, s.Usage, want)
				}
			}
			MustAllTTL(t, rdb, string(l.keys)+"*")
			// A stop leaves a tombstone with a TTL, and the user's zset empties.
			MustUpdate(t, l, record("alice", "s1", radius.AcctStop, at(400), 100, 7, 3))
			MustTTL(t, rdb, l.keys.session("1:s1"), 10*time.Minute+liveMargin)
			if n, _ := rdb.Exists(ctx, l.keys.online("alice"), l.keys.nasOnline(1)).Result(); n != 0 {
				t.Fatalf("%d online zsets left after the last stop", n)
			}
		})
	}
}

// MustUsageGen returns the usage generation a reader of user's usage sees now.
func MustUsageGen(tb testing.TB, c *Cache, user string) int64 {
	tb.Helper()
	s, err := c.GetAuth(context.Background(), radius.AccountKey(user), user, time.Now())
	if err != nil || s.UsageCached {
		tb.Fatalf("usage of %s: %+v, %v", user, s, err)
	}
	return s.UsageGen
}

func TestLiveUpdateWithoutUsage(t *testing.T) {
	ctx := context.Background()
	c, l, rdb := MustStores(t, true)
	now := time.Now()
	for _, r := range []*radius.AcctRecord{
		record("bob", "s1", radius.AcctStart, now, 0, 0, 0),
		record("bob", "s1", radius.AcctInterim, now.Add(time.Minute), 60, 100, 100),
	} {
		u, ok := MustUpdate(t, l, r)
		if ok || u != (radius.Usage{Online: 1}) {
			t.Fatalf("%s: usage = %+v, %v; want only Online 1, false", r.Status, u, ok)
		}
	}
	// The usage hash stays absent, for the reader to fill from Postgres.
	if n, _ := rdb.Exists(ctx, c.keys.usage("bob")).Result(); n != 0 {
		t.Fatal("Update created the usage hash")
	}
	// Postgres holds both records; the next one adds only its growth.
	if err := c.SetUsage(ctx, "bob", radius.Usage{Uptime: time.Minute, Bytes: 200}, MustUsageGen(t, c, "bob")); err != nil {
		t.Fatal(err)
	}
	u, ok := MustUpdate(t, l, record("bob", "s1", radius.AcctStop, now.Add(2*time.Minute), 90, 150, 150))
	if want := (radius.Usage{Uptime: 90 * time.Second, Bytes: 300}); !ok || u != want {
		t.Fatalf("stop: usage = %+v, %v; want %+v, true", u, ok, want)
	}
	MustTTL(t, rdb, c.keys.usage("bob"), 10*time.Minute)
}

func TestLiveUpdateInvalid(t *testing.T) {
	_, l, _ := MustStores(t, false)
	r := record("alice", "s1", radius.AcctAccountingOn, time.Now(), 0, 0, 0)
	if _, _, _, err := l.Update(context.Background(), r, time.Minute); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
}

func TestLiveDeadline(t *testing.T) {
	ctx := context.Background()
	c, l, _ := MustStores(t, false)
	now := time.Now()
	MustUpdate(t, l, record("carol", "old", radius.AcctInterim, now.Add(-11*time.Minute), 60, 0, 0))
	u, _ := MustUpdate(t, l, record("carol", "new", radius.AcctInterim, now.Add(-9*time.Minute), 60, 0, 0))
	if u.Online != 2 { // as of the record's own event time, both count
		t.Fatalf("Update online = %d, want 2", u.Online)
	}
	for _, tt := range []struct {
		at   time.Time
		want int
	}{
		{now.Add(-2 * time.Minute), 2},
		{now.Add(-time.Minute), 2}, // a deadline exactly at now counts
		{now.Add(-time.Minute + time.Second), 1},
		{now, 1},
		{now.Add(time.Minute + time.Second), 0},
	} {
		s, err := c.GetAuth(ctx, radius.AccountKey("carol"), "carol", tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if s.Usage.Online != tt.want {
			t.Errorf("online at now%+v = %d, want %d", tt.at.Sub(now).Round(time.Second), s.Usage.Online, tt.want)
		}
		live, err := l.Online(ctx, "carol", tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != tt.want {
			t.Errorf("Online at now%+v = %d sessions, want %d", tt.at.Sub(now).Round(time.Second), len(live), tt.want)
		}
	}
}

func TestLiveOnline(t *testing.T) {
	ctx := context.Background()
	_, l, _ := MustStores(t, false)
	now := time.Now().Truncate(time.Second)
	r := record("dave", "81a0:0001", radius.AcctStart, now, 0, 0, 0)
	r.NASID = 7
	r.FramedIP = netip.MustParseAddr("2001:db8::5")
	MustUpdate(t, l, r)
	// An interim without IP or MAC keeps those the start gave.
	r2 := record("dave", "81a0:0001", radius.AcctInterim, now.Add(time.Minute), 60, 1, 1)
	r2.NASID, r2.FramedIP, r2.MAC = 7, netip.Addr{}, ""
	MustUpdate(t, l, r2)
	got, err := l.Online(ctx, "dave", now)
	if err != nil {
		t.Fatal(err)
	}
	want := []radius.LiveSession{{
		Key:      radius.SessionKey{NASID: 7, SessionID: "81a0:0001"},
		Username: "dave",
		FramedIP: netip.MustParseAddr("2001:db8::5"),
		MAC:      "AA:BB:CC:DD:EE:01",
		Deadline: now.Add(11 * time.Minute),
	}}
	MustEqualSessions(t, got, want)
	if got, err := l.Online(ctx, "nobody", now); err != nil || len(got) != 0 {
		t.Fatalf("Online(nobody) = %v, %v", got, err)
	}
}

// MustEqualSessions fails unless got and want hold the same sessions in the same order.
func MustEqualSessions(tb testing.TB, got, want []radius.LiveSession) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("sessions = %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Key != w.Key || g.Username != w.Username || g.FramedIP != w.FramedIP || g.MAC != w.MAC || !g.Deadline.Equal(w.Deadline) {
			tb.Fatalf("session %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLiveCloseNAS(t *testing.T) {
	ctx := context.Background()
	c, l, rdb := MustStores(t, false)
	now := time.Now().Truncate(time.Second)
	on := func(nas int64, user, sid string) *radius.AcctRecord {
		r := record(user, sid, radius.AcctStart, now, 0, 0, 0)
		r.NASID = nas
		return r
	}
	MustUpdate(t, l, on(1, "erin", "a"))
	MustUpdate(t, l, on(1, "frank", "b"))
	MustUpdate(t, l, on(2, "erin", "a")) // the same id on another NAS

	got, err := l.CloseNAS(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(user, sid string) radius.LiveSession {
		return radius.LiveSession{
			Key: radius.SessionKey{NASID: 1, SessionID: sid}, Username: user,
			FramedIP: netip.MustParseAddr("10.0.0.9"), MAC: "AA:BB:CC:DD:EE:01", Deadline: now.Add(10 * time.Minute),
		}
	}
	MustEqualSessions(t, got, []radius.LiveSession{mk("erin", "a"), mk("frank", "b")})

	erin, err := l.Online(ctx, "erin", now)
	if err != nil || len(erin) != 1 || erin[0].Key.NASID != 2 {
		t.Fatalf("erin online after CloseNAS(1) = %+v, %v; want only NAS 2", erin, err)
	}
	s, err := c.GetAuth(ctx, radius.AccountKey("frank"), "frank", now)
	if err != nil || s.Usage.Online != 0 {
		t.Fatalf("frank online = %d, %v", s.Usage.Online, err)
	}
	if n, _ := rdb.Exists(ctx, l.keys.session("1:a"), l.keys.session("1:b"), l.keys.nasOnline(1)).Result(); n != 0 {
		t.Fatalf("%d keys of NAS 1 left", n)
	}
	if got, err := l.CloseNAS(ctx, 1); err != nil || len(got) != 0 {
		t.Fatalf("second CloseNAS = %+v, %v", got, err)
	}
	// After the reboot the NAS reuses the id: a new session with new counters.
	if err := c.SetUsage(ctx, "erin", radius.Usage{}, MustUsageGen(t, c, "erin")); err != nil {
		t.Fatal(err)
	}
	r := on(1, "erin", "a")
	r.Status, r.SessionTime, r.InputOctets = radius.AcctInterim, 30, 10
	if u, _ := MustUpdate(t, l, r); u.Online != 2 || u.Uptime != 30*time.Second || u.Bytes != 10 {
		t.Fatalf("reused id after CloseNAS: usage = %+v", u)
	}
}

func TestLiveRemove(t *testing.T) {
	ctx := context.Background()
	c, l, rdb := MustStores(t, false)
	now := time.Now()
	MustUpdate(t, l, record("gina", "a", radius.AcctStart, now, 0, 0, 0))
	MustUpdate(t, l, record("gina", "b", radius.AcctStart, now, 0, 0, 0))
	MustUpdate(t, l, record("hank", "c", radius.AcctStart, now, 0, 0, 0))
	keys := []radius.SessionKey{{NASID: 1, SessionID: "a"}, {NASID: 1, SessionID: "c"}, {NASID: 9, SessionID: "gone"}}
	if err := l.Remove(ctx, keys, []string{"gina", "hank", "ivan"}); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]int{"gina": 1, "hank": 0} {
		s, err := c.GetAuth(ctx, radius.AccountKey(user), user, now)
		if err != nil || s.Usage.Online != want {
			t.Fatalf("%s online = %d, %v; want %d", user, s.Usage.Online, err, want)
		}
	}
	// The hashes stay, marked, as the base of a reopening; with a TTL.
	for _, m := range []string{"1:a", "1:c", "9:gone"} {
		if v, err := rdb.HGet(ctx, l.keys.session(m), fieldReaped).Result(); err != nil || v != "1" {
			t.Fatalf("session %s: reaped = %q, %v", m, v, err)
		}
		MustTTL(t, rdb, l.keys.session(m), reapedTTL)
	}
	if n, _ := rdb.ZCard(ctx, l.keys.nasOnline(1)).Result(); n != 1 {
		t.Fatalf("NAS 1 has %d sessions, want 1", n)
	}
	if err := l.Remove(ctx, keys, []string{"gina"}); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("mismatched lengths: err = %v, want EINVALID", err)
	}
	if err := l.Remove(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestLiveReapedReopens: a session the reaper removed is reopened by a later
// Interim-Update (back in the online zsets) and completed by a Stop, and its usage is
// counted once: what it had before the reap plus its growth since.
func TestLiveReapedReopens(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			c, l, rdb := MustStores(t, m.batched)
			t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
			at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
			if err := c.SetUsage(ctx, "jo", radius.Usage{}, 0); err != nil {
				t.Fatal(err)
			}
			online := func(t *testing.T, want int) {
				t.Helper()
				live, err := l.Online(ctx, "jo", at(0))
				if err != nil || len(live) != want {
					t.Fatalf("online = %+v, %v; want %d sessions", live, err, want)
				}
				if n, _ := rdb.ZCard(ctx, l.keys.nasOnline(1)).Result(); n != int64(want) {
					t.Fatalf("NAS zset holds %d, want %d", n, want)
				}
			}
			usage := func(t *testing.T, u radius.Usage, uptime time.Duration, bytes int64) {
				t.Helper()
				if u.Uptime != uptime || u.Bytes != bytes {
					t.Fatalf("usage = %+v, want %v and %d bytes", u, uptime, bytes)
				}
				s, err := c.GetAuth(ctx, radius.AccountKey("jo"), "jo", at(0))
				if err != nil || s.Usage.Uptime != uptime || s.Usage.Bytes != bytes {
					t.Fatalf("GetAuth usage = %+v, %v; want %v and %d bytes", s.Usage, err, uptime, bytes)
				}
			}
			reap := func(t *testing.T, sid string) {
				t.Helper()
				if err := l.Remove(ctx, []radius.SessionKey{{NASID: 1, SessionID: sid}}, []string{"jo"}); err != nil {
					t.Fatal(err)
				}
			}

			MustUpdate(t, l, record("jo", "r", radius.AcctStart, at(0), 0, 0, 0))
			MustUpdate(t, l, record("jo", "r", radius.AcctInterim, at(10), 600, 1000, 2000))
			reap(t, "r")
			online(t, 0)

			t.Run("a replayed interim does not reopen", func(t *testing.T) {
				u, _ := MustUpdate(t, l, record("jo", "r", radius.AcctInterim, at(10), 600, 1000, 2000))
				usage(t, u, 600*time.Second, 3000)
				online(t, 0)
			})
			t.Run("reap then interim reopens", func(t *testing.T) {
				r := record("jo", "r", radius.AcctInterim, at(70), 4200, 5000, 6000)
				r.NASAddr = netip.MustParseAddr("10.20.0.7")
				u, ok := MustUpdate(t, l, r)
				if !ok || u.Online != 1 {
					t.Fatalf("reopening interim: %+v, %v", u, ok)
				}
				// usage before the reap plus the growth since, not the whole session again
				usage(t, u, 4200*time.Second, 11000)
				online(t, 1)
				live, _ := l.Online(ctx, "jo", at(0))
				if live[0].NASAddr != r.NASAddr {
					t.Fatalf("live session's router = %v, want %v", live[0].NASAddr, r.NASAddr)
				}
				if n, _ := rdb.HExists(ctx, l.keys.session("1:r"), fieldReaped).Result(); n {
					t.Fatal("the reaped mark stayed on a reopened session")
				}
			})
			t.Run("reap then stop completes", func(t *testing.T) {
				reap(t, "r")
				u, _ := MustUpdate(t, l, record("jo", "r", radius.AcctStop, at(80), 4800, 6000, 6000))
				usage(t, u, 4800*time.Second, 12000)
				online(t, 0)
				// Stopped for good: a later interim changes nothing.
				u, _ = MustUpdate(t, l, record("jo", "r", radius.AcctInterim, at(90), 5400, 9000, 9000))
				usage(t, u, 4800*time.Second, 12000)
				online(t, 0)
			})
			t.Run("real stop then interim changes nothing", func(t *testing.T) {
				MustUpdate(t, l, record("jo", "s", radius.AcctStart, at(0), 0, 0, 0))
				MustUpdate(t, l, record("jo", "s", radius.AcctStop, at(5), 300, 100, 100))
				u, _ := MustUpdate(t, l, record("jo", "s", radius.AcctInterim, at(10), 600, 500, 500))
				usage(t, u, 5100*time.Second, 12200)
				online(t, 0)
			})
		})
	}
}

// TestLiveNoScript runs a script Redis has never seen through the batching loop: its
// EVALSHA fails with NOSCRIPT, as after a Redis restart, and the request is retried.
func TestLiveNoScript(t *testing.T) {
	_, l, _ := MustStores(t, true)
	q := newRequest(opEval)
	q.script = redis.NewScript(fmt.Sprintf("return %d", time.Now().UnixNano()))
	if err := l.b.do(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if _, err := q.eval.Int64(); err != nil {
		t.Fatalf("script not reloaded: %v", err)
	}
}

func TestLiveConcurrent(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			c, l, rdb := MustStores(t, m.batched)
			const workers, users, interims = 64, 8, 20
			for u := range users {
				if err := c.SetUsage(ctx, "user"+strconv.Itoa(u), radius.Usage{}, 0); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			errs := make(chan error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					user, sid := "user"+strconv.Itoa(w%users), "s"+strconv.Itoa(w)
					for i := 0; i <= interims+1; i++ {
						status := radius.AcctInterim
						switch i {
						case 0:
							status = radius.AcctStart
						case interims + 1:
							status = radius.AcctStop
						}
						r := record(user, sid, status, start.Add(time.Duration(i)*time.Second), uint32(i*10), uint64(i*1000+w), uint64(i*500))
						// Every record twice, as a NAS retransmits.
						for range 2 {
							if _, _, _, err := l.Update(ctx, r, 10*time.Minute); err != nil {
								errs <- err
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for u := range users {
				var want radius.Usage
				for w := u; w < workers; w += users {
					want.Uptime += (interims + 1) * 10 * time.Second
					want.Bytes += int64((interims+1)*1500 + w)
				}
				user := "user" + strconv.Itoa(u)
				s, err := c.GetAuth(ctx, radius.AccountKey(user), user, start)
				if err != nil {
					t.Fatal(err)
				}
				if s.Usage != want {
					t.Errorf("%s: usage = %+v, want %+v", user, s.Usage, want)
				}
			}
			MustAllTTL(t, rdb, string(l.keys)+"*")
		})
	}
}

func BenchmarkUpdate(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			ctx := context.Background()
			c, l, _ := MustStores(b, m.batched)
			const users = 1000
			for u := range users {
				if err := c.SetUsage(ctx, "user"+strconv.Itoa(u), radius.Usage{}, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			var next atomic.Int64
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				w := int(next.Add(1))
				r := record("user"+strconv.Itoa(w%users), "bench"+strconv.Itoa(w), radius.AcctInterim, start, 0, 0, 0)
				for i := 0; pb.Next(); i++ {
					r.EventTime = start.Add(time.Duration(i) * time.Second)
					r.SessionTime, r.InputOctets = uint32(i), uint64(i)*1000
					if _, _, _, err := l.Update(ctx, r, 10*time.Minute); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkGetAuth(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			ctx := context.Background()
			c, l, _ := MustStores(b, m.batched)
			const accounts = 1000
			keys, users := make([]string, accounts), make([]string, accounts)
			now := time.Now()
			for i := range keys {
				a := fullAccount()
				a.Username = "user" + strconv.Itoa(i)
				users[i] = a.Username
				keys[i] = radius.AccountKey(a.Username)
				if err := c.SetAccount(ctx, keys[i], a, false); err != nil {
					b.Fatal(err)
				}
				if err := c.SetUsage(ctx, a.Username, radius.Usage{Uptime: time.Hour, Bytes: 1 << 30}, 0); err != nil {
					b.Fatal(err)
				}
				MustUpdate(b, l, record(a.Username, "s", radius.AcctStart, now, 0, 0, 0))
			}
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1))
				for pb.Next() {
					i = (i + 7) % accounts
					s, err := c.GetAuth(ctx, keys[i], users[i], now)
					if err != nil || s.Account == nil || s.Usage.Online != 1 {
						b.Errorf("GetAuth: %+v, %v", s, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auths/s")
		})
	}
}
