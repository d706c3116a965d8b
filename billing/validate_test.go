package billing

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// wantInvalid checks that err is EINVALID with a message starting with prefix, or nil
// when prefix is "".
func wantInvalid(t *testing.T, err error, prefix string) {
	t.Helper()
	if prefix == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("err = %v (code %q), want EINVALID", err, radius.ErrorCode(err))
	}
	if msg := radius.ErrorMessage(err); !strings.HasPrefix(msg, prefix) {
		t.Fatalf("message = %q, want prefix %q", msg, prefix)
	}
}

func TestValidatePlan(t *testing.T) {
	base := Plan{
		Name: "Home 10M", Kind: radius.KindPPPoE, PriceCents: 1500, RateLimit: "10M/10M",
		Validity: 30 * 24 * time.Hour, UptimeLimit: 0, DataLimit: 100e9, SharedUsers: 1,
		Interim: 5 * time.Minute, Pool: "pppoe-pool", AddressList: "paying",
	}
	tests := []struct {
		name   string
		edit   func(p *Plan)
		prefix string // "" = valid
	}{
		{"valid", func(p *Plan) {}, ""},
		{"minimal hotspot", func(p *Plan) { *p = Plan{Name: "h", Kind: radius.KindHotspot} }, ""},
		{"name with dot underscore dash", func(p *Plan) { p.Name = "a.b_c-d 1" }, ""},
		{"name empty", func(p *Plan) { p.Name = "" }, "name:"},
		{"name too long", func(p *Plan) { p.Name = strings.Repeat("a", 65) }, "name:"},
		{"name 64", func(p *Plan) { p.Name = strings.Repeat("a", 64) }, ""},
		{"name slash", func(p *Plan) { p.Name = "a/b" }, "name:"},
		{"name unicode", func(p *Plan) { p.Name = "café" }, "name:"},
		{"name leading space", func(p *Plan) { p.Name = " Gold" }, "name:"},
		{"name trailing space", func(p *Plan) { p.Name = "Gold " }, "name:"},
		{"kind empty", func(p *Plan) { p.Kind = "" }, "kind:"},
		{"kind unknown", func(p *Plan) { p.Kind = "dsl" }, "kind:"},
		{"price negative", func(p *Plan) { p.PriceCents = -1 }, "price:"},
		{"price zero", func(p *Plan) { p.PriceCents = 0 }, ""},
		{"rate limit bad", func(p *Plan) { p.RateLimit = "fast" }, "rate-limit:"},
		{"rate limit full", func(p *Plan) { p.RateLimit = "2M/4M 4M/8M 1M/2M 10/10 5 512k/512k" }, ""},
		{"validity negative", func(p *Plan) { p.Validity = -time.Second }, "validity:"},
		{"validity 10y", func(p *Plan) { p.Validity = MaxPlanDuration }, ""},
		{"validity over 10y", func(p *Plan) { p.Validity = MaxPlanDuration + time.Second }, "validity:"},
		{"validity fraction", func(p *Plan) { p.Validity = 1500 * time.Millisecond }, "validity:"},
		{"uptime negative", func(p *Plan) { p.UptimeLimit = -time.Hour }, "uptime-limit:"},
		{"uptime over 10y", func(p *Plan) { p.UptimeLimit = 11 * 365 * 24 * time.Hour }, "uptime-limit:"},
		{"data negative", func(p *Plan) { p.DataLimit = -1 }, "data-limit:"},
		{"shared users negative", func(p *Plan) { p.SharedUsers = -1 }, "shared-users:"},
		{"shared users 1000", func(p *Plan) { p.SharedUsers = 1000 }, ""},
		{"shared users 1001", func(p *Plan) { p.SharedUsers = 1001 }, "shared-users:"},
		{"interim zero", func(p *Plan) { p.Interim = 0 }, ""},
		{"interim 30s", func(p *Plan) { p.Interim = 30 * time.Second }, ""},
		{"interim 24h", func(p *Plan) { p.Interim = 24 * time.Hour }, ""},
		{"interim 29s", func(p *Plan) { p.Interim = 29 * time.Second }, "interim:"},
		{"interim over 24h", func(p *Plan) { p.Interim = 24*time.Hour + time.Second }, "interim:"},
		{"interim negative", func(p *Plan) { p.Interim = -time.Minute }, "interim:"},
		{"interim fraction", func(p *Plan) { p.Interim = 30*time.Second + time.Millisecond }, "interim:"},
		{"pool space", func(p *Plan) { p.Pool = "my pool" }, "pool:"},
		{"pool tab", func(p *Plan) { p.Pool = "a\tb" }, "pool:"},
		{"pool too long", func(p *Plan) { p.Pool = strings.Repeat("p", 65) }, "pool:"},
		{"address list space", func(p *Plan) { p.AddressList = "a b" }, "address-list:"},
		{"address list too long", func(p *Plan) { p.AddressList = strings.Repeat("l", 65) }, "address-list:"},
		{"reseller price", func(p *Plan) { p.ResellerPriceCents = 1200 }, ""},
		{"reseller price negative", func(p *Plan) { p.ResellerPriceCents = -1 }, "reseller-price:"},
		{"validity from first login", func(p *Plan) { p.ValidityFrom = FromFirstLogin }, ""},
		{"validity from unknown", func(p *Plan) { p.ValidityFrom = "tomorrow" }, "validity-from:"},
		{"hotspot voucher settings", func(p *Plan) {
			p.Kind, p.ValidityFrom, p.LockMAC = radius.KindHotspot, FromSale, true
			p.NASNames, p.HotspotServers = []string{"r1", "core.2_b-3"}, []string{"hotspot1", "lobby"}
		}, ""},
		{"lock mac on pppoe", func(p *Plan) { p.LockMAC = true }, "lock-mac:"},
		{"hotspot server on pppoe", func(p *Plan) { p.HotspotServers = []string{"hotspot1"} }, "hotspot-server:"},
		{"validity from sale on pppoe", func(p *Plan) { p.ValidityFrom = FromSale }, "validity-from:"},
		{"nas on pppoe", func(p *Plan) { p.NASNames = []string{"r1"} }, ""},
		{"nas bad name", func(p *Plan) { p.NASNames = []string{"r 1"} }, "nas:"},
		{"nas leading dot", func(p *Plan) { p.NASNames = []string{".r1"} }, "nas:"},
		{"nas empty name", func(p *Plan) { p.NASNames = []string{""} }, "nas:"},
		{"nas twice", func(p *Plan) { p.NASNames = []string{"r1", "r2", "r1"} }, "nas:"},
		{"nas too many", func(p *Plan) {
			for i := 0; i <= MaxLocations; i++ {
				p.NASNames = append(p.NASNames, "r"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26)))
			}
		}, "nas:"},
		{"hotspot server space", func(p *Plan) { p.Kind, p.HotspotServers = radius.KindHotspot, []string{"hot spot"} }, "hotspot-server:"},
		{"hotspot server empty", func(p *Plan) { p.Kind, p.HotspotServers = radius.KindHotspot, []string{""} }, "hotspot-server:"},
		{"hotspot server twice", func(p *Plan) { p.Kind, p.HotspotServers = radius.KindHotspot, []string{"a", "a"} }, "hotspot-server:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.edit(&p)
			wantInvalid(t, ValidatePlan(p), tt.prefix)
		})
	}
}

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"simple", "alice", true},
		{"realm", "alice@isp.example", true},
		{"punctuation", "a!#$%&'*+-./:;<=>?[]^_`{|}~z", true},
		{"one char", "a", true},
		{"64 chars", strings.Repeat("u", 64), true},
		{"empty", "", false},
		{"65 chars", strings.Repeat("u", 65), false},
		{"space", "al ice", false},
		{"tab", "al\tice", false},
		{"NUL", "al\x00ice", false},
		{"DEL", "al\x7fice", false},
		{"non-ASCII", "josé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := "username:"
			if tt.ok {
				prefix = ""
			}
			wantInvalid(t, ValidateUsername(tt.in), prefix)
		})
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"simple", "s3cret", true},
		{"spaces and unicode", "correct horse bättery", true},
		{"128 bytes", strings.Repeat("p", 128), true},
		{"empty", "", false},
		{"129 bytes", strings.Repeat("p", 129), false},
		{"NUL", "abc\x00def", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.in)
			prefix := "password:"
			if tt.ok {
				prefix = ""
			}
			wantInvalid(t, err, prefix)
			if err != nil && tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error %q echoes the password", err)
			}
		})
	}
}

