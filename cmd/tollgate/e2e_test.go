package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc3079"

	"tollgate/radius/radiustest"
)

const testKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// stack is one tollgate environment: its own database and Redis prefix, and free ports.
type stack struct {
	t        testing.TB
	authAddr string
	httpAddr string
	// serveLog is what serve logged (stderr), once it was started.
	serveLog *syncBuffer
}

func freePort(tb testing.TB, network string) int {
	tb.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// MustStack sets the environment for a fresh database and Redis prefix. Tests using it
// must not run in parallel (t.Setenv).
func MustStack(t *testing.T, migrate bool) *stack {
	t.Helper()
	dbURL := radiustest.MustDBURL(t)
	_, prefix := radiustest.MustRedis(t)
	s := &stack{t: t,
		authAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")),
	}
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("REDIS_URL", radiustest.RedisURL())
	t.Setenv("TOLLGATE_REDIS_PREFIX", prefix)
	t.Setenv("TOLLGATE_SECRET_KEY", testKey)
	t.Setenv("TOLLGATE_RADIUS_AUTH_ADDR", s.authAddr)
	t.Setenv("TOLLGATE_RADIUS_ACCT_ADDR", fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")))
	t.Setenv("TOLLGATE_HTTP_ADDR", s.httpAddr)
	t.Setenv("LOG_LEVEL", "warn")
	t.Setenv("TOLLGATE_SPOOL_DIR", t.TempDir())
	if !migrate {
		return s
	}
	s.MustRun("migrate")
	return s
}

// run runs one command line in process.
func (s *stack) run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func (s *stack) MustRun(args ...string) string {
	s.t.Helper()
	code, out, errs := s.run(args...)
	if code != 0 {
		s.t.Fatalf("tollgate %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// serve starts `tollgate serve` in process and waits for /healthz.
func (s *stack) serve() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	errb := &syncBuffer{}
	s.serveLog = errb
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), &bytes.Buffer{}, errb) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.t.Errorf("serve did not stop")
		}
	})
	for i := 0; i < 100; i++ {
		select {
		case code := <-done:
			s.t.Fatalf("serve exited %d: %s", code, errb.String())
		default:
		}
		resp, err := http.Get("http://" + s.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("serve not healthy: %s", errb.String())
}

func mustRadclient(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("radclient")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("radclient not installed (freeradius-utils): %v", err)
		}
		tb.Skip("radclient not installed (apt-get install freeradius-utils)")
	}
	return p
}

// radclient sends one request with FreeRADIUS's radclient and returns its output; ok
// says whether a reply came.
func (s *stack) radclient(secret, attrs string) (string, bool) {
	s.t.Helper()
	bin := mustRadclient(s.t)
	cmd := exec.Command(bin, "-x", "-r", "1", "-t", "1", s.authAddr, "auth", secret)
	cmd.Stdin = strings.NewReader(attrs)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil || strings.Contains(string(out), "Received Access-")
}

