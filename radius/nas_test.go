package radius

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseLoginHost(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want "" means refused
	}{
		{"10.5.50.1", "10.5.50.1"},
		{" Hotspot.Example.NET. ", "hotspot.example.net"},
		{"hotspot", "hotspot"},
		{"wifi-1.cafe.example", "wifi-1.cafe.example"},
		{"::ffff:10.5.50.1", "10.5.50.1"},
		{"", ""},
		{"fe80::1", ""},
		{"[fe80::1]", ""},
		{"10.5.50.1:80", ""},
		{"http://10.5.50.1/login", ""},
		{"10.5.50", ""},
		{"300.1.1.1", ""},
		{"-bad.example", ""},
		{"bad-.example", ""},
		{"a..example", ""},
		{"under_score.example", ""},
		{"user@host.example", ""},
		{strings.Repeat("a", 64) + ".example", ""},
	} {
		got, err := ParseLoginHost(tt.in)
		if tt.want == "" {
			if err == nil || ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), "login_host: ") {
				t.Errorf("ParseLoginHost(%q) = %q, %v; want EINVALID naming login_host", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLoginHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckNASSecret(t *testing.T) {
	for _, tt := range []struct {
		name      string
		secret    string
		allowWeak bool
		ok        bool
	}{
		{"twelve", "abcdefghijkl", false, true},
		{"eleven", "abcdefghijk", false, false},
		{"eleven, allowed weak", "abcdefghijk", true, true},
		{"empty, allowed weak", "", true, false},
		{"too long", strings.Repeat("x", MaxNASSecret+1), true, false},
		{"longest", strings.Repeat("x", MaxNASSecret), false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNASSecret([]byte(tt.secret), tt.allowWeak)
			if tt.ok != (err == nil) || err != nil && !strings.HasPrefix(ErrorMessage(err), "secret: ") {
				t.Fatalf("= %v; want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNASValidate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		nas   NAS
		field string // "" means valid
	}{
		{"host", NAS{Prefix: netip.MustParsePrefix("192.0.2.1/32")}, ""},
		{"/24 with MA", NAS{Prefix: netip.MustParsePrefix("192.0.2.0/24"), RequireMessageAuthenticator: true}, ""},
		{"/24 without MA", NAS{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, "require_message_authenticator"},
		{"/23", NAS{Prefix: netip.MustParsePrefix("192.0.2.0/23"), RequireMessageAuthenticator: true}, "address"},
		{"/56", NAS{Prefix: netip.MustParsePrefix("2001:db8::/56"), RequireMessageAuthenticator: true}, ""},
		{"/55", NAS{Prefix: netip.MustParsePrefix("2001:db8::/55"), RequireMessageAuthenticator: true}, "address"},
		{"host bits", NAS{Prefix: netip.MustParsePrefix("192.0.2.1/24"), RequireMessageAuthenticator: true}, "address"},
		{"no address", NAS{}, "address"},
		{"login hosts", NAS{Prefix: netip.MustParsePrefix("192.0.2.1/32"), LoginHosts: []string{"10.5.50.1", "hs.example"}}, ""},
		{"login host twice", NAS{Prefix: netip.MustParsePrefix("192.0.2.1/32"), LoginHosts: []string{"hs.example", "hs.example"}}, "login_host"},
		{"login host not normalized", NAS{Prefix: netip.MustParsePrefix("192.0.2.1/32"), LoginHosts: []string{"HS.example"}}, "login_host"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.nas.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), tt.field+": ") {
				t.Fatalf("= %v; want EINVALID naming %s", err, tt.field)
			}
		})
	}
	if (&NAS{Prefix: netip.MustParsePrefix("192.0.2.0/24")}).RequiresMessageAuthenticator() != true ||
		(&NAS{Prefix: netip.MustParsePrefix("192.0.2.1/32")}).RequiresMessageAuthenticator() != false {
		t.Error("RequiresMessageAuthenticator: a range always requires it; a host only when its row says so")
	}
}
