package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"tollgate/radius/radiustest"
)

// acct sends one Accounting-Request with radclient and returns its output.
func (s *stack) acct(secret, attrs string) string {
	s.t.Helper()
	cmd := exec.Command(mustRadclient(s.t), "-x", "-r", "2", "-t", "2", s.acctAddr(), "acct", secret)
	cmd.Stdin = strings.NewReader(attrs)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func (s *stack) mustAcct(secret, attrs string) {
	s.t.Helper()
	if out := s.acct(secret, attrs); !strings.Contains(out, "Received Accounting-Response") {
		s.t.Fatalf("accounting not answered for %s:\n%s", attrs, out)
	}
}

func (s *stack) acctAddr() string { return os.Getenv("TOLLGATE_RADIUS_ACCT_ADDR") }

func (s *stack) sessions(args ...string) []sessionJSON {
	s.t.Helper()
	var out []sessionJSON
	if err := json.Unmarshal([]byte(s.MustRun(append([]string{"session", "list", "--json"}, args...)...)), &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// eventually retries f until it returns "" or the bounded wait ends.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	msg := ""
	for i := 0; i < 100; i++ {
		if msg = f(); msg == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, msg)
}

// waitCoA returns the next request the NAS got for session id, skipping others.
func waitCoA(t *testing.T, nas *radiustest.CoANAS, code byte, id string) radiustest.CoARequest {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-nas.Requests():
			if r.SessionID != id {
				continue
			}
			if r.Code != code {
				t.Fatalf("NAS got code %d for %s, want %d: %+v", r.Code, id, code, r)
			}
			if !r.MAValid || !r.AuthValid {
				t.Fatalf("NAS got a request with an invalid authenticator or Message-Authenticator: %+v", r)
			}
			return r
		case <-deadline:
			t.Fatalf("NAS got no request with code %d for session %s", code, id)
		}
	}
}

const (
	codeDisconnect = 40
	codeCoA        = 43
)

