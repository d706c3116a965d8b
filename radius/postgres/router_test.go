package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

func TestUpdateRouterAPI(t *testing.T) {
	ctx := context.Background()
	s, _ := MustStore(t)
	n := MustCreateNAS(t, s, "r1", "10.0.0.1/32")
	MustCreateNAS(t, s, "r2", "10.0.0.2/32")
	str := func(v string) *string { return &v }
	yes := true
	fp := make([]byte, 32)

	if _, err := s.FindRouterTarget(ctx, "r1"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("no API yet: %v", err)
	}
	// An address alone is not an API.
	if _, err := s.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{Address: str("10.0.0.1:8728")}); radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "api:") {
		t.Fatalf("incomplete: %v", err)
	}
	got, err := s.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{Address: str("10.0.0.1:8729"), User: str("api"),
		SealedPassword: []byte("sealed-pw"), TLS: &yes, Fingerprint: &fp})
	if err != nil {
		t.Fatal(err)
	}
	want := radius.RouterAPI{Address: "10.0.0.1:8729", User: "api", Password: []byte("sealed-pw"), TLS: true, Fingerprint: fp}
	if got.NASID != n.ID || got.NASName != "r1" || got.API.Address != want.Address || string(got.API.Password) != "sealed-pw" || !got.API.TLS || len(got.API.Fingerprint) != 32 {
		t.Fatalf("set: %+v", got)
	}
	// A change of one setting keeps the others; a nil fingerprint removes the pin.
	var nofp []byte
	no := false
	if got, err = s.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{User: str("api2"), Fingerprint: &nofp}); err != nil || got.API.User != "api2" || got.API.Fingerprint != nil || got.API.Address != want.Address {
		t.Fatalf("user: %+v, %v", got, err)
	}
	// A pin needs TLS.
	if _, err := s.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{TLS: &no, Fingerprint: &fp}); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("pin without TLS: %v", err)
	}
	for _, find := range []func() (*radius.RouterTarget, error){
		func() (*radius.RouterTarget, error) { return s.FindRouterTarget(ctx, "r1") },
		func() (*radius.RouterTarget, error) { return s.FindRouterTargetByID(ctx, n.ID) },
	} {
		if tg, err := find(); err != nil || tg.API.User != "api2" || tg.Prefix.String() != "10.0.0.1/32" {
			t.Fatalf("find: %+v, %v", tg, err)
		}
	}
	if list, err := s.FindRouterTargets(ctx); err != nil || len(list) != 1 || list[0].NASName != "r1" {
		t.Fatalf("targets: %+v, %v", list, err)
	}
	// The RADIUS snapshot never holds the API password: ListNAS reads no API column.
	if list, err := s.ListNAS(ctx); err != nil || len(list) != 2 || string(list[0].Secret) != "sealed-r1" {
		t.Fatalf("ListNAS: %+v, %v", list, err)
	}
	// An empty address removes everything.
	if got, err = s.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{Address: str("")}); err != nil || got.API.Configured() || got.API.Password != nil || got.API.TLS {
		t.Fatalf("remove: %+v, %v", got, err)
	}
	if _, err := s.UpdateRouterAPI(ctx, "nope", radius.RouterAPIUpdate{User: str("x")}); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown NAS: %v", err)
	}
	if _, err := s.FindRouterTargetByID(ctx, 999999); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestRecordRouterPoll: heartbeats go through RouterState.Apply under the row's lock;
