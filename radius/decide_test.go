package radius

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	base := func() Account {
		return Account{ID: 7, Username: "alice", Status: StatusActive, Kind: KindPPPoE, RateLimit: "2M/4M",
			Interim: 5 * time.Minute, Pool: "pool1", AddressList: "subs", SharedUsers: 1}
	}
	ppp := AuthRequest{Username: "alice", Service: ServiceFramed, CallingStationID: "AA:BB:CC:DD:EE:FF"}
	hs := AuthRequest{Username: "alice", Service: ServiceLogin, CallingStationID: "AA:BB:CC:DD:EE:FF"}
	cases := []struct {
		name   string
		req    AuthRequest
		edit   func(a *Account)
		usage  Usage
		reason Reason
		check  func(t *testing.T, d Decision)
	}{
		{name: "accept with attributes", req: ppp, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			if !d.Accept || d.RateLimit != "2M/4M" || d.Interim != 300 || d.Pool != "pool1" || d.AddressList != "subs" || d.Class != "tg:7" || d.SessionTimeout != 0 || d.DataLimited {
				t.Fatalf("decision %+v", d)
			}
		}},
		{name: "suspended", req: ppp, edit: func(a *Account) { a.Status = StatusSuspended }, reason: ReasonSuspended},
		{name: "disabled", req: ppp, edit: func(a *Account) { a.Status = StatusDisabled }, reason: ReasonDisabled},
		{name: "unknown status is disabled", req: ppp, edit: func(a *Account) { a.Status = "weird" }, reason: ReasonDisabled},
		{name: "not yet valid", req: ppp, edit: func(a *Account) { a.ValidFrom = now.Add(time.Hour) }, reason: ReasonNotYetValid},
		{name: "expired exactly now", req: ppp, edit: func(a *Account) { a.ValidUntil = now }, reason: ReasonExpired},
		{name: "validity gives session timeout", req: ppp, edit: func(a *Account) { a.ValidUntil = now.Add(90 * time.Minute) }, reason: ReasonOK,
			check: func(t *testing.T, d Decision) {
				if d.SessionTimeout != 5400 {
					t.Fatalf("SessionTimeout = %d, want 5400", d.SessionTimeout)
				}
			}},
		{name: "far future validity is capped", req: ppp, edit: func(a *Account) { a.ValidUntil = now.AddDate(200, 0, 0) }, reason: ReasonOK,
			check: func(t *testing.T, d Decision) {
				if d.SessionTimeout != uint32(maxSessionTimeout/time.Second) {
					t.Fatalf("SessionTimeout = %d, want the 10-year cap", d.SessionTimeout)
				}
			}},
		{name: "sub-second validity rounds up", req: ppp, edit: func(a *Account) { a.ValidUntil = now.Add(400 * time.Millisecond) }, reason: ReasonOK,
			check: func(t *testing.T, d Decision) {
				if d.SessionTimeout != 1 {
					t.Fatalf("SessionTimeout = %d, want 1", d.SessionTimeout)
				}
			}},
		{name: "uptime left is smaller than validity", req: hs, edit: func(a *Account) {
			a.Kind, a.UptimeLimit, a.ValidUntil = KindHotspot, time.Hour, now.Add(48*time.Hour)
		}, usage: Usage{Uptime: 20 * time.Minute}, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			if d.SessionTimeout != 2400 {
				t.Fatalf("SessionTimeout = %d, want 2400", d.SessionTimeout)
			}
		}},
		{name: "uptime exhausted", req: hs, edit: func(a *Account) { a.Kind, a.UptimeLimit = KindHotspot, time.Hour }, usage: Usage{Uptime: time.Hour}, reason: ReasonUptimeExhausted},
		{name: "data left", req: hs, edit: func(a *Account) { a.Kind, a.DataLimit = KindHotspot, 5<<30 }, usage: Usage{Bytes: 1 << 30}, reason: ReasonOK,
			check: func(t *testing.T, d Decision) {
				if !d.DataLimited || d.DataLeft != 4<<30 {
					t.Fatalf("data left %d limited %v", d.DataLeft, d.DataLimited)
				}
			}},
		{name: "data exhausted", req: hs, edit: func(a *Account) { a.Kind, a.DataLimit = KindHotspot, 100 }, usage: Usage{Bytes: 100}, reason: ReasonDataExhausted},
		{name: "mac bound matches", req: ppp, edit: func(a *Account) { a.MAC = "AA:BB:CC:DD:EE:FF" }, reason: ReasonOK},
		{name: "mac bound other device", req: ppp, edit: func(a *Account) { a.MAC = "AA:BB:CC:DD:EE:00" }, reason: ReasonMACMismatch},
		{name: "pppoe plan on hotspot", req: hs, reason: ReasonWrongService},
		{name: "hotspot plan on pppoe", req: ppp, edit: func(a *Account) { a.Kind = KindHotspot }, reason: ReasonWrongService},
		{name: "unknown service allowed", req: AuthRequest{Username: "alice"}, reason: ReasonOK},
		{name: "shared users reached", req: ppp, usage: Usage{Online: 1}, reason: ReasonTooManySessions},
		{name: "shared users unlimited", req: ppp, edit: func(a *Account) { a.SharedUsers = 0 }, usage: Usage{Online: 50}, reason: ReasonOK},
		{name: "static ip", req: ppp, edit: func(a *Account) { a.StaticIP = netip.MustParseAddr("10.0.0.9") }, reason: ReasonOK,
			check: func(t *testing.T, d Decision) {
				if d.FramedIP != netip.MustParseAddr("10.0.0.9") {
					t.Fatalf("FramedIP = %v", d.FramedIP)
				}
			}},
		// Subscriptions: the state decides, not the validity window.
		{name: "subscription active ignores an ended validity", req: ppp, edit: func(a *Account) {
			a.Subscription, a.ValidFrom, a.ValidUntil = SubscriptionActive, now.Add(time.Hour), now.Add(-time.Hour)
		}, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			if d.RateLimit != "2M/4M" || d.Pool != "pool1" || d.SessionTimeout != 0 {
				t.Fatalf("decision %+v", d)
			}
		}},
		{name: "subscription in grace is normal service", req: ppp, edit: func(a *Account) {
			a.Subscription, a.ValidUntil = SubscriptionGrace, now.Add(-time.Hour)
			a.IsolationPlanID, a.IsolationRateLimit = 3, "128k/128k"
		}, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			if d.RateLimit != "2M/4M" || d.AddressList != "subs" {
				t.Fatalf("decision %+v", d)
			}
		}},
		{name: "cancelled subscription falls back to validity", req: ppp, edit: func(a *Account) {
			a.Subscription, a.ValidUntil = SubscriptionCancelled, now
		}, reason: ReasonExpired},
		{name: "isolated without isolation plan", req: ppp, edit: func(a *Account) { a.Subscription = SubscriptionIsolated }, reason: ReasonUnpaid},
		{name: "isolated but suspended says suspended", req: ppp, edit: func(a *Account) {
			a.Subscription, a.Status = SubscriptionIsolated, StatusSuspended
		}, reason: ReasonSuspended},
		{name: "isolated with isolation plan", req: ppp, edit: func(a *Account) {
			a.Subscription, a.ValidUntil = SubscriptionIsolated, now.Add(-time.Hour)
			a.IsolationPlanID, a.IsolationRateLimit, a.IsolationPool, a.IsolationAddressList = 3, "256k/256k", "expired-pool", "tollgate-isolated"
			a.StaticIP, a.DataLimit, a.UptimeLimit = netip.MustParseAddr("10.0.0.9"), 100, time.Minute
		}, usage: Usage{Bytes: 1000, Uptime: time.Hour}, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			want := Decision{Accept: true, Reason: ReasonOK, SessionTimeout: 600, Interim: 300, RateLimit: "256k/256k",
				Pool: "expired-pool", AddressList: "tollgate-isolated", Class: "tg:7", UserName: "alice"}
			if d != want {
				t.Fatalf("decision %+v\nwant     %+v", d, want)
			}
		}},
		{name: "isolated keeps the static address without an isolation pool", req: ppp, edit: func(a *Account) {
			a.Subscription, a.IsolationPlanID, a.IsolationAddressList = SubscriptionIsolated, 3, "tollgate-isolated"
			a.StaticIP = netip.MustParseAddr("10.0.0.9")
		}, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			if d.FramedIP != netip.MustParseAddr("10.0.0.9") || d.Pool != "" || d.RateLimit != "" || d.AddressList != "tollgate-isolated" || d.SessionTimeout != 600 {
				t.Fatalf("decision %+v", d)
			}
		}},
		{name: "isolated still checks the device", req: ppp, edit: func(a *Account) {
			a.Subscription, a.IsolationPlanID, a.MAC = SubscriptionIsolated, 3, "AA:BB:CC:DD:EE:00"
		}, reason: ReasonMACMismatch},
		{name: "isolated still checks shared users", req: ppp, edit: func(a *Account) {
			a.Subscription, a.IsolationPlanID = SubscriptionIsolated, 3
		}, usage: Usage{Online: 1}, reason: ReasonTooManySessions},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			if tc.edit != nil {
				tc.edit(&a)
			}
			d := Decide(&tc.req, &a, tc.usage, now)
			if d.Reason != tc.reason || d.Accept != (tc.reason == ReasonOK) {
				t.Fatalf("reason = %v accept = %v, want %v", d.Reason, d.Accept, tc.reason)
			}
			// Every Accept names the account, so the router accounts the session under it.
			if d.Accept && (d.UserName != a.Username || !strings.HasPrefix(d.Class, "tg:")) {
				t.Errorf("Accept with User-Name %q, Class %q; want %q and a tg: Class", d.UserName, d.Class, a.Username)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		code := r.String()
		if code == "" || code == "unknown" || seen[code] || r.Message() == "" {
			t.Fatalf("reason %d: code %q message %q", r, code, r.Message())
		}
		seen[code] = true
		if back, ok := ParseReason(code); !ok || back != r {
			t.Fatalf("ParseReason(%q) = %v, %v", code, back, ok)
		}
	}
	if ReasonUnpaid.String() != "unpaid" || ReasonUnpaid.Message() != "Payment due" || ReasonUnpaid != ReasonThrottled+1 {
		t.Fatalf("unpaid: %d %q %q; want the reason after throttled", ReasonUnpaid, ReasonUnpaid, ReasonUnpaid.Message())
	}
	if ReasonUnknownUser.Message() != ReasonBadPassword.Message() {
		t.Fatalf("unknown user and bad password must read the same to the user")
	}
}

