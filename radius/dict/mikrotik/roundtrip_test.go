package mikrotik

import (
	"testing"

	"layeh.com/radius"
)

// TestRoundTrip encodes the attributes tollgate writes and reads them back from the wire.
func TestRoundTrip(t *testing.T) {
	p := radius.New(radius.CodeAccessAccept, []byte("secret"))
	if err := MikrotikRateLimit_AddString(p, "2M/4M 4M/8M 1M/2M 10/10 8"); err != nil {
		t.Fatal(err)
	}
	if err := MikrotikAddressList_AddString(p, "subs"); err != nil {
		t.Fatal(err)
	}
	if err := MikrotikTotalLimit_Add(p, 7); err != nil {
		t.Fatal(err)
	}
	if err := MikrotikTotalLimitGigawords_Add(p, 2); err != nil {
		t.Fatal(err)
	}
	if err := MikrotikGroup_AddString(p, "hs-1h"); err != nil {
		t.Fatal(err)
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := radius.Parse(b, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, got, want string }{
		{"Rate-Limit", MikrotikRateLimit_GetString(q), "2M/4M 4M/8M 1M/2M 10/10 8"},
		{"Address-List", MikrotikAddressList_GetString(q), "subs"},
		{"Group", MikrotikGroup_GetString(q), "hs-1h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("%s = %q, want %q", tc.name, tc.got, tc.want)
			}
		})
	}
	if MikrotikTotalLimit_Get(q) != 7 || MikrotikTotalLimitGigawords_Get(q) != 2 {
		t.Fatalf("Total-Limit %d/%d", MikrotikTotalLimit_Get(q), MikrotikTotalLimitGigawords_Get(q))
	}
	// Each attribute is its own Vendor-Specific of vendor 14988 with the MikroTik type.
	for _, a := range q.Attributes {
		if v, inner, err := radius.VendorSpecific(a.Attribute); a.Type != 26 || err != nil || v != 14988 || len(inner) < 2 {
			t.Fatalf("attribute %d is not a MikroTik VSA: vendor %d err %v", a.Type, v, err)
		}
	}
}
