package radius

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecideVoucher(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const mac = "AA:BB:CC:DD:EE:FF"
	base := func() Account {
		return Account{ID: 9, VoucherID: 9, Username: "K7M2QX9P", Status: StatusActive, Kind: KindHotspot,
			VoucherState: VoucherNew, RateLimit: "1M/2M", UptimeLimit: time.Hour, DataLimit: 1 << 30, SharedUsers: 1}
	}
	hs := AuthRequest{NASID: 1, NASName: "r1", Username: "K7M2QX9P", Service: ServiceLogin, CallingStationID: mac, CalledStationID: "hotspot1"}
	cases := []struct {
		name   string
		req    AuthRequest
		edit   func(a *Account)
		usage  Usage
		reason Reason
		check  func(t *testing.T, d Decision)
	}{
		{name: "new voucher: uptime and data left, voucher class", req: hs, usage: Usage{Uptime: 10 * time.Minute, Bytes: 1 << 20}, reason: ReasonOK,
			check: func(t *testing.T, d Decision) {
				if d.SessionTimeout != 3000 || !d.DataLimited || d.DataLeft != 1<<30-1<<20 || d.Class != "tg:v9" {
					t.Fatalf("decision %+v", d)
				}
			}},
		{name: "sold voucher", req: hs, edit: func(a *Account) { a.VoucherState = VoucherSold }, reason: ReasonOK},
		{name: "active: validity shorter than uptime left", req: hs, edit: func(a *Account) {
			a.VoucherState, a.ActivatedAt, a.ValidUntil = VoucherActive, now.Add(-time.Hour), now.Add(20*time.Minute)
		}, reason: ReasonOK, check: func(t *testing.T, d Decision) {
			if d.SessionTimeout != 1200 {
				t.Fatalf("SessionTimeout = %d, want 1200", d.SessionTimeout)
			}
		}},
		{name: "revoked", req: hs, edit: func(a *Account) { a.VoucherState = VoucherRevoked }, reason: ReasonRevoked},
		{name: "expired state", req: hs, edit: func(a *Account) { a.VoucherState = VoucherExpired }, reason: ReasonExpired},
		{name: "expired derived", req: hs, edit: func(a *Account) { a.VoucherState, a.ValidUntil = VoucherActive, now.Add(-time.Second) }, reason: ReasonExpired},
		{name: "exhausted state, data used up", req: hs, edit: func(a *Account) { a.VoucherState = VoucherExhausted }, usage: Usage{Bytes: 1 << 30}, reason: ReasonDataExhausted},
		{name: "exhausted state, time used up", req: hs, edit: func(a *Account) { a.VoucherState = VoucherExhausted }, usage: Usage{Uptime: time.Hour}, reason: ReasonUptimeExhausted},
		{name: "exhausted derived from uptime", req: hs, edit: func(a *Account) { a.VoucherState = VoucherActive }, usage: Usage{Uptime: time.Hour}, reason: ReasonUptimeExhausted},
		{name: "exhausted derived from data", req: hs, edit: func(a *Account) { a.VoucherState = VoucherActive }, usage: Usage{Bytes: 1 << 30}, reason: ReasonDataExhausted},
		{name: "unknown state", req: hs, edit: func(a *Account) { a.VoucherState = "lost" }, reason: ReasonDisabled},
		{name: "locked to this device", req: hs, edit: func(a *Account) { a.VoucherState, a.LockMAC, a.MAC = VoucherActive, true, mac }, reason: ReasonOK},
		{name: "locked to another device", req: hs, edit: func(a *Account) { a.VoucherState, a.LockMAC, a.MAC = VoucherActive, true, "AA:BB:CC:00:00:01" }, reason: ReasonMACMismatch},
		{name: "lock pending, no device to bind", req: AuthRequest{NASName: "r1", Service: ServiceLogin, CallingStationID: "10.0.0.7"},
			edit: func(a *Account) { a.LockMAC = true }, reason: ReasonMACMismatch},
		{name: "allowed NAS", req: hs, edit: func(a *Account) { a.AllowedNAS = []string{"r0", "r1"} }, reason: ReasonOK},
		{name: "other NAS", req: hs, edit: func(a *Account) { a.AllowedNAS = []string{"r2"} }, reason: ReasonWrongLocation},
		{name: "allowed hotspot server", req: hs, edit: func(a *Account) { a.AllowedServers = []string{"hotspot1"} }, reason: ReasonOK},
		{name: "other hotspot server", req: hs, edit: func(a *Account) { a.AllowedServers = []string{"lobby"} }, reason: ReasonWrongLocation},
		{name: "both restrictions, server wrong", req: hs, edit: func(a *Account) {
			a.AllowedNAS, a.AllowedServers = []string{"r1"}, []string{"lobby"}
		}, reason: ReasonWrongLocation},
		{name: "second device with shared users 1", req: hs, edit: func(a *Account) { a.VoucherState = VoucherActive }, usage: Usage{Online: 1}, reason: ReasonTooManySessions},
		{name: "voucher on pppoe", req: AuthRequest{NASName: "r1", Service: ServiceFramed, CallingStationID: mac}, reason: ReasonWrongService},
		{name: "revoked beats everything", req: AuthRequest{NASName: "r9", Service: ServiceFramed}, edit: func(a *Account) {
			a.VoucherState, a.AllowedNAS = VoucherRevoked, []string{"r1"}
		}, reason: ReasonRevoked},
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

func TestReasonCodesStable(t *testing.T) {
	// Reason values are stored and exported as metric labels: vouchers appended theirs.
	for r, want := range map[Reason]string{ReasonOK: "ok", ReasonInternal: "internal", 14: "revoked", 15: "wrong_location"} {
		if r.String() != want {
			t.Fatalf("Reason(%d) = %q, want %q", r, r.String(), want)
		}
	}
	if ReasonInternal != 13 || ReasonRevoked != 14 || ReasonWrongLocation != 15 {
		t.Fatalf("voucher reasons moved: %d %d", ReasonRevoked, ReasonWrongLocation)
	}
}

func TestLimitReachedVoucher(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		state  VoucherState
		usage  Usage
		until  time.Time
		reason Reason
		cut    bool
	}{
		{"active within limits", VoucherActive, Usage{Uptime: time.Minute}, now.Add(time.Hour), ReasonOK, false},
		{"revoked", VoucherRevoked, Usage{}, time.Time{}, ReasonRevoked, true},
		{"expired state", VoucherExpired, Usage{}, time.Time{}, ReasonExpired, true},
		{"exhausted state", VoucherExhausted, Usage{Bytes: 100}, time.Time{}, ReasonDataExhausted, true},
		{"validity ended", VoucherActive, Usage{}, now, ReasonExpired, true},
		{"uptime reached", VoucherActive, Usage{Uptime: time.Hour}, time.Time{}, ReasonUptimeExhausted, true},
		{"subscriber", "", Usage{}, time.Time{}, ReasonOK, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Account{VoucherID: 1, Status: StatusActive, VoucherState: tc.state, ValidUntil: tc.until, UptimeLimit: time.Hour, DataLimit: 100}
			if tc.state == "" {
				a.VoucherID = 0
			}
			r, cut := LimitReached(a, tc.usage, now)
			if r != tc.reason || cut != tc.cut {
				t.Fatalf("LimitReached = %v, %v; want %v, %v", r, cut, tc.reason, tc.cut)
			}
		})
	}
}