func TestCheckNewSubscriber(t *testing.T) {
	base := NewSubscriber{Username: "alice", Password: "pw", Plan: "Home"}
	tests := []struct {
		name    string
		edit    func(in *NewSubscriber)
		prefix  string
		wantIP  netip.Addr
		wantMAC string
	}{
		{"minimal", func(in *NewSubscriber) {}, "", netip.Addr{}, ""},
		{"ipv4 and mac", func(in *NewSubscriber) { in.StaticIP = "10.0.0.7"; in.MAC = "aa-bb-cc-dd-ee-0f" },
			"", netip.MustParseAddr("10.0.0.7"), "AA:BB:CC:DD:EE:0F"},
		{"ipv6", func(in *NewSubscriber) { in.StaticIP = "2001:db8::7" }, "", netip.MustParseAddr("2001:db8::7"), ""},
		{"v4-mapped is unmapped", func(in *NewSubscriber) { in.StaticIP = "::ffff:10.0.0.7" }, "", netip.MustParseAddr("10.0.0.7"), ""},
		{"bad username", func(in *NewSubscriber) { in.Username = "a b" }, "username:", netip.Addr{}, ""},
		{"bad password", func(in *NewSubscriber) { in.Password = "" }, "password:", netip.Addr{}, ""},
		{"no plan", func(in *NewSubscriber) { in.Plan = "" }, "plan:", netip.Addr{}, ""},
		{"bad ip", func(in *NewSubscriber) { in.StaticIP = "10.0.0.300" }, "static-ip:", netip.Addr{}, ""},
		{"prefix is not an ip", func(in *NewSubscriber) { in.StaticIP = "10.0.0.0/24" }, "static-ip:", netip.Addr{}, ""},
		{"zone", func(in *NewSubscriber) { in.StaticIP = "fe80::1%eth0" }, "static-ip:", netip.Addr{}, ""},
		{"unspecified", func(in *NewSubscriber) { in.StaticIP = "0.0.0.0" }, "static-ip:", netip.Addr{}, ""},
		{"multicast", func(in *NewSubscriber) { in.StaticIP = "224.0.0.1" }, "static-ip:", netip.Addr{}, ""},
		{"bad mac", func(in *NewSubscriber) { in.MAC = "aa:bb:cc:dd:ee" }, "mac:", netip.Addr{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.edit(&in)
			ip, mac, err := checkNewSubscriber(in)
			wantInvalid(t, err, tt.prefix)
			if ip != tt.wantIP || mac != tt.wantMAC {
				t.Fatalf("got (%v, %q), want (%v, %q)", ip, mac, tt.wantIP, tt.wantMAC)
			}
		})
	}
}

func TestValidUntil(t *testing.T) {
	from := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		validity time.Duration
		want     time.Time
	}{
		{"no validity", 0, time.Time{}},
		{"30 days", 30 * 24 * time.Hour, time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validUntil(from, &Plan{Validity: tt.validity}); !got.Equal(tt.want) {
				t.Fatalf("validUntil = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseValidityFrom(t *testing.T) {
	for in, want := range map[string]ValidityFrom{"first-login": FromFirstLogin, "first_login": FromFirstLogin, "sale": FromSale, "": "", "login": ""} {
		got, err := ParseValidityFrom(in)
		if got != want || (err == nil) != (want != "") {
			t.Fatalf("ParseValidityFrom(%q) = %q, %v", in, got, err)
		}
		if err != nil {
			wantInvalid(t, err, "validity-from:")
		}
	}
}
