package postgres

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// MustCreateNAS creates a NAS named name on prefix with the sealed secret "sealed-"+name.
func MustCreateNAS(tb testing.TB, s *Store, name, prefix string) *radius.NAS {
	tb.Helper()
	n := &radius.NAS{Name: name, Prefix: netip.MustParsePrefix(prefix), RequireMessageAuthenticator: true}
	if err := s.CreateNAS(context.Background(), n, []byte("sealed-"+name)); err != nil {
		tb.Fatalf("create NAS %s: %v", name, err)
	}
	return n
}

func TestNAS(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	edge := MustCreateNAS(t, s, "edge", "10.0.1.1/32")
	v6 := MustCreateNAS(t, s, "v6", "2001:db8::/64")
	if core.ID == 0 || edge.ID == 0 || core.ID == edge.ID {
		t.Fatalf("IDs = %d, %d", core.ID, edge.ID)
	}
	if core.CoAPort != 3799 {
		t.Fatalf("CoAPort = %d, want the default 3799", core.CoAPort)
	}

	t.Run("create errors", func(t *testing.T) {
		tests := []struct {
			name, nas, prefix string
			code, msg         string
		}{
			{"same name", "core", "192.168.0.0/24", radius.ECONFLICT, `name: a NAS named "core" exists`},
			{"same name and address", "core", "10.0.0.0/24", radius.ECONFLICT, `name: a NAS named "core" exists`},
			{"inside a range", "other", "10.0.0.128/25", radius.ECONFLICT, `address: 10.0.0.128/25 overlaps NAS "core" (10.0.0.0/24)`},
			{"same host", "other", "10.0.1.1/32", radius.ECONFLICT, `address: 10.0.1.1/32 overlaps NAS "edge" (10.0.1.1/32)`},
			{"covering a host", "other", "10.0.1.0/24", radius.ECONFLICT, `address: 10.0.1.0/24 overlaps NAS "edge" (10.0.1.1/32)`},
			{"wider than a /24", "other", "172.16.0.0/23", radius.EINVALID, "address: 172.16.0.0/23 is wider than a /24: give the router's address, or a range of at most 256 addresses"},
			{"wider than a /56", "other", "2001:db9::/55", radius.EINVALID, "address: 2001:db9::/55 is wider than a /56: give the router's address, or a narrower range"},
			{"ipv6", "other", "2001:db8::1/128", radius.ECONFLICT, `address: 2001:db8::1/128 overlaps NAS "v6" (2001:db8::/64)`},
			{"bad name", "bad name", "192.168.1.0/24", radius.EINVALID, ""},
			{"host bits", "other", "192.168.1.1/24", radius.EINVALID, ""},
			{"no address", "other", "", radius.EINVALID, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n := &radius.NAS{Name: tt.nas, RequireMessageAuthenticator: true}
				if tt.prefix != "" {
					n.Prefix = netip.MustParsePrefix(tt.prefix)
				}
				err := s.CreateNAS(ctx, n, []byte("x"))
				if radius.ErrorCode(err) != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				if tt.msg != "" && radius.ErrorMessage(err) != tt.msg {
					t.Fatalf("message = %q, want %q", radius.ErrorMessage(err), tt.msg)
				}
			})
		}
	})

	t.Run("conflict keeps the transaction usable", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		ts := New(tx)
		err = ts.CreateNAS(ctx, &radius.NAS{Name: "other", Prefix: netip.MustParsePrefix("10.0.0.7/32"), RequireMessageAuthenticator: true}, []byte("x"))
		if radius.ErrorMessage(err) != `address: 10.0.0.7/32 overlaps NAS "core" (10.0.0.0/24)` {
			t.Fatalf("err = %v", err)
		}
		MustCreateNAS(t, ts, "other", "10.0.2.0/24")
	})

	t.Run("list", func(t *testing.T) {
		list, err := s.ListNAS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []*radius.NAS{core, edge, v6}
		if len(list) != len(want) {
			t.Fatalf("ListNAS = %d rows, want %d", len(list), len(want))
		}
		for i, w := range want {
			g := list[i]
			if g.ID != w.ID || g.Name != w.Name || g.Prefix != w.Prefix || g.CoAPort != 3799 ||
				!g.RequireMessageAuthenticator || !bytes.Equal(g.Secret, []byte("sealed-"+w.Name)) {
				t.Fatalf("row %d = %+v, want %+v with the sealed secret", i, g, w)
			}
		}
	})

	t.Run("find", func(t *testing.T) {
		n, err := s.FindNASByName(ctx, "edge")
		if err != nil {
			t.Fatal(err)
		}
		if n.ID != edge.ID || n.Prefix != edge.Prefix || string(n.Secret) != "sealed-edge" {
			t.Fatalf("FindNASByName = %+v", n)
		}
		if _, err := s.FindNASByName(ctx, "nope"); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("missing: err = %v, want ENOTFOUND", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteNAS(ctx, "edge"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteNAS(ctx, "edge"); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("second delete: err = %v, want ENOTFOUND", err)
		}
		// Its range is free again.
		MustCreateNAS(t, s, "edge2", "10.0.1.0/24")
	})
}

