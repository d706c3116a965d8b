package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// mustSession inserts one session row: open when stop is zero.
func mustSession(tb testing.TB, db pg.DBTX, nasID int64, id, user string, start, stop time.Time, extra ...string) {
	tb.Helper()
	var stopArg any
	if !stop.IsZero() {
		stopArg = stop
	}
	mac, ip := "", any(nil)
	if len(extra) > 0 {
		mac = extra[0]
	}
	if len(extra) > 1 {
		ip = extra[1]
	}
	MustExec(tb, db, `INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, stopped_at, mac, framed_ip)
VALUES ($1, $2, $3, $4, $3, $5, $6, $7::inet)`, nasID, id, start, user, stopArg, mac, ip)
}

// TestSessionsByHour compares the hourly counts with a count of each hour's overlapping
// sessions made here, over random sessions around the window's edges.
func TestSessionsByHour(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	now := time.Now().Truncate(time.Second)
	from := now.Truncate(time.Hour).Add(-23 * time.Hour)
	type span struct{ start, stop time.Time }
	var spans []span
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		start := now.Add(-time.Duration(rng.IntN(30*3600)) * time.Second)
		var stop time.Time
		if i%5 != 0 {
			stop = start.Add(time.Duration(rng.IntN(6*3600)) * time.Second)
			if stop.After(now) {
				stop = now
			}
		}
		// Edges: a session that stops exactly as an hour starts, one that starts as the
		// window ends.
		switch i {
		case 1:
			start, stop = from.Add(-time.Hour), from.Add(2*time.Hour)
		case 2:
			start, stop = from.Add(5*time.Hour), time.Time{}
		}
		spans = append(spans, span{start, stop})
		mustSession(t, pool, core.ID, fmt.Sprintf("s%d", i), "alice", start, stop)
	}
	got, err := s.SessionsByHour(ctx, from, 24, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 24 {
		t.Fatalf("%d hours", len(got))
	}
	for h, hc := range got {
		hs, he := from.Add(time.Duration(h)*time.Hour), from.Add(time.Duration(h+1)*time.Hour)
		var want int64
		for _, sp := range spans {
			end := sp.stop
			if end.IsZero() {
				end = now
			}
			if sp.start.Before(he) && !end.Before(hs) && !end.Before(sp.start) {
				want++
			}
		}
		if !hc.At.Equal(hs) || hc.Sessions != want {
			t.Errorf("hour %d: %v %d sessions, want %v %d", h, hc.At, hc.Sessions, hs, want)
		}
	}
}

