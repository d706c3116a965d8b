package server

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"

	tg "tollgate/radius"
)

// TestRangeRequiresMessageAuthenticator: a NAS entry that is a range drops an
// Access-Request without Message-Authenticator even when its row says it is not
// required; a single address that says so is answered.
func TestRangeRequiresMessageAuthenticator(t *testing.T) {
	for _, tt := range []struct {
		name     string
		prefix   string
		answered bool
	}{
		{"range, row says optional", "127.0.0.0/30", false},
		{"single address, row says optional", "127.0.0.1/32", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nas := testNAS(false)
			nas.Prefix = netip.MustParsePrefix(tt.prefix)
			h := MustServer(t, Config{}, nas, newDirectory(pppoeAccount()).Fake())
			req := MustEncode(t, papRequest(t, "alice", "s3cret!"), false)
			if !tt.answered {
				MustWrite(t, h.conn, req)
				MustNoReply(t, h.conn)
				if got := h.srv.Stats().MissingMA.Load(); got != 1 {
					t.Fatalf("MissingMA = %d, want 1", got)
				}
				// With Message-Authenticator the range is answered as usual.
				req = MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
			}
			if reply := MustReply(t, MustExchange(t, h.conn, req), req); reply.Code != radius.CodeAccessAccept {
				t.Fatalf("code = %v", reply.Code)
			}
		})
	}
}

// TestUnusableNAS: a NAS without a secret (its sealed secret did not open) is left out
// of the snapshot: its packets are dropped and counted as from an unknown NAS, it is
// named by UnusableNAS and counted by the nas_unusable gauge, and every other NAS is
// answered.
func TestUnusableNAS(t *testing.T) {
	h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
	bad := tg.NAS{ID: 8, Name: "bad-nas", Prefix: netip.MustParsePrefix("127.0.0.2/32"), RequireMessageAuthenticator: true}
	h.srv.SetNAS([]tg.NAS{testNAS(true), bad})
	reg := prometheus.NewRegistry()
	if err := h.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	if got := h.srv.UnusableNAS(); !slices.Equal(got, []string{"bad-nas"}) {
		t.Fatalf("UnusableNAS = %v", got)
	}
	if got := mustGauge(t, reg, "tollgate_radius_nas_unusable"); got != 1 {
		t.Fatalf("nas_unusable = %v, want 1", got)
	}
	if _, ok := h.srv.NASByID(8); ok {
		t.Fatal("NASByID finds the unusable NAS")
	}

	c := MustDial(t, h.srv.AuthAddr(), netip.MustParseAddr("127.0.0.2"))
	MustWrite(t, c, MustEncode(t, papRequest(t, "alice", "s3cret!"), true))
	MustEventually(t, "UnknownNAS", func() bool { return h.srv.Stats().UnknownNAS.Load() == 1 })
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4096)); err == nil {
		t.Fatalf("the unusable NAS got a %d-byte reply", n)
	}
	req := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
	if reply := MustReply(t, MustExchange(t, h.conn, req), req); reply.Code != radius.CodeAccessAccept {
		t.Fatalf("the good NAS: code = %v", reply.Code)
	}

	// Its secret opens again (the right key): the next snapshot takes it back.
	bad.Secret = testSecret
	h.srv.SetNAS([]tg.NAS{testNAS(true), bad})
	if got := mustGauge(t, reg, "tollgate_radius_nas_unusable"); got != 0 || len(h.srv.UnusableNAS()) != 0 {
		t.Fatalf("after the fix: nas_unusable = %v, UnusableNAS = %v", got, h.srv.UnusableNAS())
	}
	if reply := MustReply(t, MustExchange(t, c, req), req); reply.Code != radius.CodeAccessAccept {
		t.Fatalf("the fixed NAS: code = %v", reply.Code)
	}
}

// mustGauge reads one unlabelled gauge from reg.
func mustGauge(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	tb.Fatalf("no gauge %s", name)
	return 0
}
