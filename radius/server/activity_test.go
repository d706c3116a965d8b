package server

import (
	"net"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"

	tg "tollgate/radius"
)

// TestNASActivity counts each NAS's requests, accepts, rejects and drops and its last
// request, keeps them over a reload of the snapshot (the NAS keeps its ID), and exports
// them at /metrics labelled with the NAS's name.
func TestNASActivity(t *testing.T) {
	h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
	reg := prometheus.NewRegistry()
	if err := h.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	if a := h.srv.NASActivity(); len(a) != 1 || a[0].Requests != 0 || !a[0].LastSeen.IsZero() {
		t.Fatalf("before any packet: %+v", a)
	}

	ok := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
	if r := MustReply(t, MustExchange(t, h.conn, ok), ok); r.Code != radius.CodeAccessAccept {
		t.Fatalf("code %v", r.Code)
	}
	bad := MustEncode(t, papRequest(t, "alice", "wrong"), true)
	if r := MustReply(t, MustExchange(t, h.conn, bad), bad); r.Code != radius.CodeAccessReject {
		t.Fatalf("code %v", r.Code)
	}
	// No Message-Authenticator, which the NAS requires: dropped. MustNoReply's probe
	// (a Status-Server) is one more request.
	MustWrite(t, h.conn, MustEncode(t, papRequest(t, "alice", "s3cret!"), false))
	MustNoReply(t, h.conn)

	want := tg.NASActivity{NASID: 7, NASName: "test-nas", Requests: 4, Accepts: 1, Rejects: 1, Drops: 1}
	check := func(when string) {
		t.Helper()
		got := h.srv.NASActivity()
		if len(got) == 0 || got[len(got)-1].NASName != "test-nas" {
			t.Fatalf("%s: %+v", when, got)
		}
		g := got[len(got)-1] // by name: router2 < test-nas
		if !g.LastSeen.Equal(testNow) {
			t.Errorf("%s: last seen %v, want %v", when, g.LastSeen, testNow)
		}
		g.LastSeen = want.LastSeen
		if g != want {
			t.Errorf("%s: activity %+v, want %+v", when, g, want)
		}
	}
	check("after four packets")

	// Reloads (an admin change, the periodic one) keep the counts of a NAS that keeps
	// its ID; a NAS added later starts at zero.
	other := tg.NAS{ID: 2, Name: "router2", Prefix: netip.MustParsePrefix("127.0.0.9/32"), Secret: testSecret}
	h.srv.SetNAS([]tg.NAS{testNAS(true), other})
	check("after a reload")
	if a := h.srv.NASActivity(); len(a) != 2 || a[0].NASName != "router2" || a[0].Requests != 0 {
		t.Fatalf("the new NAS: %+v", a)
	}

	for name, v := range map[string]float64{
		"tollgate_radius_nas_requests_total":                 4,
		"tollgate_radius_nas_accepts_total":                  1,
		"tollgate_radius_nas_rejects_total":                  1,
		"tollgate_radius_nas_drops_total":                    1,
		"tollgate_radius_nas_last_request_timestamp_seconds": float64(testNow.Unix()),
	} {
		if got := mustLabelled(t, reg, name, "test-nas"); got != v {
			t.Errorf("%s{nas=test-nas} = %v, want %v", name, got, v)
		}
	}
	if got := mustLabelled(t, reg, "tollgate_radius_nas_requests_total", "router2"); got != 0 {
		t.Errorf("requests of router2 = %v", got)
	}
}

// mustLabelled reads the series of metric name with label nas from reg.
func mustLabelled(tb testing.TB, reg *prometheus.Registry, name, nas string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "nas" && l.GetValue() == nas {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	tb.Fatalf("no series %s{nas=%q}", name, nas)
	return 0
}

// mustCachedDatagram answers one request and returns it as the reader holds it: the
// same datagram again is a retransmit the reply cache answers.
func mustCachedDatagram(tb testing.TB, h *harness) (bp *[]byte, n int, from netip.AddrPort) {
	tb.Helper()
	req := MustEncode(tb, papRequest(tb, "alice", "s3cret!"), true)
	MustExchange(tb, h.conn, req)
	bp = bufPool.Get().(*[]byte)
	return bp, copy(*bp, req), h.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// BenchmarkAccept is the reader's path for one datagram, the NAS's counters included:
// the reply cache answers a retransmit. It must not allocate.
func BenchmarkAccept(b *testing.B) {
	h := MustServer(b, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
	bp, n, from := mustCachedDatagram(b, h)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.srv.accept(h.srv.conns[0], bp, n, from)
	}
}

// TestAcceptAllocs holds BenchmarkAccept's promise in the ordinary test run.
func TestAcceptAllocs(t *testing.T) {
	h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
	bp, n, from := mustCachedDatagram(t, h)
	if a := testing.AllocsPerRun(200, func() { h.srv.accept(h.srv.conns[0], bp, n, from) }); a != 0 {
		t.Fatalf("accept allocates %v times per datagram", a)
	}
	if got := h.srv.NASActivity()[0].Requests; got < 201 {
		t.Fatalf("requests = %d, want every retransmit counted", got)
	}
}