func TestE2EAccounting(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_CRON_INTERVAL", "1s")
	t.Setenv("TOLLGATE_REAPER_GRACE", "1s")
	secret := "acct-secret-12"
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--rate-limit", "5M/10M", "--shared-users", "1")
	s.MustRun("plan", "add", "--name", "fast", "--kind", "pppoe", "--rate-limit", "20M/40M", "--shared-users", "1")
	s.MustRun("plan", "add", "--name", "capped", "--kind", "pppoe", "--data-limit", "1M", "--shared-users", "2")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	s.MustRun("subscriber", "add", "--username", "carl", "--password", "pw-carl", "--plan", "capped")
	s.serve()
	auth := func(user, pw string) string {
		out, _ := s.radclient(secret, fmt.Sprintf("User-Name=%s,User-Password=%s,Service-Type=Framed-User,Message-Authenticator=0x00", user, pw))
		return out
	}
	common := "NAS-Identifier=r1,NAS-Port-Type=Ethernet,Service-Type=Framed-User,Framed-Protocol=PPP,Calling-Station-Id=AA:BB:CC:00:00:01,Called-Station-Id=pppoe1"

	// Start: recorded, online, and it fills alice's only seat (shared-users 1).
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=A1,User-Name=alice,Framed-IP-Address=10.0.0.2,"+common)
	if on := s.sessions("--user", "alice", "--online"); len(on) != 1 || on[0].NAS != "r1" || on[0].IP != "10.0.0.2" || on[0].MAC != "AA:BB:CC:00:00:01" {
		t.Fatalf("after Start: %+v", on)
	}
	if out := auth("alice", "pw-alice"); !strings.Contains(out, "Too many sessions") {
		t.Fatalf("second login with shared-users 1 not rejected:\n%s", out)
	}
	// Interim with Gigawords: 64-bit counters.
	s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Id=A1,User-Name=alice,Acct-Session-Time=60,Acct-Input-Octets=5000,Acct-Output-Octets=7000,Acct-Output-Gigawords=1,"+common)
	// An older interim arriving late does not move counters back.
	s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Id=A1,User-Name=alice,Acct-Session-Time=30,Acct-Input-Octets=100,Acct-Output-Octets=100,"+common)
	if on := s.sessions("--user", "alice"); len(on) != 1 || on[0].InputOctets != 5000 || on[0].OutputOctets != 1<<32+7000 || on[0].Duration != 60 {
		t.Fatalf("after interims: %+v", on)
	}
	// Stop, then the same Stop again: the second changes nothing.
	stop := "Acct-Status-Type=Stop,Acct-Session-Id=A1,User-Name=alice,Acct-Session-Time=120,Acct-Input-Octets=6000,Acct-Output-Octets=8000,Acct-Output-Gigawords=1,Acct-Terminate-Cause=User-Request," + common
	s.mustAcct(secret, stop)
	first := s.MustRun("session", "list", "--user", "alice", "--json")
	time.Sleep(1100 * time.Millisecond)
	s.mustAcct(secret, stop)
	s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Id=A1,User-Name=alice,Acct-Session-Time=900,Acct-Input-Octets=9999999,"+common)
	if again := s.MustRun("session", "list", "--user", "alice", "--json"); again != first {
		t.Fatalf("a repeated Stop or a late Interim changed the record:\n%s\n%s", first, again)
	}
	if on := s.sessions("--user", "alice"); on[0].Online || on[0].TerminateCause != "User-Request" || on[0].Duration != 120 || on[0].Stop == nil {
		t.Fatalf("after Stop: %+v", on)
	}
	// The seat is free again.
	if out := auth("alice", "pw-alice"); !strings.Contains(out, "Access-Accept") {
		t.Fatalf("login after Stop:\n%s", out)
	}
	// A Stop without a Start still makes a complete record.
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=A2,User-Name=alice,Acct-Session-Time=300,Acct-Input-Octets=10,Acct-Output-Octets=20,Acct-Terminate-Cause=Lost-Carrier,"+common)
	eventually(t, "stop without start", func() string {
		for _, x := range s.sessions("--user", "alice") {
			if x.SessionID == "A2" {
				if x.Online || x.Duration != 300 || x.Stop == nil || x.Stop.Sub(x.Start) < 299*time.Second || x.TerminateCause != "Lost-Carrier" {
					return fmt.Sprintf("%+v", x)
				}
				return ""
			}
		}
		return "A2 missing"
	})

	// A session whose router went silent (its last update an hour ago) is reaped.
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=A3,User-Name=alice,Acct-Delay-Time=3600,"+common)
	eventually(t, "reaper", func() string {
		for _, x := range s.sessions("--user", "alice") {
			if x.SessionID == "A3" {
				if x.Online || x.TerminateCause != "Stale-Session" {
					return fmt.Sprintf("not reaped yet: %+v", x)
				}
				return ""
			}
		}
		return "A3 missing"
	})

	// A data limit reached mid-session sends a Disconnect-Request to the NAS.
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=C1,User-Name=carl,Framed-IP-Address=10.0.0.5,"+common)
	s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Id=C1,User-Name=carl,Framed-IP-Address=10.0.0.5,Acct-Session-Time=60,Acct-Input-Octets=600000,Acct-Output-Octets=600000,"+common)
	r := waitCoA(t, nas, codeDisconnect, "C1")
	if r.Username != "carl" || r.SessionID != "C1" || r.FramedIP != netip.MustParseAddr("10.0.0.5") {
		t.Fatalf("disconnect for the data limit: %+v", r)
	}
	// Logging in again is refused: no data left.
	if out := auth("carl", "pw-carl"); !strings.Contains(out, "Data limit reached") {
		t.Fatalf("carl over his data limit:\n%s", out)
	}

	// An admin disconnect, a plan change (CoA with the new rate limit) and a suspension
	// (disconnect) of an online user.
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=A4,User-Name=alice,Framed-IP-Address=10.0.0.9,"+common)
	var res []coaJSON
	if err := json.Unmarshal([]byte(s.MustRun("session", "disconnect", "--user", "alice", "--json")), &res); err != nil || len(res) != 1 || res[0].Result != "ack" {
		t.Fatalf("session disconnect: %+v %v", res, err)
	}
	if r := waitCoA(t, nas, codeDisconnect, "A4"); r.FramedIP != netip.MustParseAddr("10.0.0.9") {
		t.Fatalf("admin disconnect: %+v", r)
	}
	s.MustRun("subscriber", "set", "--username", "alice", "--plan", "fast")
	if r := waitCoA(t, nas, codeCoA, "A4"); r.RateLimit != "20M/40M" {
		t.Fatalf("plan change CoA: %+v", r)
	}
	nas.SetReply(func(radiustest.CoARequest) (byte, uint32) { return 42, 503 }) // Disconnect-NAK, Session-Context-Not-Found
	out := s.MustRun("subscriber", "set", "--username", "alice", "--status", "suspended")
	if r := waitCoA(t, nas, codeDisconnect, "A4"); !strings.Contains(out, "nak") || !strings.Contains(out, "503") {
		t.Fatalf("suspend: %+v\n%s", r, out)
	}

	// Accounting-On: the router rebooted, its open sessions are closed.
	s.mustAcct(secret, "Acct-Status-Type=Accounting-On,NAS-Identifier=r1")
	eventually(t, "accounting-on", func() string {
		if on := s.sessions("--online"); len(on) != 0 {
			return fmt.Sprintf("still open: %+v", on)
		}
		return ""
	})
	var st map[string]int64
	if err := json.Unmarshal([]byte(s.MustRun("session", "stats", "--json")), &st); err != nil || st["open"] != 0 || st["sessions"] != 5 || st["closed"] != 5 {
		t.Fatalf("session stats: %v %v", st, err)
	}
}