func TestVoucherPredicates(t *testing.T) {
	const mac = "AA:BB:CC:DD:EE:FF"
	now := time.Now()
	cases := []struct {
		name       string
		a          Account
		activation bool
		relogin    bool
	}{
		{"subscriber", Account{ID: 1, MAC: mac, LockMAC: true}, false, false},
		{"new voucher", Account{VoucherID: 1, VoucherState: VoucherNew}, true, false},
		{"sold voucher", Account{VoucherID: 1, VoucherState: VoucherSold}, true, false},
		{"revoked before use", Account{VoucherID: 1, VoucherState: VoucherRevoked}, false, false},
		{"active unlocked", Account{VoucherID: 1, VoucherState: VoucherActive, ActivatedAt: now}, false, false},
		{"active locked to this device", Account{VoucherID: 1, VoucherState: VoucherActive, ActivatedAt: now, LockMAC: true, MAC: mac}, false, true},
		{"active locked to another device", Account{VoucherID: 1, VoucherState: VoucherActive, ActivatedAt: now, LockMAC: true, MAC: "AA:BB:CC:DD:EE:00"}, false, false},
		{"lock pending", Account{VoucherID: 1, VoucherState: VoucherNew, LockMAC: true}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.NeedsActivation(); got != tc.activation {
				t.Fatalf("NeedsActivation = %v", got)
			}
			if got := tc.a.MACRelogin(mac); got != tc.relogin {
				t.Fatalf("MACRelogin = %v", got)
			}
		})
	}
	for _, s := range VoucherStates() {
		if !s.Valid() {
			t.Fatalf("%q not valid", s)
		}
	}
	if VoucherState("used").Valid() || VoucherState("").Valid() {
		t.Fatal("unknown state valid")
	}
}

