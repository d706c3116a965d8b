package redis

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// MustStores returns a Cache and a Live sharing one prefix on the test Redis, and the
// client; both are closed when the test ends.
func MustStores(tb testing.TB, batched bool) (*Cache, *Live, *redis.Client) {
	tb.Helper()
	rdb, prefix := radiustest.MustRedis(tb)
	c := New(rdb, prefix, Options{})
	l := NewLive(rdb, prefix)
	if batched {
		c.Start()
		l.Start()
	}
	tb.Cleanup(c.Close)
	tb.Cleanup(l.Close)
	return c, l, rdb
}

// MustUpdate applies r with a 10-minute stale window and returns the usage and ok.
func MustUpdate(tb testing.TB, l *Live, r *radius.AcctRecord) (radius.Usage, bool) {
	tb.Helper()
	u, _, ok, err := l.Update(context.Background(), r, 10*time.Minute)
	if err != nil {
		tb.Fatalf("update %s %d/%s: %v", r.Status, r.NASID, r.SessionID, err)
	}
	return u, ok
}

// record returns an accounting record of user's session sid on NAS 1.
func record(user, sid string, status radius.AcctStatus, at time.Time, secs uint32, in, out uint64) *radius.AcctRecord {
	return &radius.AcctRecord{
		NASID: 1, SessionID: sid, Status: status, Username: user, EventTime: at,
		SessionTime: secs, InputOctets: in, OutputOctets: out,
		FramedIP: netip.MustParseAddr("10.0.0.9"), MAC: "AA:BB:CC:DD:EE:01", Interim: 300,
	}
}

func TestGetAuth(t *testing.T) {
	accounts := []string{"hit", "miss", "negative"}
	usages := []string{"usage", "no usage"}
	onlines := []string{"none online", "two online one stale"}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			c, l, _ := MustStores(t, m.batched)
			now := time.Now()
			for _, acct := range accounts {
				for _, usage := range usages {
					for _, online := range onlines {
						t.Run(acct+"/"+usage+"/"+online, func(t *testing.T) {
							user := acct + "-" + usage + "-" + online
							key := radius.AccountKey(user)
							want := fullAccount()
							want.Username = user
							switch acct {
							case "hit":
								if err := c.SetAccount(ctx, key, want, false); err != nil {
									t.Fatal(err)
								}
							case "negative":
								if err := c.SetAccount(ctx, key, nil, false); err != nil {
									t.Fatal(err)
								}
							}
							wantUsage := radius.Usage{}
							if usage == "usage" {
								wantUsage = radius.Usage{Uptime: 90 * time.Minute, Bytes: 5 << 30}
								if err := c.SetUsage(ctx, user, wantUsage, 0); err != nil {
									t.Fatal(err)
								}
							}
							if online != "none online" {
								MustUpdate(t, l, record(user, user+"a", radius.AcctStart, now, 0, 0, 0))
								MustUpdate(t, l, record(user, user+"b", radius.AcctInterim, now.Add(-time.Minute), 60, 10, 10))
								// Its deadline (an hour ago + 10m) is past: not counted.
								MustUpdate(t, l, record(user, user+"stale", radius.AcctInterim, now.Add(-time.Hour), 60, 0, 0))
								wantUsage.Online = 2
								if usage == "usage" { // the updates added to it
									wantUsage.Uptime += 2 * time.Minute
									wantUsage.Bytes += 20
								}
							}

							s, err := c.GetAuth(ctx, key, user, now)
							if err != nil {
								t.Fatal(err)
							}
							switch acct {
							case "hit":
								if s.AccountErr != nil {
									t.Fatalf("AccountErr = %v", s.AccountErr)
								}
								MustEqualAccount(t, s.Account, want)
							case "miss":
								if s.Account != nil || !errors.Is(s.AccountErr, radius.ErrCacheMiss) {
									t.Fatalf("account = %v, %v; want nil, ErrCacheMiss", s.Account, s.AccountErr)
								}
							case "negative":
								if s.Account != nil || radius.ErrorCode(s.AccountErr) != radius.ENOTFOUND {
									t.Fatalf("account = %v, %v; want nil, ENOTFOUND", s.Account, s.AccountErr)
								}
							}
							if s.UsageCached != (usage == "usage") {
								t.Fatalf("UsageCached = %v", s.UsageCached)
							}
							if s.Usage != wantUsage {
								t.Fatalf("Usage = %+v, want %+v", s.Usage, wantUsage)
							}
						})
					}
				}
			}
		})
	}
}

