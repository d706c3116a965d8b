package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/hotspot/routeros/routerostest"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
)

// apiPassword returns the API password stored for the NAS called name, opened bound to
// row id (its own, or another to show the binding).
func (s *stack) apiPassword(t *testing.T, name string, row int64) (string, error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, mustEnv(t, "DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var sealed []byte
	if err := conn.QueryRow(ctx, `SELECT api_password FROM nas WHERE name = $1`, name).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	defer e.close()
	d, err := e.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.sealer.Open(sealed, radius.SealNASAPIPassword.AD(row))
	return string(b), err
}

func (s *stack) nasJSON(t *testing.T, name string) nasJSON {
	t.Helper()
	var list []nasJSON
	if err := json.Unmarshal([]byte(s.MustRun("nas", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no NAS %s", name)
	return nasJSON{}
}

// TestNASAPICommands: `nas set --api-*` stores the API with its password sealed bound to
// the NAS's row, warns when it logs in in clear, and `nas list` shows the API (never the
// password); `nas check` polls it, records the heartbeat and marks it down after
// TOLLGATE_ROUTER_DOWN_AFTER missed polls.
func TestNASAPICommands(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_ROUTER_DOWN_AFTER", "2")
	router := routerostest.MustRouter(t, "tollgate", "pw-api-1")
	tlsRouter := routerostest.MustTLSRouter(t, "tollgate", "pw-api-2")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw-api-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", "nas-secret-123")
	s.MustRun("nas", "add", "--name", "r2", "--address", "127.0.0.2", "--secret", "nas-secret-456")

	code, out, errs := s.runIn("", "nas", "set", "--name", "r1", "--api-address", router.Addr(), "--api-user", "tollgate", "--api-password-file", pwFile, "--json")
	var n nasJSON
	if code != 0 || json.Unmarshal([]byte(out), &n) != nil {
		t.Fatalf("nas set: exit %d %s %s", code, out, errs)
	}
	if n.API == nil || n.API.Address != router.Addr() || n.API.User != "tollgate" || n.API.TLS || !strings.Contains(errs, "password in clear") {
		t.Fatalf("nas set = %+v, stderr %q", n, errs)
	}
	if pw, err := s.apiPassword(t, "r1", n.ID); err != nil || pw != "pw-api-1" {
		t.Fatalf("stored password %q, %v", pw, err)
	}
	if _, err := s.apiPassword(t, "r1", n.ID+1); err == nil {
		t.Fatal("the sealed API password opens bound to another row")
	}
	// Over TLS, with the certificate pinned, and the password on stdin: no warning.
	fp := strings.ToUpper(hex.EncodeToString(tlsRouter.Fingerprint()))
	code, _, errs = s.runIn("pw-api-2\n", "nas", "set", "--name", "r2", "--api-address", tlsRouter.Addr(), "--api-user", "tollgate",
		"--api-password", "-", "--api-tls", "--api-tls-fingerprint", fp)
	if code != 0 || strings.Contains(errs, "warning") {
		t.Fatalf("nas set TLS: exit %d %s", code, errs)
	}
	list := s.MustRun("nas", "list")
	if !strings.Contains(list, "ROUTEROS API") || !strings.Contains(list, router.Addr()) || !strings.Contains(list, tlsRouter.Addr()+" (tls)") || strings.Contains(list, "pw-api") {
		t.Fatalf("nas list:\n%s", list)
	}
	if j := s.MustRun("nas", "list", "--json"); strings.Contains(j, "pw-api") || strings.Contains(j, "password") {
		t.Fatalf("nas list --json shows the password: %s", j)
	}

	// nas check polls now and records it.
	var st routerStateJSON
	for _, name := range []string{"r1", "r2"} {
		if err := json.Unmarshal([]byte(s.MustRun("nas", "check", "--name", name, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if !st.OK || st.Version != "7.18.2 (stable)" || st.BoardName != "hAP ax2" || st.CPULoad != 7 || st.TotalMemory != 268435456 || st.Uptime != 788645 {
			t.Fatalf("nas check %s = %+v", name, st)
		}
	}
	mustContain(t, s.MustRun("nas", "check", "--name", "r1"), "r1 ("+router.Addr()+"): RouterOS 7.18.2 (stable) on hAP ax2, up 219h4m5s, CPU 7%", "; up")
	if n := s.nasJSON(t, "r1"); n.Router != "up" {
		t.Fatalf("nas list after a check: %+v", n)
	}
	// Two missed polls: down.
	router.SetDown(true)
	for i := 1; i <= 2; i++ {
		code, out, errs := s.run("nas", "check", "--name", "r1", "--json")
		if code != 1 || json.Unmarshal([]byte(out), &st) != nil || st.OK || st.Failures != i || st.Down != (i == 2) || st.Version != "7.18.2 (stable)" {
			t.Fatalf("check %d while down: exit %d %s %s", i, code, out, errs)
		}
		if i == 2 && !strings.Contains(errs, "router r1 is down") {
			t.Fatalf("no alert logged: %s", errs)
		}
	}
	if n := s.nasJSON(t, "r1"); n.Router != "down" {
		t.Fatalf("nas list while down: %+v", n)
	}
	router.SetDown(false)
	code, _, errs = s.run("nas", "check", "--name", "r1")
	if code != 0 || !strings.Contains(errs, "router r1 is up again") {
		t.Fatalf("check once up: exit %d %s", code, errs)
	}

	// A wrong pin is refused before the login.
	s.MustRun("nas", "set", "--name", "r2", "--api-tls-fingerprint", strings.Repeat("00", 32))
	if code, _, errs := s.run("nas", "check", "--name", "r2"); code != 1 || !strings.Contains(errs, "did not answer") {
		t.Fatalf("wrong pin: exit %d %s", code, errs)
	}
	// The API goes, with everything in it.
	s.MustRun("nas", "set", "--name", "r2", "--api-address", "")
	if n := s.nasJSON(t, "r2"); n.API != nil || n.Router != "" {
		t.Fatalf("after removal: %+v", n)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"bad address", []string{"--name", "r2", "--api-address", "http://r2", "--api-user", "u", "--api-password", "p"}, "", 1, "api_address: "},
		{"bad port", []string{"--name", "r2", "--api-address", "10.0.0.2:0", "--api-user", "u", "--api-password", "p"}, "", 1, "api_address: "},
		{"incomplete", []string{"--name", "r2", "--api-address", "10.0.0.2"}, "", 1, "an API needs an address, a user and a password"},
		{"bad user", []string{"--name", "r1", "--api-user", "has space"}, "", 1, "api_user: "},
		{"bad fingerprint", []string{"--name", "r1", "--api-tls-fingerprint", "abc"}, "", 1, "api_tls_fingerprint: "},
		{"pin without TLS", []string{"--name", "r1", "--api-tls-fingerprint", strings.Repeat("00", 32)}, "", 1, "a pinned fingerprint needs TLS"},
		{"remove with more", []string{"--name", "r1", "--api-address", "", "--api-user", "x"}, "", 2, "removes the API"},
		{"two stdin", []string{"--name", "r1", "--secret", "-", "--api-password", "-"}, "a\nb\n", 2, "only one of --secret and --api-password"},
		{"empty password file", []string{"--name", "r1", "--api-password-file", os.DevNull}, "", 1, "api-password-file: "},
		{"no API to check", []string{"--name", "r2"}, "", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := []string{"nas", "set"}
			if tc.name == "no API to check" {
				cmd = []string{"nas", "check"}
				tc.want = `NAS "r2" has no RouterOS API`
			}
			code, out, errs := s.runIn(tc.stdin, append(cmd, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d, stderr with %q", code, errs, out, tc.code, tc.want)
			}
		})
	}
	// r1's API survived the refused changes.
	if pw, err := s.apiPassword(t, "r1", n.ID); err != nil || pw != "pw-api-1" {
		t.Fatalf("r1's password after refused changes: %q, %v", pw, err)
	}
}

// silentUDP returns a UDP port on 127.0.0.1 that takes datagrams and never answers: a
// router whose `/radius incoming` is off.
func silentUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).Port
}

// coaLog returns user's CoA log results, oldest first.
func (s *stack) coaLog(t *testing.T, user string) []string {
	t.Helper()
	ctx := context.Background()
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	defer e.close()
	d, err := e.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := radiuspg.New(d.pool).FindCoALog(ctx, user, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(rows) - 1; i >= 0; i-- {
		out = append(out, rows[i].Kind+":"+rows[i].Result)
	}
	return out
}

// TestE2ERouterOS runs serve with a fake router's API and radclient accounting: cron
// polls the router's health (down after missed polls, up again, at /metrics), closes
// the session the router no longer has with Lost-Carrier and reports the one RADIUS
// does not know; `session disconnect --via api` removes a session from the router, and
// the default disconnect falls back to the API when the Disconnect-Request times out
// and when the NAS has no CoA port.
func TestE2ERouterOS(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_CRON_INTERVAL", "1s")
	t.Setenv("TOLLGATE_REAPER_GRACE", "10m") // the reaper stays out of it
	t.Setenv("TOLLGATE_ROUTER_DOWN_AFTER", "2")
	t.Setenv("LOG_LEVEL", "info")
	const secret = "routeros-secret-1"
	router := routerostest.MustRouter(t, "tollgate", "pw-api")
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(silentUDP(t)))
	s.MustRun("nas", "set", "--name", "r1", "--api-address", router.Addr(), "--api-user", "tollgate", "--api-password", "pw-api")
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--interim", "30s", "--shared-users", "2")
	users := []string{"alice", "bob", "carol", "dave"}
	for i, u := range users {
		s.MustRun("subscriber", "add", "--username", u, "--password", "pw-"+u, "--plan", "home")
		// On the router, except carol, whose session ended without a Stop reaching us.
		if u != "carol" {
			router.AddPPP(u, fmt.Sprintf("10.0.0.%d", 10+i), fmt.Sprintf("AA:00:00:00:00:%02d", i), fmt.Sprintf("0x8150000%d", i))
		}
	}
	router.AddPPP("mallory", "10.0.0.99", "AA:00:00:00:00:99", "0x81500099") // RADIUS never heard of it
	s.serve()
	// Every session started two minutes ago: past the reconciliation margin (two
	// interim intervals).
	for i, u := range users {
		s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Start,Acct-Session-Id=8150000%d,User-Name=%s,Framed-IP-Address=10.0.0.%d,Calling-Station-Id=AA:00:00:00:00:%02d,NAS-Identifier=r1,Acct-Delay-Time=120", i, u, 10+i, i))
	}

	eventually(t, "carol's session closed by reconciliation", func() string {
		if x := s.session("carol", "81500002"); x.Online || x.TerminateCause != "Lost-Carrier" {
			return fmt.Sprintf("carol: %+v\n%s", x, s.serveLog.String())
		}
		return ""
	})
	for _, u := range []string{"alice", "bob", "dave"} {
		if on := s.sessions("--user", u, "--online"); len(on) != 1 {
			t.Fatalf("%s is not online: %+v", u, on)
		}
	}
	eventually(t, "mallory reported", func() string {
		if !strings.Contains(s.serveLog.String(), "sessions on the router that tollgate has no accounting for") || !strings.Contains(s.serveLog.String(), "ppp:mallory") {
			return "not logged yet"
		}
		return ""
	})
	var rec reconcileJSON
	if err := json.Unmarshal([]byte(s.MustRun("nas", "reconcile", "--name", "r1", "--json")), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Closed) != 0 || len(rec.Unknown) != 1 || rec.Unknown[0].User != "mallory" || !rec.Unknown[0].RADIUS || rec.Unknown[0].Address != "10.0.0.99" {
		t.Fatalf("nas reconcile = %+v", rec)
	}
	if n := s.nasJSON(t, "r1"); n.Router != "up" {
		t.Fatalf("nas list: %+v", n)
	}

	// --via api: straight to the router's active list.
	var res []coaJSON
	if err := json.Unmarshal([]byte(s.MustRun("session", "disconnect", "--user", "alice", "--via", "api", "--json")), &res); err != nil || len(res) != 1 || res[0].Result != "api-removed" {
		t.Fatalf("disconnect --via api: %+v, %v", res, err)
	}
	// By default a Disconnect-Request first; the router never answers it, so the API.
	start := time.Now()
	if err := json.Unmarshal([]byte(s.MustRun("session", "disconnect", "--user", "bob", "--json")), &res); err != nil || len(res) != 1 || res[0].Result != "api-removed" {
		t.Fatalf("disconnect after a CoA timeout: %+v, %v", res, err)
	}
	if time.Since(start) < 2*time.Second {
		t.Fatalf("bob disconnected in %s: no Disconnect-Request was waited for", time.Since(start))
	}
	// A NAS without a CoA port goes to the API at once; --via coa refuses it.
	s.MustRun("nas", "set", "--name", "r1", "--coa-port", "0")
	if code, _, errs := s.run("session", "disconnect", "--user", "dave", "--via", "coa"); code != 1 || !strings.Contains(errs, "CoA port 0") {
		t.Fatalf("--via coa without a CoA port: exit %d %s", code, errs)
	}
	if err := json.Unmarshal([]byte(s.MustRun("session", "disconnect", "--id", "81500003", "--json")), &res); err != nil || len(res) != 1 || res[0].Result != "api-removed" || res[0].Username != "dave" {
		t.Fatalf("disconnect without a CoA port: %+v, %v", res, err)
	}
	if got := router.Removed(); !slices.Equal(got, []string{"ppp:alice", "ppp:bob", "ppp:dave"}) {
		t.Fatalf("removed on the router: %q", got)
	}
	for user, want := range map[string][]string{
		"alice": {"disconnect:api-removed"},
		"bob":   {"disconnect:timeout", "disconnect:api-removed"},
		"dave":  {"disconnect:api-removed"},
	} {
		if got := s.coaLog(t, user); !slices.Equal(got, want) {
			t.Errorf("CoA log of %s: %q, want %q", user, got, want)
		}
	}
	// The router sent no Stop for them (a fake): reconciliation closes them.
	eventually(t, "disconnected sessions closed by reconciliation", func() string {
		if on := s.sessions("--online"); len(on) != 0 {
			return fmt.Sprintf("still online: %+v\n%s", on, s.serveLog.String())
		}
		return ""
	})

	// The router goes off: down after two missed polls, with an alert; then up again.
	if v := s.metricValue(`tollgate_routeros_polls_total{result="ok"}`); v < 1 {
		t.Fatalf("ok polls %v", v)
	}
	router.SetDown(true)
	eventually(t, "router down", func() string {
		if s.metric(t, "tollgate_routeros_routers_down") != "1" || !strings.Contains(s.serveLog.String(), "tollgate: router r1 is down") {
			return "not down yet"
		}
		return ""
	})
	router.SetDown(false)
	eventually(t, "router up", func() string {
		if s.metric(t, "tollgate_routeros_routers_down") != "0" || !strings.Contains(s.serveLog.String(), "tollgate: router r1 is up again") {
			return "not up yet"
		}
		return ""
	})
	if v := s.metricValue(`tollgate_routeros_polls_total{result="connect"}`) + s.metricValue(`tollgate_routeros_polls_total{result="error"}`) +
		s.metricValue(`tollgate_routeros_polls_total{result="login"}`); v < 2 {
		t.Fatalf("failed polls counted %v", v)
	}
}

// TestRouterAlertEmail: a router that goes down and comes back is an email to each
// enabled portal admin (through the notifications' queue), as well as a log line.
func TestRouterAlertEmail(t *testing.T) {
	s := mustNotifyStack(t)
	t.Setenv("TOLLGATE_ROUTER_DOWN_AFTER", "1")
	router := routerostest.MustRouter(t, "tollgate", "pw-api")
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", "nas-secret-123")
	s.MustRun("nas", "set", "--name", "r1", "--api-address", router.Addr(), "--api-user", "tollgate", "--api-password", "pw-api", "--api-tls=false")
	if code, out, errs := s.runWithStdin("correct-horse-battery\n", "admin", "add", "--email", "ops@example.net"); code != 0 {
		t.Fatalf("admin add: exit %d %s%s", code, out, errs)
	}
	router.SetDown(true)
	if code, _, errs := s.run("nas", "check", "--name", "r1"); code != 1 || !strings.Contains(errs, "tollgate: router r1 is down") {
		t.Fatalf("check while down: exit %d %s", code, errs)
	}
	router.SetDown(false)
	s.MustRun("nas", "check", "--name", "r1")
	s.MustRun("notify", "run")
	got := map[string]bool{}
	for _, m := range s.smtp.WaitMails(t, 2) {
		if len(m.To) != 1 || m.To[0] != "ops@example.net" {
			t.Fatalf("mail to %v:\n%s", m.To, m.Data)
		}
		for _, subject := range []string{"tollgate: router r1 is down", "tollgate: router r1 is up again"} {
			if strings.Contains(string(m.Data), "Subject: "+subject+"\r\n") {
				got[subject] = true
			}
		}
	}
	if len(got) != 2 {
		t.Fatalf("alerts mailed: %v", got)
	}
}
