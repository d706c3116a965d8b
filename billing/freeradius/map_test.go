package freeradius

import (
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// TestMap covers the mapping rules the end-to-end import test does not reach.
func TestMap(t *testing.T) {
	d := &Data{
		GroupCheck: map[string][]Attr{"Gold/VIP": {{"Max-All-Session", ":=", "36000"}, {"Simultaneous-Use", ":=", "lots"}}},
		GroupReply: map[string][]Attr{"Gold/VIP": {
			{"Mikrotik-Total-Limit", ":=", "1000"}, {"Mikrotik-Total-Limit-Gigawords", ":=", "1"},
			{"Acct-Interim-Interval", ":=", "5"}, {"Framed-Pool", ":=", "has space"}, {"Mikrotik-Rate-Limit", ":=", "fast"},
		}},
		Check: map[string][]Attr{
			"ann":      {{"Cleartext-Password", ":=", "pw"}, {"Expiration", ":=", "13 Mar 2030"}, {"Calling-Station-Id", "==", "aa-bb-cc-dd-ee-ff"}},
			"nopw":     {{"Simultaneous-Use", ":=", "1"}},
			"bad user": {{"Cleartext-Password", ":=", "pw"}},
			"nt":       {{"NT-Password", ":=", "x"}, {"Cleartext-Password", ":=", "pw2"}},
		},
		Reply:  map[string][]Attr{"ann": {{"Framed-IP-Address", ":=", "0.0.0.0"}}},
		Groups: map[string][]Membership{"ann": {{"Gold/VIP", 0}}},
		NAS: []NASRow{
			{ID: 1, NASName: "10.0.0.0/24", ShortName: "site a", Secret: "a-long-enough-secret"},
			{ID: 2, NASName: "10.0.0.0/8", ShortName: "wide", Secret: "a-long-enough-secret"},
			{ID: 3, NASName: "10.1.0.1", ShortName: "site a", Secret: "a-long-enough-secret"},
		},
	}
	im := Map(d)
	if len(im.Plans) != 2 || im.Plans[0].Name != "Gold-VIP" || im.Plans[1].Name != DefaultPlan {
		t.Fatalf("plans %+v", im.Plans)
	}
	p := im.Plans[0]
	if p.Kind != radius.KindPPPoE || p.UptimeLimit != 10*time.Hour || p.DataLimit != 1<<32+1000 || p.Interim != 0 || p.Pool != "" || p.RateLimit != "" || p.SharedUsers != 0 {
		t.Fatalf("plan %+v", p)
	}
	var users []string
	for _, s := range im.Subscribers {
		users = append(users, s.Username+"@"+s.Plan)
	}
	if strings.Join(users, " ") != "ann@Gold-VIP nt@"+DefaultPlan || im.Skipped != 2 {
		t.Fatalf("users %q, skipped %d", users, im.Skipped)
	}
	ann := im.Subscribers[0]
	if !ann.ValidUntil.Equal(time.Date(2030, 3, 13, 0, 0, 0, 0, time.UTC)) || ann.MAC != "AA:BB:CC:DD:EE:FF" || ann.StaticIP != "" {
		t.Fatalf("ann %+v", ann)
	}
	if len(im.NAS) != 2 || im.NAS[0].Name != "site-a" || im.NAS[1].Name != "nas-3" || im.NAS[0].Prefix.String() != "10.0.0.0/24" {
		t.Fatalf("nas %+v", im.NAS)
	}
	problems := strings.Join(im.Problems, "\n")
	for _, want := range []string{
		`group "Gold/VIP": imported as plan "Gold-VIP"`,
		`Simultaneous-Use "lots" is not a number`,
		`Acct-Interim-Interval "5" is not`,
		`Framed-Pool "has space" is not a RouterOS name`,
		`Mikrotik-Rate-Limit "fast"`,
		`user "nopw": skipped: no Cleartext-Password`,
		`user "bad user": skipped: username:`,
		`user "nt": NT-Password ignored`,
		`user "ann": Framed-IP-Address "0.0.0.0" cannot be a static address`,
		`nas "10.0.0.0/8": skipped: address:`,
		`nas "site-a": a range`,
		`plan "freeradius-default": made for the users in no group`,
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("no problem %q in:\n%s", want, problems)
		}
	}
}

func TestParseExpiration(t *testing.T) {
	want := time.Date(2027, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, s := range []string{"Jan 2 2027 15:04:05", "Jan  02 2027 15:04:05", "2 Jan 2027 15:04:05", "January 2, 2027 15:04:05", "2027-01-02T15:04:05Z", "2027-01-02 15:04:05"} {
		if got, ok := parseExpiration(s); !ok || !got.Equal(want) {
			t.Errorf("parseExpiration(%q) = %v, %v", s, got, ok)
		}
	}
	if _, ok := parseExpiration("someday"); ok {
		t.Error("someday parsed")
	}
}