func TestE2ERadclient(t *testing.T) {
	s := MustStack(t, true)
	s.serve()
	secret := "s3cret-nas-12"
	// No NAS yet: the request is dropped, never answered.
	if out, ok := s.radclient(secret, "User-Name=alice,User-Password=pw-alice,Message-Authenticator=0x00"); ok {
		t.Fatalf("unknown NAS answered:\n%s", out)
	}
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--rate-limit", "2M/4M 4M/8M 1M/2M 10/10 8",
		"--validity", "30d", "--interim", "5m", "--pool", "pppoe-pool", "--address-list", "subs")
	s.MustRun("plan", "add", "--name", "hs", "--kind", "hotspot", "--rate-limit", "1M/2M", "--uptime-limit", "1h")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	s.MustRun("subscriber", "add", "--username", "bob", "--password", "pw-bob", "--plan", "home", "--static-ip", "10.9.0.7")
	s.MustRun("subscriber", "add", "--username", "phone", "--password", "pw-phone", "--plan", "hs", "--mac", "aa-bb-cc-00-11-22", "--mac-login")
	// Bound to a MAC but not allowed to log in by it: MAC login is opt-in.
	s.MustRun("subscriber", "add", "--username", "tablet", "--password", "pw-tablet", "--plan", "hs", "--mac", "aa-bb-cc-00-11-33")

	// The NAS reaches the running server within a second, without a restart.
	var out string
	var ok bool
	for i := 0; i < 10; i++ {
		if out, ok = s.radclient(secret, "User-Name=alice,User-Password=pw-alice,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00"); ok {
			break
		}
	}
	for _, want := range []string{"Received Access-Accept", `Mikrotik-Rate-Limit = "2M/4M 4M/8M 1M/2M 10/10 8"`, "Session-Timeout", "Acct-Interim-Interval = 300", `Framed-Pool = "pppoe-pool"`, `Mikrotik-Address-List = "subs"`, "Class", "Message-Authenticator"} {
		if !strings.Contains(out, want) {
			t.Fatalf("PAP accept lacks %q:\n%s", want, out)
		}
	}
	cases := []struct {
		name, attrs, want string
	}{
		{"pap wrong password", "User-Name=alice,User-Password=nope,Message-Authenticator=0x00", "Received Access-Reject"},
		{"unknown user", "User-Name=nobody,User-Password=x,Message-Authenticator=0x00", "Received Access-Reject"},
		{"chap", "User-Name=alice,CHAP-Password=pw-alice,Message-Authenticator=0x00", "Received Access-Accept"},
		{"chap wrong", "User-Name=alice,CHAP-Password=nope,Message-Authenticator=0x00", "Received Access-Reject"},
		{"mschapv1", "User-Name=alice,MS-CHAP-Password=pw-alice,Message-Authenticator=0x00", "MS-CHAP-MPPE-Keys"},
		{"static ip", "User-Name=bob,User-Password=pw-bob,Message-Authenticator=0x00", "Framed-IP-Address = 10.9.0.7"},
		{"hotspot mac login", "User-Name=AA:BB:CC:00:11:22,User-Password=\"\",Calling-Station-Id=AA:BB:CC:00:11:22,Service-Type=Login-User,Message-Authenticator=0x00", `User-Name = "phone"`},
		{"hotspot mac login, MAC as password", "User-Name=aa:bb:cc:00:11:22,User-Password=aa:bb:cc:00:11:22,Calling-Station-Id=AA:BB:CC:00:11:22,Message-Authenticator=0x00", `User-Name = "phone"`},
		{"mac login not opted in", "User-Name=AA:BB:CC:00:11:33,User-Password=\"\",Calling-Station-Id=AA:BB:CC:00:11:33,Service-Type=Login-User,Message-Authenticator=0x00", "Received Access-Reject"},
		{"mac login as a PPPoE session", "User-Name=AA:BB:CC:00:11:22,User-Password=\"\",Calling-Station-Id=AA:BB:CC:00:11:22,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00", "Received Access-Reject"},
		{"hotspot wrong device", "User-Name=phone,User-Password=pw-phone,Calling-Station-Id=AA:BB:CC:99:99:99,Service-Type=Login-User,Message-Authenticator=0x00", "Device not allowed"},
		{"pppoe plan on hotspot", "User-Name=alice,User-Password=pw-alice,Service-Type=Login-User,Message-Authenticator=0x00", "Service not allowed"},
		{"status-server", "Message-Authenticator=0x00", "Received Access-Accept"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := "auth"
			args := []string{"-x", "-r", "1", "-t", "2", s.authAddr, code, secret}
			if tc.name == "status-server" {
				args[6] = "status"
			}
			cmd := exec.Command(mustRadclient(t), args...)
			cmd.Stdin = strings.NewReader(tc.attrs)
			b, _ := cmd.CombinedOutput()
			if !strings.Contains(string(b), tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, b)
			}
		})
	}
	// MS-CHAPv2: radclient has no MS-CHAPv2 of its own, so the test computes the
	// challenge response (RFC 2759) and radclient sends it and decrypts our MPPE keys.
	t.Run("mschapv2", func(t *testing.T) {
		authChallenge := []byte("0123456789abcdef")
		peer := []byte("fedcba9876543210")
		nt, err := rfc2759.GenerateNTResponse(authChallenge, peer, []byte("alice"), []byte("pw-alice"))
		if err != nil {
			t.Fatal(err)
		}
		resp := append(append(append([]byte{7, 0}, peer...), make([]byte, 8)...), nt...)
		attrs := fmt.Sprintf("User-Name=alice,MS-CHAP-Challenge=0x%x,MS-CHAP2-Response=0x%x,Message-Authenticator=0x00", authChallenge, resp)
		cmd := exec.Command(mustRadclient(t), "-x", "-r", "1", "-t", "2", s.authAddr, "auth", secret)
		cmd.Stdin = strings.NewReader(attrs)
		out, _ := cmd.CombinedOutput()
		success, _ := rfc2759.GenerateAuthenticatorResponse(authChallenge, peer, nt, []byte("alice"), []byte("pw-alice"))
		send, _ := rfc3079.MakeKey(nt, []byte("pw-alice"), true)
		recv, _ := rfc3079.MakeKey(nt, []byte("pw-alice"), false)
		for _, want := range []string{
			"Received Access-Accept",
			fmt.Sprintf("MS-CHAP2-Success = 0x07%x", success),
			fmt.Sprintf("MS-MPPE-Send-Key = 0x%x", send),
			fmt.Sprintf("MS-MPPE-Recv-Key = 0x%x", recv),
			"MS-MPPE-Encryption-Policy = Encryption-Allowed",
		} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("MS-CHAPv2 reply lacks %q:\n%s", want, out)
			}
		}
	})

	// Without Message-Authenticator the NAS (requiring it by default) gets no answer.
	if out, ok := s.radclient(secret, "User-Name=alice,User-Password=pw-alice"); ok {
		t.Fatalf("request without Message-Authenticator answered:\n%s", out)
	}
	// A wrong secret gets no answer either (Message-Authenticator does not verify).
	if out, ok := s.radclient("wrong-secret", "User-Name=alice,User-Password=pw-alice,Message-Authenticator=0x00"); ok {
		t.Fatalf("wrong secret answered:\n%s", out)
	}

	// Suspending reaches the server within a second.
	s.MustRun("subscriber", "set", "--username", "alice", "--status", "suspended")
	out, _ = s.radclient(secret, "User-Name=alice,User-Password=pw-alice,Message-Authenticator=0x00")
	if !strings.Contains(out, "Account suspended") {
		t.Fatalf("suspended user not rejected at once:\n%s", out)
	}
	s.MustRun("subscriber", "set", "--username", "alice", "--status", "active", "--password", "new-pw")
	if out, _ = s.radclient(secret, "User-Name=alice,User-Password=new-pw,Message-Authenticator=0x00"); !strings.Contains(out, "Access-Accept") {
		t.Fatalf("new password not accepted:\n%s", out)
	}

	// The auth log holds the decisions with their reasons (written in batches).
	want := []string{"ok", "bad_password", "suspended", "wrong_service"}
	var rows []authLogJSON
	missing := want
	for i := 0; i < 50 && len(missing) > 0; i++ {
		rows = nil
		if err := json.Unmarshal([]byte(s.MustRun("authlog", "--user", "alice", "--json")), &rows); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.Reason] = true
			if r.NAS != "r1" {
				t.Fatalf("auth log row NAS = %q, want r1", r.NAS)
			}
		}
		missing = nil
		for _, w := range want {
			if !seen[w] {
				missing = append(missing, w)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("auth log for alice lacks reasons %v: %+v", missing, rows)
	}

	// The drops are counted and exported.
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	for _, want := range []string{"tollgate_radius_packets_unknown_nas_total", "tollgate_radius_packets_missing_message_authenticator_total 1", `tollgate_radius_decisions_total{reason="suspended"} 1`} {
		if !strings.Contains(body.String(), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
}

func TestCLIErrors(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("plan", "add", "--name", "p", "--kind", "pppoe")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad kind", []string{"plan", "add", "--name", "x", "--kind", "dsl"}, 1, "kind"},
		{"bad rate limit", []string{"plan", "add", "--name", "x", "--kind", "pppoe", "--rate-limit", "fast"}, 1, "rate-limit"},
		{"bad validity", []string{"plan", "add", "--name", "x", "--kind", "pppoe", "--validity", "soon"}, 1, "validity"},
		{"bad data limit", []string{"plan", "add", "--name", "x", "--kind", "pppoe", "--data-limit", "lots"}, 1, "data-limit"},
		{"duplicate plan", []string{"plan", "add", "--name", "p", "--kind", "pppoe"}, 1, "name"},
		{"unknown plan", []string{"subscriber", "add", "--username", "u", "--password", "p", "--plan", "nope"}, 1, "plan"},
		{"bad mac", []string{"subscriber", "add", "--username", "u", "--password", "p", "--plan", "p", "--mac", "zz"}, 1, "mac"},
		{"bad ip", []string{"subscriber", "add", "--username", "u", "--password", "p", "--plan", "p", "--static-ip", "1.2.3"}, 1, "static-ip"},
		{"mac login without mac", []string{"subscriber", "add", "--username", "u", "--password", "p", "--plan", "p", "--mac-login"}, 1, "mac-login: needs --mac"},
		{"mac login on a pppoe plan", []string{"subscriber", "add", "--username", "u", "--password", "p", "--plan", "p", "--mac", "02:00:00:00:00:01", "--mac-login"}, 1, "mac-login: plan \"p\" is a pppoe plan"},
		{"reserved voucher name", []string{"subscriber", "add", "--username", "voucher-12", "--password", "p", "--plan", "p"}, 1, "username"},
		{"bad status", []string{"subscriber", "set", "--username", "u", "--status", "gone"}, 1, "status"},
		{"bad nas address", []string{"nas", "add", "--name", "n", "--address", "10.0.0", "--secret", "secret1"}, 1, "address"},
		{"short secret", []string{"nas", "add", "--name", "n", "--address", "10.0.0.1", "--secret", "x"}, 1, "secret"},
		{"missing flag", []string{"nas", "add", "--name", "n"}, 2, "--address"},
		{"unknown flag", []string{"plan", "list", "--colour"}, 2, "colour"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := s.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d naming %q", code, errs, out, tc.code, tc.want)
			}
		})
	}
	// Overlapping NAS ranges are refused: the source address alone must pick the secret.
	s.MustRun("nas", "add", "--name", "n1", "--address", "10.0.0.0/24", "--secret", "secret-one-12")
	if code, _, errs := s.run("nas", "add", "--name", "n2", "--address", "10.0.0.9", "--secret", "secret-two-12"); code != 1 || !strings.Contains(errs, "address") {
		t.Fatalf("overlap: exit %d %q", code, errs)
	}
	// --json everywhere.
	var plans []planJSON
	if err := json.Unmarshal([]byte(s.MustRun("plan", "list", "--json")), &plans); err != nil || len(plans) != 1 || plans[0].SharedUsers != 1 {
		t.Fatalf("plan list --json = %+v, %v", plans, err)
	}
}