// raceActivator plays the database: the first call wins, later ones read its values.
type raceActivator struct {
	act   Activation
	calls int
	err   error
}

func (r *raceActivator) ActivateVoucher(ctx context.Context, id int64, mac string, now time.Time) (Activation, bool, error) {
	if r.err != nil {
		return Activation{}, false, r.err
	}
	r.calls++
	if r.calls == 1 {
		r.act = Activation{State: VoucherActive, ActivatedAt: now, ValidUntil: now.Add(time.Hour), MAC: mac}
		return r.act, true, nil
	}
	return r.act, false, nil
}

func TestAccountsActivate(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	h := shaHasher{}.Hash(HashVoucherCode, []byte("CODE"))
	voucher := &Account{ID: 5, VoucherID: 5, Username: "voucher-5", Password: sealFor("CODE", SealVoucherPassword, 5), VoucherState: VoucherNew, LockMAC: true, CodeHash: h}
	cache := newMapCache()
	act := &raceActivator{}
	store := &mapStore{users: map[string]*Account{"voucher-5": voucher}, codes: map[string]*Account{string(h): voucher}}
	s := &Accounts{Cache: cache, Store: store, Opener: boundOpener{}, Codes: shaHasher{}, Activator: act}

	for _, login := range []string{"CODE", "voucher-5"} {
		if _, err := s.FindByUsername(ctx, login); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.Activate(ctx, voucher, "AA:BB:CC:DD:EE:01", t0)
	if err != nil {
		t.Fatal(err)
	}
	// A second router that read the same new voucher loses and gets the winner's values.
	second, err := s.Activate(ctx, voucher, "AA:BB:CC:DD:EE:02", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*Account{first, second} {
		if a.VoucherState != VoucherActive || !a.ActivatedAt.Equal(t0) || !a.ValidUntil.Equal(t0.Add(time.Hour)) || a.MAC != "AA:BB:CC:DD:EE:01" {
			t.Fatalf("activated account %+v", a)
		}
	}
	if voucher.VoucherState != VoucherNew || voucher.MAC != "" {
		t.Fatalf("Activate changed its argument: %+v", voucher)
	}
	// Both entries go: under the account name, and under the code (by its hash).
	if _, ok := cache.m[name(AccountKey("voucher-5"))]; ok {
		t.Fatal("cache entry of the account name not dropped after activation")
	}
	if _, ok := cache.m[name(AccountKey("CODE"))]; ok {
		t.Fatal("cache entry of the code not dropped after activation")
	}
	act.err = errors.New("db down")
	if _, err := s.Activate(ctx, voucher, "", t0); err == nil {
		t.Fatal("activator error swallowed")
	}
	if _, err := (&Accounts{Cache: cache}).Activate(ctx, voucher, "", t0); err == nil {
		t.Fatal("no activator: no error")
	}
}