// TestNASLimits: the address and Message-Authenticator rules hold on every write path,
// with a message naming the field; the database refuses what the checks would miss.
func TestNASLimits(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)

	t.Run("prefix lengths", func(t *testing.T) {
		for _, tt := range []struct {
			prefix string
			ok     bool
		}{
			{"192.0.2.0/24", true},
			{"198.51.100.0/23", false},
			{"10.0.0.0/8", false},
			{"2001:db8:1::/56", true},
			{"2001:db8:2::/55", false},
			{"2001:db8:3::1/128", true},
		} {
			n := &radius.NAS{Name: "p" + strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(tt.prefix), Prefix: netip.MustParsePrefix(tt.prefix), RequireMessageAuthenticator: true}
			err := s.CreateNAS(ctx, n, []byte("x"))
			if tt.ok != (err == nil) || !tt.ok && (radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "address: ")) {
				t.Errorf("create %s: err = %v; want ok=%v or EINVALID naming address", tt.prefix, err, tt.ok)
			}
		}
	})

	t.Run("a range requires Message-Authenticator", func(t *testing.T) {
		n := &radius.NAS{Name: "lax-range", Prefix: netip.MustParsePrefix("10.1.0.0/24")}
		if err := s.CreateNAS(ctx, n, []byte("x")); radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "require_message_authenticator: ") {
			t.Fatalf("range without MA: err = %v", err)
		}
		// A single address may go without (routers older than RouterOS 7.15).
		lax := &radius.NAS{Name: "lax-host", Prefix: netip.MustParsePrefix("10.1.1.1/32")}
		if err := s.CreateNAS(ctx, lax, []byte("x")); err != nil {
			t.Fatal(err)
		}
		// ... but cannot become a range without it.
		wide := netip.MustParsePrefix("10.1.1.0/24")
		_, err := s.UpdateNAS(ctx, "lax-host", radius.NASUpdate{Prefix: &wide})
		if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "require_message_authenticator: ") {
			t.Fatalf("update to a range without MA: err = %v", err)
		}
		off := false
		MustCreateNAS(t, s, "strict-range", "10.1.2.0/24")
		_, err = s.UpdateNAS(ctx, "strict-range", radius.NASUpdate{RequireMessageAuthenticator: &off})
		if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "require_message_authenticator: ") {
			t.Fatalf("range turning MA off: err = %v", err)
		}
		// The database holds the rule for any other writer.
		if _, err := pool.Exec(ctx, `INSERT INTO nas (name, address, secret, require_message_authenticator) VALUES ('sql', '10.1.3.0/24', 'x', false)`); pg.Error(err) == nil || pg.Error(err).ConstraintName != "nas_range_requires_ma" {
			t.Fatalf("SQL insert of a range without MA: err = %v", err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO nas (name, address, secret) VALUES ('sql', '10.2.0.0/16', 'x')`); pg.Error(err) == nil || pg.Error(err).ConstraintName != "nas_address_min_prefix" {
			t.Fatalf("SQL insert of a /16: err = %v", err)
		}
	})

	t.Run("update", func(t *testing.T) {
		MustCreateNAS(t, s, "up", "10.3.0.1/32")
		MustCreateNAS(t, s, "neighbour", "10.3.1.0/24")
		addr := netip.MustParsePrefix("10.3.0.2/32")
		port := 1700
		off := false
		hosts := []string{"10.5.50.1", "hotspot.example.net"}
		n, err := s.UpdateNAS(ctx, "up", radius.NASUpdate{Prefix: &addr, SealedSecret: []byte("new-sealed"), CoAPort: &port, RequireMessageAuthenticator: &off, LoginHosts: &hosts})
		if err != nil {
			t.Fatal(err)
		}
		if n.Prefix != addr || string(n.Secret) != "new-sealed" || n.CoAPort != 1700 || n.RequireMessageAuthenticator || !slices.Equal(n.LoginHosts, hosts) {
			t.Fatalf("UpdateNAS = %+v", n)
		}
		// An empty update changes nothing but the time; nil fields keep their values.
		got, err := s.UpdateNAS(ctx, "up", radius.NASUpdate{})
		if err != nil || got.Prefix != addr || string(got.Secret) != "new-sealed" || !slices.Equal(got.LoginHosts, hosts) {
			t.Fatalf("empty update = %+v, %v", got, err)
		}
		for _, tt := range []struct {
			name string
			upd  radius.NASUpdate
			code string
			msg  string
		}{
			{"overlap", radius.NASUpdate{Prefix: ptr(netip.MustParsePrefix("10.3.1.7/32"))}, radius.ECONFLICT, `address: 10.3.1.7/32 overlaps NAS "neighbour" (10.3.1.0/24)`},
			{"too wide", radius.NASUpdate{Prefix: ptr(netip.MustParsePrefix("10.3.0.0/20"))}, radius.EINVALID, "address: "},
			{"bad login host", radius.NASUpdate{LoginHosts: &[]string{"http://10.5.50.1/login"}}, radius.EINVALID, "login_host: "},
			{"ipv6 login host", radius.NASUpdate{LoginHosts: &[]string{"fe80::1"}}, radius.EINVALID, "login_host: "},
			{"empty secret", radius.NASUpdate{SealedSecret: []byte{}}, radius.EINVALID, "secret: "},
			{"bad port", radius.NASUpdate{CoAPort: ptr(65536)}, radius.EINVALID, "coa_port: "},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.UpdateNAS(ctx, "up", tt.upd)
				if radius.ErrorCode(err) != tt.code || !strings.HasPrefix(radius.ErrorMessage(err), tt.msg) {
					t.Fatalf("err = %v; want %s %q", err, tt.code, tt.msg)
				}
			})
		}
		if _, err := s.UpdateNAS(ctx, "nope", radius.NASUpdate{CoAPort: &port}); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("missing NAS: err = %v", err)
		}
		// The database refuses a login host the application would not write.
		if _, err := pool.Exec(ctx, `UPDATE nas SET login_hosts = '{"Evil.example/x"}' WHERE name = 'up'`); pg.Error(err) == nil || pg.Error(err).ConstraintName != "nas_login_hosts_check" {
			t.Fatalf("SQL update of a bad login host: err = %v", err)
		}
	})

	t.Run("login hosts", func(t *testing.T) {
		n := &radius.NAS{Name: "cafe", Prefix: netip.MustParsePrefix("10.4.0.1/32"), RequireMessageAuthenticator: true, LoginHosts: []string{"hotspot.example.net", "10.5.60.1"}}
		if err := s.CreateNAS(ctx, n, []byte("x")); err != nil {
			t.Fatal(err)
		}
		bad := &radius.NAS{Name: "cafe2", Prefix: netip.MustParsePrefix("10.4.0.2/32"), RequireMessageAuthenticator: true, LoginHosts: []string{"Hotspot.Example.NET"}}
		if err := s.CreateNAS(ctx, bad, []byte("x")); radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "login_host: ") {
			t.Fatalf("unnormalized login host: err = %v", err)
		}
		got, err := s.LoginHosts(ctx)
		if want := []string{"10.5.50.1", "10.5.60.1", "hotspot.example.net"}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("LoginHosts = %v, %v; want %v (distinct, sorted)", got, err, want)
		}
		f, err := s.FindNASByName(ctx, "cafe")
		if err != nil || !slices.Equal(f.LoginHosts, n.LoginHosts) {
			t.Fatalf("FindNASByName = %+v, %v", f, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