func TestGetAuthFailure(t *testing.T) {
	// A server that never answers: every read times out.
	addr, _ := MustSilentServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	c := New(rdb, "t:", Options{})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if m.batched {
				c.Start()
				t.Cleanup(c.Close)
			}
			if _, err := c.GetAuth(context.Background(), "u:alice", "alice", time.Now()); err == nil {
				t.Fatal("GetAuth with Redis down: nil error")
			}
		})
	}
}

func TestSetUsage(t *testing.T) {
	ctx := context.Background()
	c, _, rdb := MustStores(t, false)
	first := radius.Usage{Uptime: time.Hour + 1500*time.Millisecond, Bytes: 1000, Online: 3}
	if err := c.SetUsage(ctx, "alice", first, 0); err != nil {
		t.Fatal(err)
	}
	MustTTL(t, rdb, c.keys.usage("alice"), 10*time.Minute)
	// A second fill does not overwrite: accounting may have added to the first.
	if err := c.SetUsage(ctx, "alice", radius.Usage{Uptime: time.Minute, Bytes: 1}, 0); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetAuth(ctx, radius.AccountKey("alice"), "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Whole seconds, and Online is never stored.
	if want := (radius.Usage{Uptime: time.Hour + time.Second, Bytes: 1000}); !s.UsageCached || s.Usage != want {
		t.Fatalf("usage = %+v (cached %v), want %+v", s.Usage, s.UsageCached, want)
	}

	if err := c.SetUsage(ctx, "bob", radius.Usage{Bytes: 7}, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUsage(ctx, "alice", "bob", "nobody"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUsage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		s, err := c.GetAuth(ctx, radius.AccountKey(u), u, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if s.UsageCached {
			t.Fatalf("%s: usage still cached after DeleteUsage: %+v", u, s.Usage)
		}
	}
	// After a delete, the refill is taken.
	if err := c.SetUsage(ctx, "alice", radius.Usage{Bytes: 5}, 0); err != nil {
		t.Fatal(err)
	}
	s, err = c.GetAuth(ctx, radius.AccountKey("alice"), "alice", time.Now())
	if err != nil || s.Usage.Bytes != 5 {
		t.Fatalf("refill: %+v, %v", s.Usage, err)
	}
}

func TestReadUsage(t *testing.T) {
	tests := []struct {
		name string
		in   []any
		want radius.Usage
		ok   bool
	}{
		{"absent", []any{nil, nil}, radius.Usage{}, false},
		{"both", []any{"60", "100"}, radius.Usage{Uptime: time.Minute, Bytes: 100}, true},
		{"bytes only", []any{nil, "100"}, radius.Usage{Bytes: 100}, true},
		{"garbage", []any{"x", "100"}, radius.Usage{}, false},
		{"short reply", []any{"1"}, radius.Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readUsage(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("readUsage(%v) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestSetUsageGeneration: a fill that read Postgres before a record was applied without
// usage is not stored (it may miss that record); one that read after it is.
func TestSetUsageGeneration(t *testing.T) {
	ctx := context.Background()
	c, l, _ := MustStores(t, true)
	now := time.Now()
	snap, err := c.GetAuth(ctx, radius.AccountKey("erin"), "erin", now)
	if err != nil || snap.UsageCached {
		t.Fatalf("%+v, %v", snap, err)
	}
	// A record lands (committed to Postgres, then applied here) between the reader's
	// GetAuth and its fill.
	_, gen, ok, err := l.Update(ctx, record("erin", "e1", radius.AcctInterim, now, 60, 100, 200), 10*time.Minute)
	if err != nil || ok || gen != snap.UsageGen+1 {
		t.Fatalf("update: gen %d (snapshot %d), ok %v, %v", gen, snap.UsageGen, ok, err)
	}
	if err := c.SetUsage(ctx, "erin", radius.Usage{}, snap.UsageGen); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.GetAuth(ctx, radius.AccountKey("erin"), "erin", now); s.UsageCached {
		t.Fatalf("a fill older than a record was stored: %+v", s)
	}
	// A fill that read after the record is stored.
	if err := c.SetUsage(ctx, "erin", radius.Usage{Uptime: time.Minute, Bytes: 300}, gen); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.GetAuth(ctx, radius.AccountKey("erin"), "erin", now); !s.UsageCached || s.Usage.Bytes != 300 {
		t.Fatalf("the fill was not stored: %+v", s)
	}
}
