package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"tollgate/radius/radiustest"
)

// radclientWithin sends one Access-Request that radclient waits for as RouterOS does:
// 1.1 s, no retry. It returns radclient's output.
func (s *stack) radclientWithin(secret, attrs string) string {
	s.t.Helper()
	cmd := exec.Command(mustRadclient(s.t), "-x", "-r", "1", "-t", "1.1", s.authAddr, "auth", secret)
	cmd.Stdin = strings.NewReader(attrs)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// metric returns the value of a counter at /metrics (0 when absent).
func (s *stack) metricValue(name string) float64 {
	s.t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestE2ERedisDown: with Redis killed, and with Redis frozen (it accepts connections but
// never answers), Access-Requests are answered from Postgres within RouterOS's 1.1 s —
// status, password and shared-users still enforced — and accounting is acknowledged;
// when Redis is back the cache is used again, without what it held from before the
// outage: a suspension saved while Redis was away holds.
func TestE2ERedisDown(t *testing.T) {
	s := MustStack(t, true)
	rd := radiustest.MustPrivateRedis(t)
	t.Setenv("REDIS_URL", rd.URL)
	const secret = "redis-down-secret"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--shared-users", "1", "--rate-limit", "2M/4M")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	s.MustRun("subscriber", "add", "--username", "bob", "--password", "pw-bob", "--plan", "home")
	s.MustRun("subscriber", "set", "--username", "bob", "--status", "suspended")
	s.MustRun("subscriber", "add", "--username", "carol", "--password", "pw-carol", "--plan", "home")
	s.serve()
	alice := "User-Name=alice,User-Password=pw-alice,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00"
	carol := strings.ReplaceAll(alice, "alice", "carol")
	mustContain(t, s.radclientWithin(secret, alice), "Received Access-Accept", `Mikrotik-Rate-Limit = "2M/4M"`)

	for _, outage := range []struct {
		name       string
		down, back func()
	}{
		{"killed", rd.Stop, rd.Start},
		{"frozen", rd.Freeze, rd.Thaw},
	} {
		t.Run(outage.name, func(t *testing.T) {
			mustContain(t, s.radclientWithin(secret, carol), "Received Access-Accept") // cached
			outage.down()
			failures := s.metricValue("tollgate_accounts_cache_failures_total")
			for i := 0; i < 3; i++ {
				mustContain(t, s.radclientWithin(secret, alice), "Received Access-Accept", `Mikrotik-Rate-Limit = "2M/4M"`)
			}
			mustContain(t, s.radclientWithin(secret, strings.ReplaceAll(alice, "pw-alice", "wrong")), "Received Access-Reject", "Invalid username or password")
			mustContain(t, s.radclientWithin(secret, "User-Name=bob,User-Password=pw-bob,Message-Authenticator=0x00"), "Received Access-Reject", "Account suspended")
			if got := s.metricValue("tollgate_accounts_cache_failures_total"); got <= failures {
				t.Fatalf("cache failures %v → %v: the outage was not seen", failures, got)
			}
			// Suspended while Redis is away: saved in Postgres, but the cache cannot be told.
			if code, _, errs := s.run("subscriber", "set", "--username", "carol", "--status", "suspended"); code != 1 || !strings.Contains(errs, "caches were not told") {
				t.Fatalf("suspension during the outage: exit %d %q", code, errs)
			}
			mustContain(t, s.radclientWithin(secret, carol), "Received Access-Reject", "Account suspended")
			// Accounting is acknowledged, and the online count comes from Postgres:
			// alice's one session fills her shared-users.
			sid := "RD-" + outage.name
			s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Start,Acct-Session-Id=%s,User-Name=alice,Framed-IP-Address=10.0.0.9,NAS-Identifier=r1", sid))
			mustContain(t, s.radclientWithin(secret, alice), "Received Access-Reject", "Too many sessions")
			s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Stop,Acct-Session-Id=%s,User-Name=alice,Acct-Session-Time=5,NAS-Identifier=r1", sid))
			mustContain(t, s.radclientWithin(secret, alice), "Received Access-Accept")

			// Redis is back: within the retry interval the cache is read again, and
			// repeated logins stop reaching Postgres.
			outage.back()
			eventually(t, "the cache in use again", func() string {
				before := s.metricValue("tollgate_accounts_store_reads_total")
				for i := 0; i < 3; i++ {
					if out := s.radclientWithin(secret, alice); !strings.Contains(out, "Received Access-Accept") {
						return out
					}
				}
				if after := s.metricValue("tollgate_accounts_store_reads_total"); after > before+1 {
					return fmt.Sprintf("store reads %v → %v for 3 logins", before, after)
				}
				return ""
			})
			// What the cache held from before the outage is not used: the suspension
			// made during it holds.
			mustContain(t, s.radclientWithin(secret, carol), "Received Access-Reject", "Account suspended")
			s.MustRun("subscriber", "set", "--username", "carol", "--status", "active")
		})
	}
}

// TestE2ESealedPasswordBound: a subscriber's sealed password copied onto another
// subscriber's row does not log that one in with the copied password, and the NAS
// secret copied onto another NAS does not open either.
func TestE2ESealedPasswordBound(t *testing.T) {
	s := MustStack(t, true)
	const secret = "bound-seal-secret"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("nas", "add", "--name", "r2", "--address", "127.0.0.2", "--secret", "r2-own-secret")
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	s.MustRun("subscriber", "add", "--username", "mallory", "--password", "pw-mallory", "--plan", "home")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, mustEnv(t, "DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Someone with write access to the database copies mallory's sealed password onto
	// alice, hoping to log in as alice with mallory's password.
	if _, err := conn.Exec(ctx, `UPDATE subscribers SET password = (SELECT password FROM subscribers WHERE username = 'mallory') WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	// And r1's sealed secret onto r2, hoping r2's packets verify with r1's secret.
	if _, err := conn.Exec(ctx, `UPDATE nas SET secret = (SELECT secret FROM nas WHERE name = 'r1') WHERE name = 'r2'`); err != nil {
		t.Fatal(err)
	}
	s.serve()
	if got := s.metric(t, "tollgate_radius_nas_unusable"); got != "1" {
		t.Fatalf("nas_unusable = %s: r2's copied secret opened", got)
	}
	for _, sec := range []string{secret, "r2-own-secret"} {
		if got := s.accessFrom(t, "127.0.0.2", sec, "mallory", "pw-mallory"); got != 0 {
			t.Fatalf("r2 answered with the secret %q after the copy: %v", sec, got)
		}
	}
	for _, pw := range []string{"pw-mallory", "pw-alice"} {
		out := s.radclientWithin(secret, fmt.Sprintf("User-Name=alice,User-Password=%s,Message-Authenticator=0x00", pw))
		if strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("alice logged in with %s after the copy:\n%s", pw, out)
		}
	}
	mustContain(t, s.radclientWithin(secret, "User-Name=mallory,User-Password=pw-mallory,Message-Authenticator=0x00"), "Received Access-Accept")
}

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		t.Fatalf("%s not set", name)
	}
	return v
}

// TestE2ENoCodeInClear: after a batch was generated, printed and exported, logged in
// with (PAP and CHAP, and a wrong code), accounted (the router sending the code as
// User-Name) and looked up on the status page, a full pg_dump of the database, every
// Redis key and value under the stack's prefix, and serve's log hold none of its codes.
func TestE2ENoCodeInClear(t *testing.T) {
	if _, err := exec.LookPath("pg_dump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pg_dump not installed: %v", err)
		}
		t.Skip("pg_dump not installed")
	}
	s := MustStack(t, true)
	t.Setenv("LOG_LEVEL", "debug") // the most the log ever says
	const secret = "no-codes-secret"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "day", "--kind", "hotspot", "--uptime-limit", "1h", "--shared-users", "2")
	const pw = "correct-horse-battery"
	if code, _, errs := s.runWithStdin(pw+"\n", "admin", "add", "--email", "admin@example.com"); code != 0 {
		t.Fatal(errs)
	}
	// Codes of 10 characters with a prefix: no chance of meeting one in the hex of a
	// dump by accident.
	b := s.generate("--plan", "day", "--count", "5", "--length", "10", "--prefix", "TG")
	up := s.generate("--plan", "day", "--count", "2", "--length", "10", "--prefix", "TU", "--mode", "userpass")
	codes := []string{}
	for _, v := range append(b.Vouchers, up.Vouchers...) {
		codes = append(codes, v.Code)
	}
	s.serve()

	web := newWebClient(t, "http://"+s.httpAddr)
	if st, loc := web.login("admin@example.com", pw); st != http.StatusSeeOther || loc != "/admin" {
		t.Fatalf("sign-in = %d %q", st, loc)
	}
	for _, path := range []string{
		fmt.Sprintf("/admin/batches/%d/print", b.ID), fmt.Sprintf("/admin/batches/%d/print?layout=receipt", b.ID),
		fmt.Sprintf("/admin/batches/%d/vouchers.csv", b.ID), fmt.Sprintf("/admin/batches/%d/vouchers.csv", up.ID),
		"/admin/vouchers?code=" + b.Vouchers[4].Code, "/admin/vouchers?code=" + strings.ToLower(b.Vouchers[3].Code),
	} {
		resp, body := web.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
		if strings.Contains(path, "/batches/") && !strings.Contains(body, up.Vouchers[0].Code) && !strings.Contains(body, b.Vouchers[0].Code) {
			t.Fatalf("GET %s shows no code: the reprint must open them", path)
		}
	}

	c0, c1, c2 := b.Vouchers[0].Code, b.Vouchers[1].Code, b.Vouchers[2].Code
	mustContain(t, s.hotspotLogin(secret, c0, "User-Password="+c0, "AA:BB:CC:00:00:01"), "Received Access-Accept")
	mustContain(t, s.hotspotLogin(secret, c1, "CHAP-Password="+c1, "AA:BB:CC:00:00:02"), "Received Access-Accept")
	mustContain(t, s.hotspotLogin(secret, strings.ToLower(c2), "User-Password="+strings.ToLower(c2), "AA:BB:CC:00:00:03"), "Received Access-Accept")
	mustContain(t, s.hotspotLogin(secret, c2, "User-Password=wrong-one", "AA:BB:CC:00:00:04"), "Received Access-Reject")
	mustContain(t, s.hotspotLogin(secret, up.Vouchers[0].Username, "User-Password="+up.Vouchers[0].Password, "AA:BB:CC:00:00:05"), "Received Access-Accept")
	for i, c := range []string{c0, c1} {
		common := fmt.Sprintf("Acct-Session-Id=NC%d,User-Name=%s,Framed-IP-Address=10.5.50.%d,Calling-Station-Id=AA:BB:CC:00:00:0%d,NAS-Identifier=r1", i, c, 10+i, i+1)
		s.mustAcct(secret, "Acct-Status-Type=Start,"+common)
		s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Time=60,Acct-Input-Octets=1000,Acct-Output-Octets=2000,"+common)
	}
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=NC0,Acct-Session-Time=90,Acct-Input-Octets=1500,Acct-Output-Octets=2500,"+
		fmt.Sprintf("User-Name=%s,NAS-Identifier=r1", c0))
	for _, c := range []string{c0, b.Vouchers[3].Code, "TGNOTACODE0"} {
		resp, err := http.Get("http://" + s.httpAddr + "/hotspot/status?code=" + c)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The sessions are the accounts', under the vouchers' names.
	sessions := s.sessions()
	if len(sessions) != 2 {
		t.Fatalf("sessions: %+v", sessions)
	}
	for _, ss := range sessions {
		if !strings.HasPrefix(ss.Username, "voucher-") {
			t.Fatalf("session accounted under %q", ss.Username)
		}
	}
	eventually(t, "the auth log written", func() string {
		if out := s.MustRun("authlog", "--json"); strings.Count(out, `"reason"`) < 5 {
			return out
		}
		return ""
	})

	// Everything written down: the database, Redis, the log.
	dump, err := exec.Command("pg_dump", "--no-owner", mustEnv(t, "DATABASE_URL")).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, dump)
	}
	if !strings.Contains(string(dump), "voucher-") {
		t.Fatal("the dump has no voucher rows: the test dumped the wrong database")
	}
	var redisText strings.Builder
	rdb, prefix := s.redis(t)
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		redisText.WriteString(k + "\n")
		dumped, err := rdb.Dump(ctx, k).Result()
		if err == nil {
			redisText.WriteString(dumped + "\n")
		}
	}
	if keys < 5 {
		t.Fatalf("only %d Redis keys: the test scanned the wrong prefix", keys)
	}
	for _, c := range codes {
		for where, text := range map[string]string{"pg_dump": string(dump), "redis": redisText.String(), "serve's log": s.serveLog.String()} {
			for _, form := range []string{c, strings.ToLower(c)} {
				if strings.Contains(text, form) {
					i := strings.Index(text, form)
					t.Errorf("%s holds the code %s: …%s…", where, form, text[max(0, i-80):min(len(text), i+80)])
				}
			}
		}
	}
}

// redis returns a client on the stack's Redis and the stack's key prefix.
func (s *stack) redis(t *testing.T) (*goredis.Client, string) {
	t.Helper()
	opt, err := goredis.ParseURL(mustEnv(t, "REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c, mustEnv(t, "TOLLGATE_REDIS_PREFIX")
}

// TestE2EMACLoginAccounted: a subscriber logged in by MAC is accounted under its own name
// even when the router names the MAC in accounting, so its shared-users, its usage and a
// suspension reach it like any other session.
func TestE2EMACLoginAccounted(t *testing.T) {
	s := MustStack(t, true)
	const secret = "mac-login-secret"
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "hs", "--kind", "hotspot", "--shared-users", "1", "--uptime-limit", "1h")
	s.MustRun("subscriber", "add", "--username", "phone", "--password", "pw-phone-123", "--plan", "hs",
		"--mac", "AA:BB:CC:00:11:22", "--mac-login")
	s.serve()
	login := "User-Name=AA:BB:CC:00:11:22,User-Password=\"\",Calling-Station-Id=AA:BB:CC:00:11:22,Service-Type=Login-User,Message-Authenticator=0x00"
	mustContain(t, s.radclientWithin(secret, login), "Received Access-Accept", `User-Name = "phone"`, "Session-Timeout = 3600")
	// A router that keeps the MAC as User-Name in accounting.
	common := "Acct-Session-Id=M1,User-Name=AA:BB:CC:00:11:22,Framed-IP-Address=10.5.50.7,Calling-Station-Id=AA:BB:CC:00:11:22,NAS-Identifier=r1"
	s.mustAcct(secret, "Acct-Status-Type=Start,"+common)
	s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Time=600,Acct-Input-Octets=100,Acct-Output-Octets=200,"+common)
	if ss := s.sessions(); len(ss) != 1 || ss[0].Username != "phone" {
		t.Fatalf("sessions: %+v", ss)
	}
	// Shared-users 1: the session counts, so a second login is refused; the usage counts,
	// so the time left shrinks.
	mustContain(t, s.radclientWithin(secret, login), "Received Access-Reject", "Too many sessions")
	// A suspension reaches the session: a Disconnect-Request for it, by its account.
	s.MustRun("subscriber", "set", "--username", "phone", "--status", "suspended")
	if r := waitCoA(t, nas, codeDisconnect, "M1"); r.Username != "phone" {
		t.Fatalf("disconnect: %+v", r)
	}
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Time=610,Acct-Input-Octets=100,Acct-Output-Octets=200,Acct-Terminate-Cause=Admin-Reset,"+common)
	s.MustRun("subscriber", "set", "--username", "phone", "--status", "active")
	mustContain(t, s.radclientWithin(secret, login), "Received Access-Accept", "Session-Timeout = 2990")
}

// TestE2EMACLoginSet: `subscriber set --mac-login` turns MAC login on for a running
// server and `--mac-login=false` off again; on a PPPoE plan it is refused, as is moving
// a MAC-login subscriber to a PPPoE plan.
func TestE2EMACLoginSet(t *testing.T) {
	s := MustStack(t, true)
	const secret = "mac-login-set-secret"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "hs", "--kind", "hotspot")
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "tablet", "--password", "pw-tablet-123", "--plan", "hs", "--mac", "AA:BB:CC:00:11:33")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice-123", "--plan", "home", "--mac", "AA:BB:CC:00:11:44")
	s.serve()
	login := "User-Name=AA:BB:CC:00:11:33,User-Password=\"\",Calling-Station-Id=AA:BB:CC:00:11:33,Service-Type=Login-User,Message-Authenticator=0x00"
	mustContain(t, s.radclientWithin(secret, login), "Received Access-Reject")

	s.MustRun("subscriber", "set", "--username", "tablet", "--mac-login")
	eventually(t, "MAC login turned on", func() string {
		if out := s.radclientWithin(secret, login); !strings.Contains(out, `User-Name = "tablet"`) {
			return out
		}
		return ""
	})
	if code, _, errs := s.run("subscriber", "set", "--username", "tablet", "--plan", "home"); code != 1 || !strings.Contains(errs, "hotspot plans only") {
		t.Fatalf("MAC-login subscriber moved to a PPPoE plan: exit %d %q", code, errs)
	}
	s.MustRun("subscriber", "set", "--username", "tablet", "--mac-login=false")
	eventually(t, "MAC login turned off", func() string {
		if out := s.radclientWithin(secret, login); !strings.Contains(out, "Received Access-Reject") {
			return out
		}
		return ""
	})
	// Its own password still logs it in.
	mustContain(t, s.radclientWithin(secret, "User-Name=tablet,User-Password=pw-tablet-123,Calling-Station-Id=AA:BB:CC:00:11:33,Service-Type=Login-User,Message-Authenticator=0x00"), "Received Access-Accept")

	if code, _, errs := s.run("subscriber", "set", "--username", "alice", "--mac-login"); code != 1 || !strings.Contains(errs, "hotspot plans only") {
		t.Fatalf("MAC login on a PPPoE plan: exit %d %q", code, errs)
	}
	pppoe := "User-Name=AA:BB:CC:00:11:44,User-Password=\"\",Calling-Station-Id=AA:BB:CC:00:11:44,Service-Type=Login-User,Message-Authenticator=0x00"
	mustContain(t, s.radclientWithin(secret, pppoe), "Received Access-Reject")
}

// TestE2EVoucherGuessing: failed voucher logins are counted in Redis per device: after 10
// wrong codes from one phone, even a valid code is refused from it, with the answer an
// unknown code gets from it, while another phone logs in with that code.
func TestE2EVoucherGuessing(t *testing.T) {
	s := MustStack(t, true)
	const secret = "guessing-secret"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "day", "--kind", "hotspot", "--shared-users", "0")
	c := s.generate("--plan", "day", "--count", "1").Vouchers[0].Code
	s.serve()
	const guesser, guest = "AA:BB:CC:00:66:66", "AA:BB:CC:00:00:01"
	for i := 0; i < 10; i++ {
		guess := fmt.Sprintf("GUESS%03d", i)
		mustContain(t, s.hotspotLogin(secret, guess, "User-Password="+guess, guesser), "Received Access-Reject", "Invalid username or password")
	}
	valid := s.hotspotLogin(secret, c, "User-Password="+c, guesser)
	unknown := s.hotspotLogin(secret, "GUESS999", "User-Password=GUESS999", guesser)
	for _, out := range []string{valid, unknown} {
		mustContain(t, out, "Received Access-Reject", "Too many failed attempts")
	}
	mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, guest), "Received Access-Accept")
}
