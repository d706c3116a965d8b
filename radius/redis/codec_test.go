package redis

import (
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// fullAccount has every field set.
func fullAccount() *radius.Account {
	return &radius.Account{
		ID:          42,
		Username:    "alice",
		Password:    []byte("sealed\x00\xffbytes"),
		Status:      radius.StatusActive,
		MAC:         "AA:BB:CC:DD:EE:FF",
		StaticIP:    netip.MustParseAddr("10.1.2.3"),
		PlanID:      7,
		PlanName:    "Home 20M",
		Kind:        radius.KindPPPoE,
		RateLimit:   "10M/20M",
		ValidFrom:   time.Unix(1700000000, 123),
		ValidUntil:  time.Unix(1800000000, 0),
		UptimeLimit: 36 * time.Hour,
		DataLimit:   50 << 30,
		SharedUsers: 2,
		Interim:     5 * time.Minute,
		Pool:        "pppoe-pool",
		AddressList: "customers",
		// Voucher fields (a real account is a subscriber or a voucher; the codec
		// does not care).
		VoucherID:      99,
		VoucherState:   radius.VoucherActive,
		ActivatedAt:    time.Unix(1700000500, 77),
		LockMAC:        true,
		AllowedNAS:     []string{"r1", "r2"},
		AllowedServers: []string{"hotspot1"},
		// Subscription fields (formatV4).
		Subscription:         radius.SubscriptionIsolated,
		IsolationPlanID:      12,
		IsolationRateLimit:   "256k/256k",
		IsolationPool:        "expired-pool",
		IsolationAddressList: "tollgate-isolated",
	}
}

// subscriberAccount is fullAccount without the voucher fields.
func subscriberAccount() *radius.Account {
	a := fullAccount()
	a.VoucherID, a.VoucherState, a.ActivatedAt, a.LockMAC, a.AllowedNAS, a.AllowedServers = 0, "", time.Time{}, false, nil, nil
	return a
}

// MustEqualAccount fails unless got and want hold the same account (times compared
// with Equal, since locations may differ).
func MustEqualAccount(tb testing.TB, got, want *radius.Account) {
	tb.Helper()
	if got == nil || want == nil {
		if got != want {
			tb.Fatalf("account = %+v, want %+v", got, want)
		}
		return
	}
	g, w := *got, *want
	if !g.ValidFrom.Equal(w.ValidFrom) || !g.ValidUntil.Equal(w.ValidUntil) || !g.ActivatedAt.Equal(w.ActivatedAt) {
		tb.Fatalf("validity = [%v, %v] activated %v, want [%v, %v] activated %v", g.ValidFrom, g.ValidUntil, g.ActivatedAt, w.ValidFrom, w.ValidUntil, w.ActivatedAt)
	}
	g.ValidFrom, g.ValidUntil, w.ValidFrom, w.ValidUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.ActivatedAt, w.ActivatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("account =\n%+v\nwant\n%+v", g, w)
	}
}

func TestAccountRoundTrip(t *testing.T) {
	with := func(f func(a *radius.Account)) *radius.Account {
		a := fullAccount()
		f(a)
		return a
	}
	tests := []struct {
		name string
		in   *radius.Account
		want *radius.Account // nil: same as in
	}{
		{name: "full", in: fullAccount()},
		{name: "zero", in: &radius.Account{}},
		{name: "negative numbers", in: with(func(a *radius.Account) {
			a.ID, a.PlanID, a.DataLimit, a.SharedUsers = -1, math.MinInt64, math.MaxInt64, -5
			a.UptimeLimit, a.Interim = -time.Second, math.MaxInt64
		})},
		{name: "ipv6", in: with(func(a *radius.Account) { a.StaticIP = netip.MustParseAddr("2001:db8::1") })},
		{name: "ipv6 zone", in: with(func(a *radius.Account) { a.StaticIP = netip.MustParseAddr("fe80::1%eth0") })},
		{name: "ipv6 long zone", in: with(func(a *radius.Account) {
			a.StaticIP = netip.MustParseAddr("fe80::1").WithZone(strings.Repeat("z", 200))
		})},
		{name: "ipv4-mapped", in: with(func(a *radius.Account) { a.StaticIP = netip.MustParseAddr("::ffff:10.0.0.1") })},
		{name: "no static ip", in: with(func(a *radius.Account) { a.StaticIP = netip.Addr{} })},
		{name: "hotspot no bounds", in: with(func(a *radius.Account) {
			a.Kind, a.Status, a.MAC = radius.KindHotspot, radius.StatusSuspended, ""
			a.ValidFrom, a.ValidUntil = time.Time{}, time.Time{}
		})},
		{name: "long strings", in: with(func(a *radius.Account) {
			a.Username = string(make([]byte, 253))
			a.RateLimit = string(make([]byte, 300))
		})},
		{name: "subscriber", in: subscriberAccount()},
		{name: "subscription without isolation plan", in: with(func(a *radius.Account) {
			a.Subscription, a.IsolationPlanID, a.IsolationRateLimit, a.IsolationPool, a.IsolationAddressList = radius.SubscriptionGrace, 0, "", "", ""
		})},
		{name: "voucher, new, no lists", in: with(func(a *radius.Account) {
			a.VoucherState, a.ActivatedAt, a.LockMAC, a.AllowedNAS, a.AllowedServers = radius.VoucherNew, time.Time{}, false, nil, nil
		})},
		{name: "lists with empty strings", in: with(func(a *radius.Account) { a.AllowedNAS, a.AllowedServers = []string{""}, []string{"", "x"} })},
		{
			name: "empty lists read as nil",
			in:   with(func(a *radius.Account) { a.AllowedNAS, a.AllowedServers = []string{}, []string{} }),
			want: with(func(a *radius.Account) { a.AllowedNAS, a.AllowedServers = nil, nil }),
		},
		{name: "time before 1970", in: with(func(a *radius.Account) { a.ValidFrom = time.Unix(-86400, 5) })},
		{
			name: "epoch is not zero",
			in:   with(func(a *radius.Account) { a.ValidUntil = time.Unix(0, 0) }),
			want: with(func(a *radius.Account) { a.ValidUntil = time.Unix(0, 1) }),
		},
		{
			name: "far future clamped",
			in:   with(func(a *radius.Account) { a.ValidUntil = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }),
			want: with(func(a *radius.Account) { a.ValidUntil = time.Unix(0, math.MaxInt64) }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = tt.in
			}
			b := appendAccount(nil, tt.in)
			var got radius.Account
			if err := decodeAccount(string(b), &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			MustEqualAccount(t, &got, want)
		})
	}
}

