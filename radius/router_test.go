package radius

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestParseAPIAddress(t *testing.T) {
	tests := []struct {
		in   string
		tls  bool
		want string
	}{
		{"10.0.0.1", false, "10.0.0.1:8728"},
		{"10.0.0.1", true, "10.0.0.1:8729"},
		{" 10.0.0.1:9000 ", true, "10.0.0.1:9000"},
		{"Router.Example.NET.", false, "router.example.net:8728"},
		{"fd00::1", false, "[fd00::1]:8728"},
		{"[fd00::1]:8729", true, "[fd00::1]:8729"},
		{"::ffff:10.0.0.1", false, "10.0.0.1:8728"},
		{"", false, ""},
		{"10.0.0.1:0", false, ""},
		{"10.0.0.1:70000", false, ""},
		{"10.0.0.1:api", false, ""},
		{"bad_host", false, ""},
		{"http://10.0.0.1", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAPIAddress(tt.in, tt.tls)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Fatalf("ParseAPIAddress(%q, %v) = %q, %v; want %q", tt.in, tt.tls, got, err, tt.want)
			}
			if err != nil && (ErrorCode(err) != EINVALID || ErrorMessage(err)[:12] != "api_address:") {
				t.Fatalf("error %v", err)
			}
		})
	}
}

func TestAPIChecks(t *testing.T) {
	for _, u := range []string{"", "with space", "tab\there", string(make([]byte, MaxAPIUser+1))} {
		if err := CheckAPIUser(u); ErrorCode(err) != EINVALID {
			t.Errorf("CheckAPIUser(%q) = %v", u, err)
		}
	}
	if err := CheckAPIUser("tollgate-ro"); err != nil {
		t.Error(err)
	}
	if CheckAPIPassword(nil) == nil || CheckAPIPassword(make([]byte, MaxAPIPassword+1)) == nil || CheckAPIPassword([]byte("x")) != nil {
		t.Error("CheckAPIPassword")
	}
	fp := "AB:CD:" + "00112233445566778899aabbccddeeff00112233445566778899aabbccdd"
	if b, err := ParseFingerprint(fp); err != nil || len(b) != 32 || b[0] != 0xAB {
		t.Errorf("ParseFingerprint: %x, %v", b, err)
	}
	for _, bad := range []string{"", "abcd", "zz" + fp[2:]} {
		if _, err := ParseFingerprint(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ParseFingerprint(%q) = %v", bad, err)
		}
	}
}