// acctSender plays a router sending sessions (Start, Interim, Stop) one request at a
// time, remembering which requests were acknowledged.
type acctSender struct {
	addr, secret string
	mu           sync.Mutex
	acked        map[string][3]bool // session id → Start, Interim, Stop acknowledged
}

func (a *acctSender) send(ctx context.Context, id string, step int) bool {
	p := radius.New(radius.CodeAccountingRequest, []byte(a.secret))
	st := []rfc2866.AcctStatusType{rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_InterimUpdate, rfc2866.AcctStatusType_Value_Stop}[step]
	rfc2866.AcctStatusType_Set(p, st)
	rfc2866.AcctSessionID_SetString(p, id)
	rfc2865.UserName_SetString(p, "bulk")
	rfc2865.FramedIPAddress_Set(p, net.IPv4(10, 1, 0, 1))
	rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(step*60))
	rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(step*1000))
	rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(step*2000))
	rfc2869.AcctOutputGigawords_Set(p, rfc2869.AcctOutputGigawords(step))
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	resp, err := (&radius.Client{Retry: 300 * time.Millisecond}).Exchange(ctx, p, a.addr)
	ok := err == nil && resp.Code == radius.CodeAccountingResponse
	if ok {
		a.mu.Lock()
		v := a.acked[id]
		v[step] = true
		a.acked[id] = v
		a.mu.Unlock()
	}
	return ok
}