func TestImportCLI(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("plan", "add", "--name", "p", "--kind", "pppoe")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "imp%05d,pw%05d\n", i, i)
	}
	os.WriteFile(good, []byte(b.String()), 0o600)
	var res map[string]any
	if err := json.Unmarshal([]byte(s.MustRun("subscriber", "import", "--plan", "p", "--file", good, "--json")), &res); err != nil || res["imported"] != float64(2000) {
		t.Fatalf("import = %v, %v", res, err)
	}
	// All or nothing: one bad line imports nothing.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("new1,pw\nnew2\n"), 0o600)
	if code, _, errs := s.run("subscriber", "import", "--plan", "p", "--file", bad); code != 1 || !strings.Contains(errs, "line 2") {
		t.Fatalf("bad import: exit %d %q", code, errs)
	}
	if code, _, _ := s.run("subscriber", "set", "--username", "new1", "--status", "active"); code != 1 {
		t.Fatalf("new1 exists after a failed import")
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	t.Setenv("TOLLGATE_SECRET_KEY", testKey)
	cases := []struct{ name, key, val string }{
		{"secret key short", "TOLLGATE_SECRET_KEY", "abcd"},
		{"secret key missing", "TOLLGATE_SECRET_KEY", ""},
		{"database url missing", "DATABASE_URL", ""},
		{"redis url bad", "REDIS_URL", "http://nope"},
		{"auth addr bad", "TOLLGATE_RADIUS_AUTH_ADDR", "1812"},
		{"http addr bad", "TOLLGATE_HTTP_ADDR", ":99999"},
		{"log level bad", "LOG_LEVEL", "loud"},
		{"trusted proxies bad", "TOLLGATE_TRUSTED_PROXIES", "10.0.0.1,proxy.local"},
		{"admin addr bad", "TOLLGATE_ADMIN_ADDR", "admin.local:8081"},
		{"admin addr is the http addr", "TOLLGATE_ADMIN_ADDR", ":8080"},
		{"session max bad", "TOLLGATE_PORTAL_SESSION_MAX", "forever"},
		{"session max too short", "TOLLGATE_PORTAL_SESSION_MAX", "1m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.key, tc.val)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"config"}, strings.NewReader(""), &out, &errb)
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.key) {
				t.Fatalf("exit %d, stderr %q: want exit 2 and one line naming %s", code, errb.String(), tc.key)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config"}, strings.NewReader(""), &out, &errb); code != 0 || strings.Contains(out.String(), testKey) {
		t.Fatalf("config: exit %d, printed the key or failed: %s %s", code, out.String(), errb.String())
	}
}

func TestServeRefusesOldSchema(t *testing.T) {
	s := MustStack(t, false)
	t.Setenv("DATABASE_URL", radiustest.MustEmptyDBURL(t))
	code, _, errs := s.run("serve")
	if code != 1 || !strings.Contains(errs, "tollgate migrate") {
		t.Fatalf("serve on an empty schema: exit %d, %q", code, errs)
	}
	if out := s.MustRun("migrate"); !strings.Contains(out, "applied 0001_init") {
		t.Fatalf("migrate: %q", out)
	}
	if out := s.MustRun("migrate"); !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %q", out)
	}
}

// TestServePortTaken: a RADIUS port already in use stops serve with an error naming it,
// after stopping what the radius role had started (it once panicked instead).
func TestServePortTaken(t *testing.T) {
	s := MustStack(t, false)
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv("TOLLGATE_RADIUS_AUTH_ADDR", taken.LocalAddr().String())
	code, _, errs := s.run("serve", "--roles", "radius")
	if code != 1 || strings.Contains(errs, "panic") || !strings.Contains(errs, taken.LocalAddr().String()) {
		t.Fatalf("serve on a taken port: exit %d, %q", code, errs)
	}
}
