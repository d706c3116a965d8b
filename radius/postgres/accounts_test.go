package postgres

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// MustPlan inserts a plan and returns its id.
func MustPlan(tb testing.TB, db pg.DBTX, name, kind string) int64 {
	tb.Helper()
	return MustCount(tb, db, `
INSERT INTO plans (name, kind, rate_limit, uptime_limit_seconds, data_limit_bytes, shared_users,
                   interim_seconds, pool, address_list)
VALUES ($1, $2, '10M/20M', 3600, 1073741824, 2, 60, 'pool1', 'list1')
RETURNING id`, name, kind)
}

func TestFindAccount(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	pppoe := MustPlan(t, pool, "Home", "pppoe")
	bare := MustCount(t, pool, `INSERT INTO plans (name, kind) VALUES ('Bare', 'hotspot') RETURNING id`)

	from := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC) // Postgres keeps microseconds
	until := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	alice := MustCount(t, pool, `
INSERT INTO subscribers (username, password, plan_id, status, static_ip, mac, valid_from, valid_until)
VALUES ('alice', '\x00ff01', $1, 'suspended', '10.9.9.9', 'AA:BB:CC:DD:EE:FF', $2, $3)
RETURNING id`, pppoe, from, until)
	bob := MustCount(t, pool, `
INSERT INTO subscribers (username, password, plan_id) VALUES ('bob', '', $1) RETURNING id`, bare)
	carol := MustCount(t, pool, `
INSERT INTO subscribers (username, password, plan_id, static_ip, valid_from, valid_until)
VALUES ('carol', 'x', $1, '10.8.8.8/24', '-infinity', 'infinity') RETURNING id`, bare)
	dave := MustCount(t, pool, `
INSERT INTO subscribers (username, password, plan_id, valid_from, valid_until)
VALUES ('dave', 'x', $1, 'infinity', '-infinity') RETURNING id`, bare)
	// MAC login is opt-in, and for hotspot plans only: erin may, frank (PPPoE) may not
	// even with the flag set, alice (PPPoE, bound, no flag) may not.
	erin := MustCount(t, pool, `
INSERT INTO subscribers (username, password, plan_id, mac, mac_login)
VALUES ('erin', 'x', $1, '02:00:00:00:00:0E', true) RETURNING id`, bare)
	MustCount(t, pool, `
INSERT INTO subscribers (username, password, plan_id, mac, mac_login)
VALUES ('frank', 'x', $1, '02:00:00:00:00:0F', true) RETURNING id`, pppoe)

	wantAlice := &radius.Account{
		ID: alice, Username: "alice", Password: []byte{0, 0xff, 1}, Status: radius.StatusSuspended,
		MAC: "AA:BB:CC:DD:EE:FF", StaticIP: netip.MustParseAddr("10.9.9.9"),
		PlanID: pppoe, PlanName: "Home", Kind: radius.KindPPPoE, RateLimit: "10M/20M",
		ValidFrom: from, ValidUntil: until, UptimeLimit: time.Hour, DataLimit: 1 << 30,
		SharedUsers: 2, Interim: time.Minute, Pool: "pool1", AddressList: "list1",
	}
	wantBob := &radius.Account{
		ID: bob, Username: "bob", Password: []byte{}, Status: radius.StatusActive,
		PlanID: bare, PlanName: "Bare", Kind: radius.KindHotspot,
		SharedUsers: 1, Interim: 300 * time.Second,
	}
	wantCarol := *wantBob
	wantCarol.ID, wantCarol.Username, wantCarol.Password = carol, "carol", []byte("x")
	wantCarol.StaticIP = netip.MustParseAddr("10.8.8.8")
	wantDave := *wantBob
	wantDave.ID, wantDave.Username, wantDave.Password = dave, "dave", []byte("x")
	wantDave.ValidFrom, wantDave.ValidUntil = farFuture, farPast
	wantErin := *wantBob
	wantErin.ID, wantErin.Username, wantErin.Password = erin, "erin", []byte("x")
	wantErin.MAC, wantErin.MACLogin = "02:00:00:00:00:0E", true

	byName := func(ctx context.Context, u string) (*radius.Account, error) {
		return s.FindAccountByUsername(ctx, u, nil)
	}
	tests := []struct {
		name string
		find func(context.Context, string) (*radius.Account, error)
		arg  string
		want *radius.Account // nil: ENOTFOUND
	}{
		{"username, every column set", byName, "alice", wantAlice},
		{"username, nullable columns NULL", byName, "bob", wantBob},
		{"username, open infinities and netmask", byName, "carol", &wantCarol},
		{"username, closed infinities", byName, "dave", &wantDave},
		{"username of a MAC login subscriber", byName, "erin", &wantErin},
		{"mac login", s.FindAccountByMAC, "02:00:00:00:00:0E", &wantErin},
		{"mac of a PPPoE subscriber with mac login set", s.FindAccountByMAC, "02:00:00:00:00:0F", nil},
		{"mac of a subscriber without mac login", s.FindAccountByMAC, "AA:BB:CC:DD:EE:FF", nil},
		{"unknown username", byName, "zed", nil},
		{"unknown mac", s.FindAccountByMAC, "00:00:00:00:00:00", nil},
		{"empty mac", s.FindAccountByMAC, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.find(ctx, tt.arg)
			if tt.want == nil {
				if radius.ErrorCode(err) != radius.ENOTFOUND || got != nil {
					t.Fatalf("= %+v, %v; want ENOTFOUND", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			MustEqualAccount(t, got, tt.want)
		})
	}
}

// MustEqualAccount fails unless got and want hold the same account (times compared
// with Equal, since locations differ).
func MustEqualAccount(tb testing.TB, got, want *radius.Account) {
	tb.Helper()
	g, w := *got, *want
	if !g.ValidFrom.Equal(w.ValidFrom) || !g.ValidUntil.Equal(w.ValidUntil) {
		tb.Fatalf("validity = [%v, %v], want [%v, %v]", g.ValidFrom, g.ValidUntil, w.ValidFrom, w.ValidUntil)
	}
	g.ValidFrom, g.ValidUntil, w.ValidFrom, w.ValidUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.StoreUsage, w.StoreUsage = nil, nil // read with the account, compared where a test sets sessions
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("account =\n%+v\nwant\n%+v", g, w)
	}
}