// each transition is one router_events row; the last success's health stays.
func TestRecordRouterPoll(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	n := MustCreateNAS(t, s, "r1", "10.0.0.1/32")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ok := radius.RouterHealth{NASID: n.ID, NASName: "r1", PolledAt: at(0), Version: "7.18.2", BoardName: "hAP",
		Uptime: 90 * time.Second, CPULoad: 12, FreeMemory: 100, TotalMemory: 200}
	fail := func(m int) radius.RouterHealth {
		return radius.RouterHealth{NASID: n.ID, NASName: "r1", PolledAt: at(m), Error: "connection refused"}
	}
	var trs []radius.RouterTransition
	for _, h := range []radius.RouterHealth{ok, fail(1), fail(2), fail(3), fail(4)} {
		st, tr, err := s.RecordRouterPoll(ctx, h, 3)
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
		if h.PolledAt.Equal(at(4)) && (!st.Down || st.Failures != 4 || !st.Since.Equal(at(3)) || st.Health.Version != "7.18.2") {
			t.Fatalf("after 4 misses: %+v", st)
		}
	}
	up := ok
	up.PolledAt = at(5)
	st, tr, err := s.RecordRouterPoll(ctx, up, 3)
	if err != nil || tr != radius.RouterCameUp || st.Down || st.Failures != 0 || st.Error != "" {
		t.Fatalf("up: %+v %q %v", st, tr, err)
	}
	if want := []radius.RouterTransition{"", "", "", radius.RouterWentDown, ""}; !slices.Equal(trs, want) {
		t.Fatalf("transitions %q, want %q", trs, want)
	}
	states, err := s.FindRouterStates(ctx)
	if err != nil || len(states) != 1 {
		t.Fatalf("states %+v, %v", states, err)
	}
	got := states[0]
	wantH := up
	got.Health.PolledAt, wantH.PolledAt = got.Health.PolledAt.UTC(), wantH.PolledAt.UTC()
	if got.NASName != "r1" || got.Down || got.Health != wantH || !got.Since.Equal(at(5)) {
		t.Fatalf("state %+v\nwant health %+v", got, wantH)
	}
	events, err := s.FindRouterEvents(ctx, "r1", 10)
	if err != nil || len(events) != 2 || events[0].State != radius.RouterCameUp || events[1].State != radius.RouterWentDown ||
		events[1].Error != "connection refused" || !events[1].At.Equal(at(3)) {
		t.Fatalf("events %+v, %v", events, err)
	}
	if n := MustCount(t, pool, `SELECT count(*) FROM router_events`); n != 2 {
		t.Fatalf("%d events", n)
	}
	// A deleted NAS's poll is ENOTFOUND; its heartbeats go with it.
	if err := s.DeleteNAS(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RecordRouterPoll(ctx, ok, 3); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("deleted NAS: %v", err)
	}
	if n := MustCount(t, pool, `SELECT count(*) FROM router_health`); n != 0 {
		t.Fatalf("%d heartbeats left", n)
	}
}

// TestCloseSessions: only sessions still open and not updated since they were read are
// closed, with the cause, at their last update; a later Stop of such a session (it was
// on its way) completes it, while an Interim-Update does not reopen it.
func TestCloseSessions(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	n := MustCreateNAS(t, s, "r1", "10.0.0.1/32")
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	MustRecord(t, w,
		with(start(0), n.ID, "gone"), with(interim(5*time.Minute, 10, 20), n.ID, "gone"),
		with(start(0), n.ID, "moved"),
		with(start(0), n.ID, "stopped"), with(stop(time.Minute, 1, 2, "User-Request"), n.ID, "stopped"),
	)
	read, err := s.FindSessions(ctx, radius.SessionFilter{NASName: "r1", Limit: 10})
	if err != nil || len(read) != 3 {
		t.Fatalf("sessions %+v, %v", read, err)
	}
	// "moved" gets an update after it was read: the router still has it.
	MustRecord(t, w, with(interim(6*time.Minute, 5, 5), n.ID, "moved"))
	closed, err := s.CloseSessions(ctx, read, radius.CauseLostCarrier)
	if err != nil || len(closed) != 1 || closed[0].SessionID != "gone" || closed[0].TerminateCause != radius.CauseLostCarrier ||
		!closed[0].StoppedAt.Equal(t0.Add(5*time.Minute)) || closed[0].NASName != "r1" {
		t.Fatalf("closed %+v, %v", closed, err)
	}
	if x := MustSession(t, pool, n.ID, "moved"); !x.Open() {
		t.Fatalf("moved closed: %+v", x)
	}
	// A late interim leaves it closed; its Stop completes it with the router's counts.
	MustRecord(t, w, with(interim(7*time.Minute, 30, 40), n.ID, "gone"))
	if x := MustSession(t, pool, n.ID, "gone"); x.Open() || x.InputOctets != 10 {
		t.Fatalf("after a late interim: %+v", x)
	}
	MustRecord(t, w, with(stop(8*time.Minute, 50, 60, "User-Request"), n.ID, "gone"))
	if x := MustSession(t, pool, n.ID, "gone"); x.Open() || x.TerminateCause != "User-Request" || x.InputOctets != 50 || !x.StoppedAt.Equal(t0.Add(8*time.Minute)) {
		t.Fatalf("after the stop: %+v", x)
	}
	if closed, err := s.CloseSessions(ctx, nil, radius.CauseLostCarrier); err != nil || closed != nil {
		t.Fatalf("nothing: %v %v", closed, err)
	}
}
