package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/radiustest"
	radiusredis "tollgate/radius/redis"
)

// session returns user's session id as `session list` shows it, or fails.
func (s *stack) session(user, id string) sessionJSON {
	s.t.Helper()
	for _, x := range s.sessions("--user", user) {
		if x.SessionID == id {
			return x
		}
	}
	s.t.Fatalf("no session %s of %s", id, user)
	return sessionJSON{}
}

// usage returns user's usage as Redis (the RADIUS path) and Postgres (the truth) hold
// it; the Redis one has Uptime -1 while none is cached.
func (s *stack) usage(user string) (cached, stored radius.Usage) {
	s.t.Helper()
	ctx := context.Background()
	opts, err := goredis.ParseURL(radiustest.RedisURL())
	if err != nil {
		s.t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	a, err := radiusredis.New(rdb, os.Getenv("TOLLGATE_REDIS_PREFIX"), radiusredis.Options{}).GetAuth(ctx, radius.AccountKey(user), user, time.Now())
	if err != nil {
		s.t.Fatalf("usage of %s in Redis: %v", user, err)
	}
	cached = radius.Usage{Uptime: a.Usage.Uptime, Bytes: a.Usage.Bytes}
	if !a.UsageCached {
		cached = radius.Usage{Uptime: -1}
	}
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer pool.Close()
	if stored, err = radiuspg.New(pool).FindUsage(ctx, user, time.Time{}); err != nil {
		s.t.Fatal(err)
	}
	return cached, stored
}

// metrics returns the /metrics page.
func (s *stack) metrics() string {
	s.t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics: %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

// TestE2EReapThenReopen: a session the reaper closed after its router went quiet is
// reopened by the router's next Interim-Update (online again, in Postgres and Redis)
// and completed by its Stop; its usage is counted once, in Redis and in Postgres. The
// accounting writer's and reaper's counters are at /metrics.
func TestE2EReapThenReopen(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_CRON_INTERVAL", "1s")
	t.Setenv("TOLLGATE_REAPER_GRACE", "1s")
	secret := "reap-secret-1"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	// A data limit makes accounting keep the usage in Redis.
	s.MustRun("plan", "add", "--name", "capped", "--kind", "pppoe", "--data-limit", "10G", "--shared-users", "2")
	s.MustRun("subscriber", "add", "--username", "dana", "--password", "pw-dana", "--plan", "capped")
	s.serve()
	common := "User-Name=dana,NAS-Identifier=r1,Framed-IP-Address=10.0.0.7,Acct-Session-Id=R1,"

	// Heard of last 50 minutes ago: the reaper closes it.
	s.mustAcct(secret, common+"Acct-Status-Type=Start,Acct-Delay-Time=3600")
	s.mustAcct(secret, common+"Acct-Status-Type=Interim-Update,Acct-Delay-Time=3000,Acct-Session-Time=600,Acct-Input-Octets=1000,Acct-Output-Octets=2000")
	eventually(t, "reaper", func() string {
		if x := s.session("dana", "R1"); x.Online || x.TerminateCause != radius.CauseStale || x.Duration != 600 {
			return fmt.Sprintf("not reaped yet: %+v", x)
		}
		return ""
	})
	want := radius.Usage{Uptime: 600 * time.Second, Bytes: 3000}
	eventually(t, "usage before", func() string {
		if cached, stored := s.usage("dana"); cached != want || stored != want {
			return fmt.Sprintf("Redis %+v, Postgres %+v; want %+v", cached, stored, want)
		}
		return ""
	})

	// The router was only cut off: its next interim reopens the session.
	s.mustAcct(secret, common+"Acct-Status-Type=Interim-Update,Acct-Session-Time=4200,Acct-Input-Octets=5000,Acct-Output-Octets=6000")
	if x := s.session("dana", "R1"); !x.Online || x.TerminateCause != "" || x.Stop != nil || x.Duration != 4200 || x.InputOctets != 5000 {
		t.Fatalf("after the interim: %+v", x)
	}
	if on := s.sessions("--user", "dana", "--online"); len(on) != 1 {
		t.Fatalf("online: %+v", on)
	}
	// Usage before the reap plus the growth since, once: in Redis and in Postgres.
	want = radius.Usage{Uptime: 4200 * time.Second, Bytes: 11000}
	eventually(t, "usage after the reopening", func() string {
		if cached, stored := s.usage("dana"); cached != want || stored != want {
			return fmt.Sprintf("Redis %+v, Postgres %+v; want %+v", cached, stored, want)
		}
		return ""
	})
	// The reaper leaves it alone now: once a later run reaped another silent session,
	// it is still online.
	s.mustAcct(secret, strings.Replace(common, "R1", "R2", 1)+"Acct-Status-Type=Start,Acct-Delay-Time=3600")
	eventually(t, "reaper after the reopening", func() string {
		if x := s.session("dana", "R2"); x.Online {
			return "R2 not reaped yet"
		}
		return ""
	})
	if x := s.session("dana", "R1"); !x.Online {
		t.Fatalf("reaped again: %+v", x)
	}

	// Its Stop completes it, with its own time and cause.
	s.mustAcct(secret, common+"Acct-Status-Type=Stop,Acct-Session-Time=4500,Acct-Input-Octets=5500,Acct-Output-Octets=6500,Acct-Terminate-Cause=User-Request")
	if x := s.session("dana", "R1"); x.Online || x.TerminateCause != "User-Request" || x.Duration != 4500 || x.Stop == nil {
		t.Fatalf("after the stop: %+v", x)
	}
	want = radius.Usage{Uptime: 4500 * time.Second, Bytes: 12000}
	eventually(t, "usage after the stop", func() string {
		if cached, stored := s.usage("dana"); cached != want || stored != want {
			return fmt.Sprintf("Redis %+v, Postgres %+v; want %+v", cached, stored, want)
		}
		return ""
	})

	// The writer's and the reaper's counters are exported.
	m := s.metrics()
	for _, line := range []string{
		"tollgate_accounting_committed_total 5",
		"tollgate_accounting_spooled_total 0",
		"tollgate_accounting_replayed_total 0",
		"tollgate_accounting_dropped_total 0",
		"tollgate_accounting_spool_backlog 0",
		"tollgate_accounting_spool_damaged_total 0",
		"tollgate_radius_reaper_skipped_total 0",
	} {
		if !strings.Contains(m, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if !strings.Contains(m, "\ntollgate_radius_reaper_closed_total ") || strings.Contains(m, "\ntollgate_radius_reaper_closed_total 0\n") {
		t.Errorf("/metrics does not count the reaped session")
	}
}

// TestE2ECoARange: for a NAS that is an address range, a Disconnect goes to the router
// the session's accounting came from (127.0.0.1 here), not to the range's address.
func TestE2ECoARange(t *testing.T) {
	s := MustStack(t, true)
	secret := "range-secret-1"
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "pop", "--address", "127.0.0.0/24", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--rate-limit", "5M/10M")
	s.MustRun("subscriber", "add", "--username", "erin", "--password", "pw-erin", "--plan", "home")
	s.serve()
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=E1,User-Name=erin,Framed-IP-Address=10.0.0.8,NAS-Identifier=pop,Message-Authenticator=0x00")
	if x := s.session("erin", "E1"); x.NASAddr != "127.0.0.1" || x.NAS != "pop" {
		t.Fatalf("session's router: %+v", x)
	}
	var res []coaJSON
	if err := json.Unmarshal([]byte(s.MustRun("session", "disconnect", "--user", "erin", "--json")), &res); err != nil || len(res) != 1 || res[0].Result != "ack" {
		t.Fatalf("session disconnect: %+v %v", res, err)
	}
	if r := waitCoA(t, nas, codeDisconnect, "E1"); r.Username != "erin" {
		t.Fatalf("disconnect: %+v", r)
	}
	// A plan change reaches it the same way (CoA).
	s.MustRun("plan", "add", "--name", "fast", "--kind", "pppoe", "--rate-limit", "20M/40M")
	s.MustRun("subscriber", "set", "--username", "erin", "--plan", "fast")
	if r := waitCoA(t, nas, codeCoA, "E1"); r.RateLimit != "20M/40M" {
		t.Fatalf("plan change CoA: %+v", r)
	}
}