// TestFindAccountSubscription: a subscriber's account carries the state of its
// subscription (none when cancelled) and the isolation plan of its plan.
func TestFindAccountSubscription(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	iso := MustCount(t, pool, `INSERT INTO plans (name, kind, rate_limit, pool, address_list)
VALUES ('Unpaid', 'pppoe', '256k/256k', 'expired-pool', 'tollgate-isolated') RETURNING id`)
	home := MustCount(t, pool, `INSERT INTO plans (name, kind, price_cents, isolation_plan_id)
VALUES ('Home', 'pppoe', 2000, $1) RETURNING id`, iso)
	bare := MustCount(t, pool, `INSERT INTO plans (name, kind, price_cents) VALUES ('Bare', 'pppoe', 2000) RETURNING id`)
	sub := func(name string, plan int64, state string) {
		t.Helper()
		id := MustCount(t, pool, `INSERT INTO subscribers (username, password, plan_id) VALUES ($1, 'x', $2) RETURNING id`, name, plan)
		if state != "" {
			MustCount(t, pool, `INSERT INTO subscriptions (subscriber_id, plan_id, state, anchor_day, period_start, period_end)
VALUES ($1, $2, $3, 1, now(), now() + interval '30 days') RETURNING id`, id, plan, state)
		}
	}
	sub("isolated", home, "isolated")
	sub("grace", bare, "grace")
	sub("cancelled", home, "cancelled")
	sub("none", home, "")
	tests := []struct {
		user  string
		state radius.SubscriptionState
		iso   int64
	}{
		{"isolated", radius.SubscriptionIsolated, iso},
		{"grace", radius.SubscriptionGrace, 0},
		{"cancelled", "", iso},
		{"none", "", iso},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			a, err := s.FindAccountByUsername(ctx, tt.user, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.Subscription != tt.state || a.IsolationPlanID != tt.iso {
				t.Fatalf("subscription %q, isolation plan %d; want %q, %d", a.Subscription, a.IsolationPlanID, tt.state, tt.iso)
			}
			if tt.iso != 0 && (a.IsolationRateLimit != "256k/256k" || a.IsolationPool != "expired-pool" || a.IsolationAddressList != "tollgate-isolated") {
				t.Fatalf("isolation attributes %+v", a)
			}
		})
	}
}