// TestRouterStateApply: a router goes down on the downAfter-th missed poll in a row,
// once, and comes up on the next success, once.
func TestRouterStateApply(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := func(min int) RouterHealth {
		return RouterHealth{NASID: 1, NASName: "r1", PolledAt: t0.Add(time.Duration(min) * time.Minute), Version: "7.18"}
	}
	fail := func(min int) RouterHealth {
		return RouterHealth{NASID: 1, NASName: "r1", PolledAt: t0.Add(time.Duration(min) * time.Minute), Error: "refused"}
	}
	tests := []struct {
		name      string
		polls     []RouterHealth
		downAfter int
		want      []RouterTransition
		down      bool
		failures  int
		since     time.Time
	}{
		{"always up", []RouterHealth{ok(0), ok(1)}, 3, []RouterTransition{"", ""}, false, 0, time.Time{}},
		{"two misses are not down", []RouterHealth{ok(0), fail(1), fail(2), ok(3)}, 3, []RouterTransition{"", "", "", ""}, false, 0, time.Time{}},
		{"third miss is down, once", []RouterHealth{ok(0), fail(1), fail(2), fail(3), fail(4)}, 3,
			[]RouterTransition{"", "", "", RouterWentDown, ""}, true, 4, t0.Add(3 * time.Minute)},
		{"up again on the next success", []RouterHealth{fail(1), fail(2), fail(3), ok(4), ok(5)}, 3,
			[]RouterTransition{"", "", RouterWentDown, RouterCameUp, ""}, false, 0, t0.Add(4 * time.Minute)},
		{"never reached goes down too", []RouterHealth{fail(0)}, 1, []RouterTransition{RouterWentDown}, true, 1, t0},
		{"down after below 1 counts as 1", []RouterHealth{fail(0)}, 0, []RouterTransition{RouterWentDown}, true, 1, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s RouterState
			var got []RouterTransition
			for _, h := range tt.polls {
				var tr RouterTransition
				s, tr = s.Apply(h, tt.downAfter)
				got = append(got, tr)
			}
			if !slices.Equal(got, tt.want) || s.Down != tt.down || s.Failures != tt.failures || !s.Since.Equal(tt.since) {
				t.Fatalf("transitions %q down %v failures %d since %s; want %q %v %d %s", got, s.Down, s.Failures, s.Since, tt.want, tt.down, tt.failures, tt.since)
			}
			last := tt.polls[len(tt.polls)-1]
			if !s.PolledAt.Equal(last.PolledAt) || s.Error != last.Error {
				t.Fatalf("last poll not kept: %+v", s)
			}
			// The last success stays, whatever followed it.
			for i := len(tt.polls) - 1; i >= 0; i-- {
				if tt.polls[i].OK() {
					if s.Health != tt.polls[i] {
						t.Fatalf("health %+v, want the last success %+v", s.Health, tt.polls[i])
					}
					break
				}
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr
	sess := func(id, user, mac, addr string, age time.Duration) Session {
		s := Session{NASID: 1, SessionID: id, Username: user, MAC: mac, StartedAt: now.Add(-age), Interim: 60}
		if addr != "" {
			s.FramedIP = ip(addr)
		}
		return s
	}
	open := []Session{
		sess("81500001", "alice", "AA:00:00:00:00:01", "10.0.0.2", time.Hour),      // on the router (session id)
		sess("81500002", "bob", "", "10.0.0.3", time.Hour),                         // on the router (user + address)
		sess("80100003", "voucher-7", "AA:00:00:00:00:07", "10.5.50.7", time.Hour), // code voucher: router shows the code
		sess("81500004", "carol", "", "10.0.0.4", time.Hour),                       // gone
		sess("81500005", "carol", "", "10.0.0.5", time.Hour),                       // carol's other session, still there
		sess("81500006", "dave", "", "10.0.0.6", time.Minute),                      // gone but too young to judge
		sess("81500007", "erin", "", "", time.Hour),                                // no address: by user
		sess("81500008", "frank", "", "10.0.0.8", time.Hour),                       // address reused by someone else: gone
	}
	active := []RouterSession{
		{List: "ppp", ID: "*1", User: "alice", Address: ip("10.0.0.99"), SessionID: "0x81500001"},
		{List: "ppp", ID: "*2", User: "bob", Address: ip("10.0.0.3")},
		{List: "hotspot", ID: "*3", User: "K7PQ4MQ2", Address: ip("10.5.50.7"), MAC: "AA:00:00:00:00:07"},
		{List: "ppp", ID: "*4", User: "carol", Address: ip("10.0.0.5")},
		{List: "ppp", ID: "*5", User: "erin", Address: ip("10.0.0.77")},
		{List: "ppp", ID: "*6", User: "mallory", Address: ip("10.0.0.8"), RADIUS: true},
		{List: "hotspot", ID: "*7", User: "local", Address: ip("10.5.50.8")},
	}
	gone, unknown := Reconcile(open, active, now)
	var goneIDs, unknownIDs []string
	for _, s := range gone {
		goneIDs = append(goneIDs, s.SessionID)
	}
	for _, e := range unknown {
		unknownIDs = append(unknownIDs, e.ID)
	}
	if !slices.Equal(goneIDs, []string{"81500004", "81500008"}) {
		t.Errorf("gone %q", goneIDs)
	}
	if !slices.Equal(unknownIDs, []string{"*6", "*7"}) {
		t.Errorf("unknown %q", unknownIDs)
	}
	if m := ReconcileMargin(0); m != 10*time.Minute {
		t.Errorf("margin without interim %s", m)
	}
}

func TestPickRouterSessions(t *testing.T) {
	ip := netip.MustParseAddr
	found := []RouterSession{
		{List: "ppp", ID: "*1", User: "alice", Address: ip("10.0.0.2")},
		{List: "ppp", ID: "*2", User: "alice", Address: ip("10.0.0.3")},
	}
	s := LiveSession{Key: SessionKey{NASID: 1, SessionID: "81500002"}, Username: "alice", FramedIP: ip("10.0.0.3")}
	if got, err := PickRouterSessions(found, s); err != nil || len(got) != 1 || got[0].ID != "*2" {
		t.Fatalf("by address: %+v, %v", got, err)
	}
	s.FramedIP = ip("10.0.0.9")
	if got, err := PickRouterSessions(found, s); err != nil || len(got) != 0 {
		t.Fatalf("gone: %+v, %v", got, err)
	}
	s.FramedIP = netip.Addr{}
	if _, err := PickRouterSessions(found, s); ErrorCode(err) != EINVALID {
		t.Fatalf("ambiguous: %v", err)
	}
}