func TestNormalizeMAC(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"AA:BB:CC:DD:EE:FF", "AA:BB:CC:DD:EE:FF", true},
		{"aa:bb:cc:dd:ee:ff", "AA:BB:CC:DD:EE:FF", true},
		{"aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF", true},
		{"aabb.ccdd.eeff", "AA:BB:CC:DD:EE:FF", true},
		{"AABBCCDDEEFF", "AA:BB:CC:DD:EE:FF", true},
		{"AA:BB:CC:DD:EE", "", false},
		{"AA:BB:CC:DD:EE:FF:00", "", false},
		{"GG:BB:CC:DD:EE:FF", "", false},
		{"", "", false},
		{"alice", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := NormalizeMAC(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("NormalizeMAC(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzNormalizeMAC(f *testing.F) {
	for _, s := range []string{"AA:BB:CC:DD:EE:FF", "aabb.ccdd.eeff", "a-b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeMAC(s)
		if !ok {
			return
		}
		again, ok2 := NormalizeMAC(got)
		if !ok2 || again != got || len(got) != 17 {
			t.Fatalf("NormalizeMAC(%q) = %q, not a fixed point (%q, %v)", s, got, again, ok2)
		}
	})
}

func TestValidateRateLimit(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"", true},
		{"2M/10M", true},
		{"512k", true},
		{"64k/64k 256k/256k 128k/128k 10/10", true},
		{"2M/4M 4M/8M 1M/2M 10/10 8", true},
		{"2M/4M 4M/8M 1M/2M 10/10 8 1M/2M", true},
		{"fast", false},
		{"2M/4M/8M", false},
		{"2M/4M 4M/8M 1M/2M 10/10 9", false},
		{"2M/4M 4M/8M 1M/2M 10s/10", false},
		{"1 2 3 4 5 6 7", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			err := ValidateRateLimit(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateRateLimit(%q) = %v", tc.in, err)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code %q", ErrorCode(err))
			}
		})
	}
}