// TestOnlineCounts counts open sessions by NAS and by their account's plan, and the auth
// log by minute and by reject reason.
func TestOnlineCounts(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	edge := MustCreateNAS(t, s, "edge", "10.0.1.0/24")
	gold := MustPlan(t, pool, "gold", "pppoe")
	day := MustPlan(t, pool, "day", "hotspot")
	MustExec(t, pool, `INSERT INTO subscribers (username, password, plan_id) VALUES ('alice', '\x00', $1), ('bob', '\x00', $1)`, gold)
	MustExec(t, pool, `INSERT INTO voucher_batches (plan_id, mode, count) VALUES ($1, 'code', 1)`, day)
	MustExec(t, pool, `INSERT INTO vouchers (batch_id, plan_id, username, password, code_hash, code_sealed)
VALUES ((SELECT max(id) FROM voucher_batches), $1, 'voucher-9', '\x00', '\x0000000000000000000000000000000000000000000000000000000000000000', '\x00')`, day)
	now := time.Now()
	mustSession(t, pool, core.ID, "a1", "alice", now.Add(-time.Hour), time.Time{})
	mustSession(t, pool, core.ID, "a0", "alice", now.Add(-3*time.Hour), now.Add(-2*time.Hour)) // closed: not online
	mustSession(t, pool, edge.ID, "b1", "bob", now.Add(-time.Hour), time.Time{})
	mustSession(t, pool, core.ID, "v1", "voucher-9", now.Add(-time.Minute), time.Time{})
	mustSession(t, pool, core.ID, "x1", "stranger", now.Add(-time.Minute), time.Time{})

	byNAS, err := s.OnlineByNAS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []radius.NamedCount{{Name: "core", Count: 3}, {Name: "edge", Count: 1}}; !slices.Equal(byNAS, want) {
		t.Errorf("by NAS %v, want %v", byNAS, want)
	}
	byPlan, err := s.OnlineByPlan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []radius.NamedCount{{Name: "gold", Count: 2}, {Name: "", Count: 1}, {Name: "day", Count: 1}}; !slices.Equal(byPlan, want) {
		t.Errorf("by plan %v, want %v", byPlan, want)
	}

	minute := now.Truncate(time.Minute)
	for i, r := range []struct {
		at     time.Time
		reason string
	}{
		{minute.Add(-2 * time.Minute), "ok"}, {minute.Add(-2 * time.Minute), "bad_password"},
		{minute.Add(-2*time.Minute + 59*time.Second), "ok"},
		{minute.Add(-time.Minute), "expired"}, {minute.Add(-time.Minute), "bad_password"},
		{minute.Add(-90 * time.Minute), "bad_password"}, // before the hour
	} {
		MustExec(t, pool, `INSERT INTO auth_log (at, nas_id, username, method, reason) VALUES ($1, $2, $3, 'pap', $4)`,
			r.at, core.ID, fmt.Sprint("u", i), r.reason)
	}
	mins, err := s.AuthByMinute(ctx, minute.Add(-time.Hour), minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []radius.AuthMinute{{At: minute.Add(-2 * time.Minute), Accepts: 2, Rejects: 1}, {At: minute.Add(-time.Minute), Rejects: 2}}
	if len(mins) != 2 || !mins[0].At.Equal(want[0].At) || mins[0].Accepts != 2 || mins[0].Rejects != 1 ||
		!mins[1].At.Equal(want[1].At) || mins[1].Accepts != 0 || mins[1].Rejects != 2 {
		t.Errorf("by minute %v, want %v", mins, want)
	}
	reasons, err := s.RejectReasons(ctx, minute.Add(-time.Hour), 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := []radius.NamedCount{{Name: "bad_password", Count: 2}, {Name: "expired", Count: 1}}; !slices.Equal(reasons, want) {
		t.Errorf("reasons %v, want %v", reasons, want)
	}
}

// TestFindSessionViews lists sessions with their plan and rate, filtered by NAS and
// online, searched by username (exact or prefix), MAC and IP, page by page.
func TestFindSessionViews(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	edge := MustCreateNAS(t, s, "edge", "10.0.1.0/24")
	gold := MustPlan(t, pool, "gold", "pppoe")
	iso := MustPlan(t, pool, "walled", "pppoe")
	MustExec(t, pool, `UPDATE plans SET rate_limit = '256k/256k' WHERE id = $1`, iso)
	MustExec(t, pool, `UPDATE plans SET isolation_plan_id = $2 WHERE id = $1`, gold, iso)
	MustExec(t, pool, `INSERT INTO subscribers (username, password, plan_id) VALUES ('alice', '\x00', $1), ('albert', '\x00', $1)`, gold)
	MustExec(t, pool, `INSERT INTO subscriptions (subscriber_id, plan_id, state, anchor_day, period_start, period_end)
SELECT id, plan_id, 'isolated', 1, now() - interval '40 days', now() - interval '10 days' FROM subscribers WHERE username = 'albert'`)
	now := time.Now().Truncate(time.Second)
	mustSession(t, pool, core.ID, "a1", "alice", now.Add(-4*time.Hour), now.Add(-3*time.Hour), "AA:BB:CC:00:00:01", "100.64.0.1")
	mustSession(t, pool, core.ID, "a2", "alice", now.Add(-2*time.Hour), time.Time{}, "AA:BB:CC:00:00:01", "100.64.0.2")
	mustSession(t, pool, edge.ID, "b1", "albert", now.Add(-time.Hour), time.Time{}, "AA:BB:CC:00:00:02", "100.64.0.3")
	mustSession(t, pool, edge.ID, "c1", "carol", now.Add(-time.Minute), time.Time{})

	keysOf := func(vs []radius.SessionView) []string {
		var k []string
		for _, v := range vs {
			k = append(k, v.NASName+"/"+v.SessionID)
		}
		return k
	}
	for _, tt := range []struct {
		name string
		q    radius.SessionQuery
		want []string
	}{
		{"all", radius.SessionQuery{}, []string{"edge/c1", "edge/b1", "core/a2", "core/a1"}},
		{"online", radius.SessionQuery{Online: true}, []string{"edge/c1", "edge/b1", "core/a2"}},
		{"NAS", radius.SessionQuery{NASName: "core"}, []string{"core/a2", "core/a1"}},
		{"username", radius.SessionQuery{Search: "alice"}, []string{"core/a2", "core/a1"}},
		{"not a prefix without *", radius.SessionQuery{Search: "al"}, nil},
		{"prefix", radius.SessionQuery{Search: "al*"}, []string{"edge/b1", "core/a2", "core/a1"}},
		{"MAC in any spelling", radius.SessionQuery{Search: "aa-bb-cc-00-00-02"}, []string{"edge/b1"}},
		{"IP", radius.SessionQuery{Search: "100.64.0.2"}, []string{"core/a2"}},
		{"online on a NAS by prefix", radius.SessionQuery{Online: true, NASName: "core", Search: "al*"}, []string{"core/a2"}},
		{"session id", radius.SessionQuery{SessionID: "a1"}, []string{"core/a1"}},
		{"one username", radius.SessionQuery{Username: "alice"}, []string{"core/a2", "core/a1"}},
		{"one username, not a prefix", radius.SessionQuery{Username: "al*"}, nil},
		{"rate from the plan", radius.SessionQuery{Online: true, RatePlanID: gold}, []string{"core/a2"}},
		{"rate from the isolation plan", radius.SessionQuery{Online: true, RatePlanID: iso}, []string{"edge/b1"}},
		{"page", radius.SessionQuery{Limit: 2, After: &radius.SessionPos{StartedAt: now.Add(-time.Hour), NASID: edge.ID, SessionID: "b1"}}, []string{"core/a2", "core/a1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FindSessionViews(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if k := keysOf(got); !slices.Equal(k, tt.want) {
				t.Fatalf("%v, want %v", k, tt.want)
			}
		})
	}
	MustExec(t, pool, `UPDATE subscribers SET restricted = true WHERE username = 'albert'`)
	got, err := s.FindSessionViews(ctx, radius.SessionQuery{Online: true})
	if err != nil {
		t.Fatal(err)
	}
	plans := map[string]string{}
	for _, v := range got {
		plans[v.Username] = fmt.Sprintf("%s %s %v subscriber:%v restricted:%v", v.PlanName, v.RateLimit, v.Isolated, v.SubscriberID != 0, v.Restricted)
	}
	want := map[string]string{"alice": "gold 10M/20M false subscriber:true restricted:false", "albert": "gold 256k/256k true subscriber:true restricted:true",
		"carol": "  false subscriber:false restricted:false"}
	for u, w := range want {
		if plans[u] != w {
			t.Errorf("%s: %q, want %q", u, plans[u], w)
		}
	}
}
