package routeros_test

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ros "github.com/go-routeros/routeros/v3"

	"tollgate/hotspot/routeros"
	"tollgate/hotspot/routeros/routerostest"
	"tollgate/radius"
)

// target is a NAS whose API is the fake.
func target(r *routerostest.Router, user, password string) radius.RouterTarget {
	return radius.RouterTarget{NASID: 1, NASName: "r1", Prefix: netip.MustParsePrefix("127.0.0.1/32"),
		API: radius.RouterAPI{Address: r.Addr(), User: user, Password: []byte(password)}}
}

// MustPool returns a pool with short timeouts, closed when the test ends.
func MustPool(tb testing.TB, opts routeros.Options) *routeros.Pool {
	tb.Helper()
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 2 * time.Second
	}
	p := routeros.New(opts)
	tb.Cleanup(p.Close)
	return p
}

// waitFor polls cond until it holds or 5 seconds passed.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kind(err error) string {
	var e *routeros.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustRouter(t, "api", "pw-api")
	p := MustPool(t, routeros.Options{})
	h, err := p.Router(target(r, "api", "pw-api")).Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := radius.RouterHealth{NASID: 1, NASName: "r1", Version: "7.18.2 (stable)", BoardName: "hAP ax2",
		Uptime: 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second, CPULoad: 7, FreeMemory: 201326592, TotalMemory: 268435456}
	if h != want {
		t.Fatalf("health\n got %+v\nwant %+v", h, want)
	}
	if cmds := r.Commands(); len(cmds) != 1 || cmds[0] != "/system/resource/print =.proplist=version,uptime,cpu-load,free-memory,total-memory,board-name" {
		t.Fatalf("commands %q", cmds)
	}
	if p.Polls("ok") != 1 || p.Dials() != 1 {
		t.Fatalf("polls ok %d, dials %d", p.Polls("ok"), p.Dials())
	}
}

func TestRefusedLogin(t *testing.T) {
	r := routerostest.MustRouter(t, "api", "pw-api")
	p := MustPool(t, routeros.Options{})
	_, err := p.Router(target(r, "api", "wrong")).Health(context.Background())
	if kind(err) != "login" || !strings.Contains(err.Error(), "invalid user name or password") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err %v (kind %q)", err, kind(err))
	}
	if p.Polls("login") != 1 || r.Logins() != 0 || r.Attempts() != 1 {
		t.Fatalf("polls login %d, logins %d, attempts %d", p.Polls("login"), r.Logins(), r.Attempts())
	}
	if _, err := p.Router(target(r, "api", "pw-api")).Health(context.Background()); err != nil {
		t.Fatalf("after the password changed: %v", err)
	}
}

// TestLibraryEmptyBug shows the bug the wire works around, against the same fake: with
// go-routeros v3.0.0 alone, an empty print on RouterOS 7.18+ fails with `!empty`, and
// its leftover `!done` answers the next command, which then returns nothing.
func TestLibraryEmptyBug(t *testing.T) {
	r := routerostest.MustRouter(t, "api", "pw-api")
	c, err := ros.DialTimeout(r.Addr(), "api", "pw-api", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Run("/ppp/active/print")
	var u *ros.UnknownReplyError
	if !errors.As(err, &u) || u.Sentence.Word != "!empty" {
		t.Fatalf("v3.0.0 no longer fails on !empty (%v): drop the wire's workaround", err)
	}
	reply, err := c.Run("/system/resource/print")
	if err != nil || len(reply.Re) != 0 {
		t.Fatalf("v3.0.0 is in step after !empty (%v, %d entries): drop the wire's workaround", err, len(reply.Re))
	}
}

// TestEmpty: an empty print is an empty result, answered the RouterOS 7.18+ way (!empty,
// !done) or the old way (!done), and the connection stays in step: the next command gets
// its own answer.
func TestEmpty(t *testing.T) {
	ctx := context.Background()
	for _, style := range []bool{true, false} {
		r := routerostest.MustRouter(t, "api", "pw-api")
		r.SetEmptyStyle(style)
		p := MustPool(t, routeros.Options{})
		api := p.Router(target(r, "api", "pw-api"))
		for range 3 {
			list, err := api.ActiveSessions(ctx)
			if err != nil || len(list) != 0 {
				t.Fatalf("!empty %v: active %v, %v", style, list, err)
			}
			h, err := api.Health(ctx)
			if err != nil || h.Version != "7.18.2 (stable)" {
				t.Fatalf("!empty %v: the next command got %+v, %v", style, h, err)
			}
		}
		want := uint64(0)
		if style {
			want = 6 // two lists, three times
		}
		if p.Empties() != want || p.Dials() != 1 {
			t.Fatalf("!empty %v: %d !empty absorbed (want %d), %d dials", style, p.Empties(), want, p.Dials())
		}
	}
}

// TestTimeoutReconnects: a command that times out drops its connection (its answer
// would arrive later and answer the next command), and the next poll dials again.
func TestTimeoutReconnects(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustRouter(t, "api", "pw-api")
	p := MustPool(t, routeros.Options{CallTimeout: 200 * time.Millisecond})
	api := p.Router(target(r, "api", "pw-api"))
	if _, err := api.Health(ctx); err != nil {
		t.Fatal(err)
	}
	r.SetDelay(time.Second)
	start := time.Now()
	_, err := api.Health(ctx)
	if kind(err) != "timeout" || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("slow router: %v (kind %q) after %s", err, kind(err), time.Since(start))
	}
	waitFor(t, "the timed-out connection to close", func() bool { return r.Conns() == 0 })
	r.SetDelay(0)
	h, err := api.Health(ctx)
	if err != nil || h.Version == "" {
		t.Fatalf("after the timeout: %+v, %v", h, err)
	}
	if r.Logins() != 2 || p.Polls("timeout") != 1 || p.Polls("ok") != 2 {
		t.Fatalf("logins %d, timeouts %d, ok %d", r.Logins(), p.Polls("timeout"), p.Polls("ok"))
	}
	// A caller's cancelled context ends a command at once, the same way.
	r.SetDelay(time.Second)
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	if _, err := api.Health(cctx); err == nil || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("cancelled: %v after %s", err, time.Since(start))
	}
}