func TestDecodeAccountErrors(t *testing.T) {
	full := appendAccount(nil, fullAccount())
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"negative marker", negativeValue},
		{"unknown format", []byte{9, 1, 2}},
		{"truncated", full[:len(full)-1]},
		{"trailing", append(append([]byte{}, full...), 0)},
		{"varint overflow", []byte{formatV2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"length past end", []byte{formatV2, 0, 0x7f}},
		{"previous format", append([]byte{formatV1}, full[1:]...)},
		{"format before subscriptions", append([]byte{formatV3}, full[1:]...)},
		{"boolean not 0 or 1", boolAt(full, 2)},
		{"list count past end", listCountPastEnd()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a radius.Account
			if err := decodeAccount(string(tt.in), &a); err == nil {
				t.Fatalf("decode(%x) = nil error", tt.in)
			}
		})
	}
	// Every prefix of a valid value fails cleanly.
	for i := range full {
		var a radius.Account
		if err := decodeAccount(string(full[:i]), &a); err == nil {
			t.Fatalf("decode of %d-byte prefix = nil error", i)
		}
	}
}

// boolAt returns a copy of the encoding full of fullAccount with its LockMAC byte set to v.
func boolAt(full []byte, v byte) []byte {
	a := fullAccount()
	a.LockMAC = false
	b := appendAccount(nil, a)
	// The encodings differ only in that byte.
	for i := range b {
		if b[i] != full[i] {
			b[i] = v
			return b
		}
	}
	panic("LockMAC byte not found")
}

// listCountPastEnd is a valid subscriber encoding whose last list claims 5 strings.
func listCountPastEnd() []byte {
	a := subscriberAccount()
	a.Subscription, a.IsolationPlanID, a.IsolationRateLimit, a.IsolationPool, a.IsolationAddressList = "", 0, "", "", ""
	b := appendAccount(nil, a)
	// After the list's count: the code hash's length, MAC login, the subscription state,
	// the isolation plan's ID and its three strings, one byte each.
	b[len(b)-8] = 5
	return b
}

func TestDecodeAccountAllocs(t *testing.T) {
	tests := []struct {
		name string
		a    *radius.Account
		max  float64
	}{
		// Only the password is copied; strings share the value.
		{"subscriber", subscriberAccount(), 1},
		// Plus one slice per location list.
		{"voucher with location lists", fullAccount(), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := string(appendAccount(nil, tt.a))
			var a radius.Account
			allocs := testing.AllocsPerRun(1000, func() {
				if err := decodeAccount(s, &a); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > tt.max {
				t.Fatalf("decodeAccount allocates %v times, want at most %v", allocs, tt.max)
			}
		})
	}
}

func FuzzDecodeAccount(f *testing.F) {
	f.Add(appendAccount(nil, fullAccount()))
	f.Add(appendAccount(nil, &radius.Account{}))
	a6 := fullAccount()
	a6.StaticIP = netip.MustParseAddr("fe80::1%eth0")
	f.Add(appendAccount(nil, a6))
	f.Add(negativeValue)
	f.Add([]byte{})
	f.Add([]byte{formatV2, 0xff, 0xff, 0xff})
	f.Add(appendAccount(nil, subscriberAccount()))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a radius.Account
		if err := decodeAccount(string(data), &a); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same account.
		var b radius.Account
		if err := decodeAccount(string(appendAccount(nil, &a)), &b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		MustEqualAccount(t, &b, &a)
	})
}
