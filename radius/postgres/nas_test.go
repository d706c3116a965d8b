package postgres

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"tollgate/radius"
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
			{"covering two", "other", "10.0.0.0/16", radius.ECONFLICT, `address: 10.0.0.0/16 overlaps NAS "core" (10.0.0.0/24)`},
			{"ipv6", "other", "2001:db8::1/128", radius.ECONFLICT, `address: 2001:db8::1/128 overlaps NAS "v6" (2001:db8::/64)`},
			{"bad name", "bad name", "192.168.1.0/24", radius.EINVALID, ""},
			{"host bits", "other", "192.168.1.1/24", radius.EINVALID, ""},
			{"no address", "other", "", radius.EINVALID, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n := &radius.NAS{Name: tt.nas}
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
		err = ts.CreateNAS(ctx, &radius.NAS{Name: "other", Prefix: netip.MustParsePrefix("10.0.0.7/32")}, []byte("x"))
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