// TestLoginBounded: go-routeros logs in in sync mode, which ignores contexts; a router
// that never answers the login still fails the poll within the dial timeout.
func TestLoginBounded(t *testing.T) {
	r := routerostest.MustRouter(t, "api", "pw-api")
	r.SetStall(true)
	p := MustPool(t, routeros.Options{DialTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := p.Router(target(r, "api", "pw-api")).Health(context.Background())
	if kind(err) != "timeout" || time.Since(start) > 2*time.Second {
		t.Fatalf("stalled login: %v (kind %q) after %s", err, kind(err), time.Since(start))
	}
	waitFor(t, "the stalled connection to close", func() bool { return r.Conns() == 0 })
}

// TestDropReconnects: a router that closed an idle connection (a reboot) is dialled
// again by the next command, which succeeds.
func TestDropReconnects(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustRouter(t, "api", "pw-api")
	p := MustPool(t, routeros.Options{})
	api := p.Router(target(r, "api", "pw-api"))
	if _, err := api.Health(ctx); err != nil {
		t.Fatal(err)
	}
	r.DropConnections()
	waitFor(t, "the drop", func() bool { return r.Conns() == 0 })
	if _, err := api.Health(ctx); err != nil {
		t.Fatalf("after the drop: %v", err)
	}
	if r.Logins() != 2 {
		t.Fatalf("logins %d, want 2", r.Logins())
	}
	// A router that is off fails the poll, as a connection error.
	r.SetDown(true)
	if _, err := api.Health(ctx); err == nil {
		t.Fatal("a router that is off answered")
	}
}

// TestConcurrent: go-routeros's sync mode is not safe for concurrent use; the adapter
// runs one command at a time per router, so concurrent callers each get their own
// answer (and the race detector sees nothing).
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustRouter(t, "api", "pw-api")
	r.AddPPP("alice", "10.0.0.2", "AA:BB:CC:00:00:01", "0x81500001")
	p := MustPool(t, routeros.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api := p.Router(target(r, "api", "pw-api"))
			for range 20 {
				if g%2 == 0 {
					h, err := api.Health(ctx)
					if err == nil && h.BoardName != "hAP ax2" {
						err = errors.New("health answered with " + h.BoardName)
					}
					errs <- err
					continue
				}
				list, err := api.ActiveSessions(ctx)
				if err == nil && (len(list) != 1 || list[0].User != "alice") {
					err = errors.New("active sessions answered wrong")
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if r.Logins() != 1 {
		t.Fatalf("logins %d, want one connection shared", r.Logins())
	}
}

// TestNoGoroutineLeft: go-routeros's Listen and Async leave a goroutine waiting on
// their context for good; the adapter uses neither, so polls, timeouts, reconnections
// and closing leave no goroutine behind.
func TestNoGoroutineLeft(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustRouter(t, "api", "pw-api")
	settle := func() int {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()
	for i := range 10 {
		p := routeros.New(routeros.Options{CallTimeout: 100 * time.Millisecond})
		api := p.Router(target(r, "api", "pw-api"))
		if _, err := api.Health(ctx); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			r.SetDelay(300 * time.Millisecond)
			_, _ = api.Health(ctx) // times out
			r.SetDelay(0)
		}
		_, _ = api.ActiveSessions(ctx)
		p.Close()
	}
	waitFor(t, "the fake's connections to close", func() bool { return r.Conns() == 0 })
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := settle()
		if n <= before {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestTLS: the login's password goes in clear, so api-ssl: a pinned certificate is
// accepted, a certificate that is not the pinned one or not trusted is refused before
// any login is sent.
func TestTLS(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustTLSRouter(t, "api", "pw-api")
	tg := target(r, "api", "pw-api")
	tg.API.TLS, tg.API.Fingerprint = true, r.Fingerprint()
	p := MustPool(t, routeros.Options{})
	if h, err := p.Router(tg).Health(ctx); err != nil || h.Version == "" {
		t.Fatalf("pinned: %+v, %v", h, err)
	}
	for name, fp := range map[string][]byte{"other pin": make([]byte, 32), "no pin, self-signed": nil} {
		tg := tg
		tg.NASID, tg.API.Fingerprint = 2, fp
		_, err := MustPool(t, routeros.Options{}).Router(tg).Health(ctx)
		if kind(err) != "connect" {
			t.Fatalf("%s: %v (kind %q)", name, err, kind(err))
		}
	}
	plain := tg
	plain.NASID, plain.API.TLS, plain.API.Fingerprint = 3, false, nil
	if _, err := MustPool(t, routeros.Options{DialTimeout: 500 * time.Millisecond}).Router(plain).Health(ctx); err == nil {
		t.Fatal("plain API to api-ssl answered")
	}
	if r.Attempts() != 1 {
		t.Fatalf("%d logins reached the router, want only the pinned one's", r.Attempts())
	}
}

func TestFindAndRemove(t *testing.T) {
	ctx := context.Background()
	r := routerostest.MustRouter(t, "api", "pw-api")
	r.AddPPP("alice", "10.0.0.2", "aa:bb:cc:00:00:01", "0x81500001")
	r.AddHotspot("K7PQ4MQ2", "10.5.50.9", "AA:BB:CC:00:00:09", true)
	r.AddHotspot("local", "10.5.50.10", "AA:BB:CC:00:00:10", false)
	p := MustPool(t, routeros.Options{})
	api := p.Router(target(r, "api", "pw-api"))

	all, err := api.ActiveSessions(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("active %+v, %v", all, err)
	}
	want := radius.RouterSession{List: "ppp", ID: all[0].ID, User: "alice", Address: netip.MustParseAddr("10.0.0.2"),
		MAC: "AA:BB:CC:00:00:01", SessionID: "0x81500001", Uptime: time.Hour + 2*time.Minute + 3*time.Second, RADIUS: true}
	if all[0] != want || all[1].List != "hotspot" || all[1].User != "K7PQ4MQ2" || all[1].Uptime != 5*time.Minute || all[2].RADIUS {
		t.Fatalf("active\n got %+v\nwant %+v first", all, want)
	}
	byUser, err := api.FindActiveSessions(ctx, "alice", netip.Addr{})
	if err != nil || len(byUser) != 1 || byUser[0].User != "alice" {
		t.Fatalf("by user %+v, %v", byUser, err)
	}
	byAddr, err := api.FindActiveSessions(ctx, "voucher-1", netip.MustParseAddr("10.5.50.9"))
	if err != nil || len(byAddr) != 1 || byAddr[0].User != "K7PQ4MQ2" {
		t.Fatalf("by address %+v, %v", byAddr, err)
	}
	cmds := r.Commands()
	for _, c := range []string{"/ppp/active/print =.proplist=.id,name,address,caller-id,session-id,uptime,radius ?name=alice",
		"/ip/hotspot/active/print =.proplist=.id,user,address,mac-address,uptime,radius ?user=alice",
		"/ip/hotspot/active/print =.proplist=.id,user,address,mac-address,uptime,radius ?address=10.5.50.9"} {
		if !slices.Contains(cmds, c) {
			t.Errorf("no command %q in %q", c, cmds)
		}
	}
	for _, s := range append(byUser, byAddr...) {
		if err := api.RemoveActiveSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Removed(); !slices.Equal(got, []string{"ppp:alice", "hotspot:K7PQ4MQ2"}) {
		t.Fatalf("removed %q", got)
	}
	// Removing it again is the router's !trap, an error that keeps the connection.
	if err := api.RemoveActiveSession(ctx, byUser[0]); err == nil || !strings.Contains(err.Error(), "no such item") {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := api.Health(ctx); err != nil || r.Logins() != 1 {
		t.Fatalf("after a !trap: %v, %d logins", err, r.Logins())
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5s", 5 * time.Second, true},
		{"1w2d3h4m5s", 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second, true},
		{"3m", 3 * time.Minute, true},
		{"1s500ms", 1500 * time.Millisecond, true},
		{"2d00:00:05", 48*time.Hour + 5*time.Second, true},
		{"01:02:03", time.Hour + 2*time.Minute + 3*time.Second, true},
		{"1w1d01:00:00", 8*24*time.Hour + time.Hour, true},
		{"", 0, false},
		{"5", 0, false},
		{"5x", 0, false},
		{"1s2m", 0, false},
		{"1:2", 0, false},
		{"h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := routeros.ParseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1w2d3h4m5s", "2d00:00:05", "1s500ms", "", "99999999999s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := routeros.ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %s", s, d)
		}
	})
}

// TestOnlyImporter keeps go-routeros behind this adapter: no other package imports it
// (this package's fake for tests aside).
func TestOnlyImporter(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "tollgate/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg == "tollgate/hotspot/routeros" || pkg == "tollgate/hotspot/routeros/routerostest" {
			continue
		}
		if strings.Contains(" "+imports+" ", " github.com/go-routeros/") || strings.Contains(imports, "github.com/go-routeros/") {
			t.Errorf("%s imports go-routeros", pkg)
		}
	}
}