// check verifies every acknowledged record is in the sessions table.
func (a *acctSender) check(t *testing.T, s *stack) {
	t.Helper()
	got := map[string]sessionJSON{}
	for _, x := range s.sessions("--user", "bulk", "--limit", "10000") {
		got[x.SessionID] = x
	}
	lost := 0
	for id, v := range a.acked {
		x, ok := got[id]
		switch {
		case !ok:
			lost++
		case v[2] && (x.Online || x.Duration != 120 || x.InputOctets != 2000 || x.OutputOctets != 2<<32+4000):
			t.Errorf("session %s: acknowledged Stop not reflected: %+v", id, x)
		case v[1] && x.InputOctets < 1000:
			t.Errorf("session %s: acknowledged Interim not reflected: %+v", id, x)
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged sessions lost of %d", lost, len(a.acked))
	}
}

func TestE2EAccountingSurvivesPostgresOutage(t *testing.T) {
	s := MustStack(t, false)
	pg := radiustest.MustPrivatePostgres(t)
	t.Setenv("DATABASE_URL", pg.URL)
	t.Setenv("TOLLGATE_SPOOL_DIR", t.TempDir())
	s.MustRun("migrate")
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", "outage-secret")
	s.serve()
	a := &acctSender{addr: s.acctAddr(), secret: "outage-secret", acked: map[string][3]bool{}}
	ctx := context.Background()
	const sessions = 120
	for i := 0; i < sessions; i++ {
		if i == 40 {
			pg.Crash() // Postgres goes away in the middle of the stream
		}
		if i == 80 {
			pg.Start()
		}
		for step := 0; step < 3; step++ {
			a.send(ctx, fmt.Sprintf("O%05d", i), step)
		}
	}
	// Records acknowledged during the outage were spooled; they reach Postgres once the
	// writer replays the spool.
	eventually(t, "spool replay", func() string {
		if n := len(s.sessions("--user", "bulk", "--limit", "10000")); n < len(a.acked) {
			return fmt.Sprintf("%d of %d sessions in Postgres", n, len(a.acked))
		}
		return ""
	})
	t.Logf("acknowledged %d of %d sessions across the outage", len(a.acked), sessions)
	if len(a.acked) < sessions*9/10 {
		t.Fatalf("only %d of %d sessions acknowledged: the spool did not take over", len(a.acked), sessions)
	}
	a.check(t, s)
}

func TestE2EAccountingSurvivesKill9(t *testing.T) {
	s := MustStack(t, false)
	pg := radiustest.MustPrivatePostgres(t)
	t.Setenv("DATABASE_URL", pg.URL)
	spool := t.TempDir()
	t.Setenv("TOLLGATE_SPOOL_DIR", spool)
	s.MustRun("migrate")
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", "kill-secret-12")
	bin := mustBinary(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--roles", "radius")
		cmd.Env = os.Environ()
		logf, _ := os.OpenFile(filepath.Join(spool, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	a := &acctSender{addr: s.acctAddr(), secret: "kill-secret-12", acked: map[string][3]bool{}}
	ctx := context.Background()
	up := func(probe string) {
		eventually(t, "serve up", func() string {
			if !a.send(ctx, probe, 0) {
				return "no answer"
			}
			return ""
		})
	}
	// load sends sessions from several senders until stopped or a request goes unanswered.
	load := func(prefix string, stop chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 400; i++ {
					select {
					case <-stop:
						return
					default:
					}
					for step := 0; step < 3; step++ {
						if !a.send(ctx, fmt.Sprintf("%s%d-%05d", prefix, w, i), step) {
							return
						}
					}
				}
			}(w)
		}
		return &wg
	}
	kill := func(cmd *exec.Cmd, prefix string) {
		stop := make(chan struct{})
		wg := load(prefix, stop)
		time.Sleep(1500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL) // under load
		cmd.Wait()
		close(stop)
		wg.Wait()
	}

	// 1. kill -9 under load with Postgres up.
	cmd := start()
	up("K-probe")
	kill(cmd, "K")
	before := len(a.acked)
	// 2. Postgres down: records go to the spool; kill -9 again under load.
	cmd = start()
	up("S-probe")
	pg.Crash()
	kill(cmd, "S")
	if len(a.acked) <= before {
		t.Fatalf("nothing acknowledged while Postgres was down: the spool did not take over")
	}
	t.Logf("acknowledged: %d sessions with Postgres up, %d more while it was down", before, len(a.acked)-before)
	// 3. Postgres back, tollgate restarted: the spool left by the killed process is replayed.
	pg.Start()
	start()
	up("R-probe")
	eventually(t, "replay", func() string {
		if n := len(s.sessions("--user", "bulk", "--limit", "10000")); n < len(a.acked) {
			return fmt.Sprintf("%d of %d sessions in Postgres", n, len(a.acked))
		}
		return ""
	})
	a.check(t, s)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// mustBinary builds bin/tollgate once per test run, for tests that need real processes.
func mustBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tollgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "tollgate")
		if out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return buildPath
}

// TestCronOncePerSlotTwoProcesses runs two `tollgate serve` processes on one database and
// checks that each job runs once per schedule slot, whichever process wins it.
func TestCronOncePerSlotTwoProcesses(t *testing.T) {
	MustStack(t, true)
	t.Setenv("TOLLGATE_CRON_INTERVAL", "1s")
	t.Setenv("LOG_LEVEL", "debug")
	bin := mustBinary(t)
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		cmd := exec.Command(bin, "serve", "--roles", "cron")
		cmd.Env = os.Environ()
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("serve%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		cmds = append(cmds, cmd)
	}
	time.Sleep(6 * time.Second)
	for _, c := range cmds {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
	}
	ran := map[string]int{}   // slot → runs of the reaper, across both processes
	attempts := map[int]int{} // process → slots it tried (ran or found taken)
	for i := 0; i < 2; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("serve%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "job=reaper") {
				continue
			}
			slot := ""
			if j := strings.Index(line, "slot="); j >= 0 {
				slot = strings.Fields(line[j:])[0]
			}
			switch {
			case strings.Contains(line, `msg="cron: ran"`):
				ran[slot]++
				attempts[i]++
			case strings.Contains(line, "slot run by another replica"):
				attempts[i]++
			}
		}
	}
	t.Logf("reaper slots run: %d; slots tried per process: %v", len(ran), attempts)
	if len(ran) < 3 {
		t.Fatalf("reaper ran in %d slots in 6s, want at least 3: %v", len(ran), ran)
	}
	for slot, n := range ran {
		if n != 1 {
			t.Fatalf("reaper ran %d times in slot %s", n, slot)
		}
	}
	if attempts[0] < 3 || attempts[1] < 3 {
		t.Fatalf("both processes must schedule the job: attempts %v", attempts)
	}
}