// TestLimitReachedSubscription: an open session of a subscribed account is not cut at
// the end of a validity window (the billing pass decides), but an isolated one without
// an isolation plan is cut, even if the pass's Disconnect was lost.
func TestLimitReachedSubscription(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		edit   func(a *Account)
		reason Reason
		cut    bool
	}{
		{"no subscription, validity ended", func(a *Account) {}, ReasonExpired, true},
		{"active subscription, validity ended", func(a *Account) { a.Subscription = SubscriptionActive }, ReasonOK, false},
		{"grace", func(a *Account) { a.Subscription = SubscriptionGrace }, ReasonOK, false},
		{"cancelled", func(a *Account) { a.Subscription = SubscriptionCancelled }, ReasonExpired, true},
		{"isolated with isolation plan", func(a *Account) { a.Subscription, a.IsolationPlanID = SubscriptionIsolated, 4 }, ReasonOK, false},
		{"isolated without isolation plan", func(a *Account) { a.Subscription = SubscriptionIsolated }, ReasonUnpaid, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Account{Status: StatusActive, Kind: KindPPPoE, ValidUntil: now.Add(-time.Minute)}
			tc.edit(a)
			if r, cut := LimitReached(a, Usage{}, now); r != tc.reason || cut != tc.cut {
				t.Fatalf("LimitReached = %v, %v; want %v, %v", r, cut, tc.reason, tc.cut)
			}
		})
	}
}
