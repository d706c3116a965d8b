package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
)

// keys returns "nas/session" of each session, in order.
func keys(list []radius.Session) []string {
	var k []string
	for _, s := range list {
		k = append(k, s.NASName+"/"+s.SessionID)
	}
	return k
}

// asUser returns r with username u.
func asUser(r radius.AcctRecord, u string) radius.AcctRecord {
	r.Username = u
	return r
}

func TestFindSessions(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	edge := MustCreateNAS(t, s, "edge", "10.0.1.0/24")
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	MustRecord(t, w,
		with(start(0), core.ID, "s1"), with(stop(time.Hour, big1, big2, "User-Request"), core.ID, "s1"),
		with(start(2*time.Hour), core.ID, "s2"),
		asUser(with(start(3*time.Hour), core.ID, "s3"), "bob"),
		with(start(4*time.Hour), edge.ID, "s1"),
		with(start(5*time.Hour), 999, "ghost"), // a NAS deleted since
	)

	tests := []struct {
		name   string
		filter radius.SessionFilter
		want   []string
	}{
		{"all, newest first", radius.SessionFilter{}, []string{"/ghost", "edge/s1", "core/s3", "core/s2", "core/s1"}},
		{"username", radius.SessionFilter{Username: "alice"}, []string{"/ghost", "edge/s1", "core/s2", "core/s1"}},
		{"NAS name", radius.SessionFilter{NASName: "core"}, []string{"core/s3", "core/s2", "core/s1"}},
		{"session id", radius.SessionFilter{SessionID: "s1"}, []string{"edge/s1", "core/s1"}},
		{"online", radius.SessionFilter{Online: true}, []string{"/ghost", "edge/s1", "core/s3", "core/s2"}},
		{"all filters", radius.SessionFilter{Username: "alice", NASName: "core", Online: true, SessionID: "s2"}, []string{"core/s2"}},
		{"limit", radius.SessionFilter{Limit: 2}, []string{"/ghost", "edge/s1"}},
		{"unknown NAS", radius.SessionFilter{NASName: "nowhere"}, nil},
		{"unknown user", radius.SessionFilter{Username: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.FindSessions(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(list); !slices.Equal(got, tt.want) {
				t.Fatalf("sessions %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		list, err := s.FindSessions(ctx, radius.SessionFilter{NASName: "core", SessionID: "s1"})
		if err != nil || len(list) != 1 {
			t.Fatalf("%d sessions, %v", len(list), err)
		}
		want := stopped(session(0, time.Hour, big1, big2), time.Hour, "User-Request")
		want.NASID, want.NASName, want.SessionID = core.ID, "core", "s1"
		if got := utcSession(list[0]); got != want {
			t.Fatalf("session\n got %+v\nwant %+v", got, want)
		}
	})
}

func TestFindSessionsLimit(t *testing.T) {
	s, pool := MustStore(t)
	MustExec(t, pool, `
INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update)
SELECT 1, 's' || i, $1::timestamptz + i * interval '1 second', 'dave', $1
FROM generate_series(1, 10050) i`, t0)
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"default", 0, 100},
		{"negative", -1, 100},
		{"asked", 250, 250},
		{"at most 10000", 20000, 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.FindSessions(context.Background(), radius.SessionFilter{Username: "dave", Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != tt.want || list[0].SessionID != "s10050" {
				t.Fatalf("%d sessions, first %s; want %d, first s10050", len(list), list[0].SessionID, tt.want)
			}
		})
	}
}

func TestSessionStats(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	st, err := s.SessionStats(ctx)
	if err != nil || st != (radius.SessionStats{}) {
		t.Fatalf("empty: %+v, %v", st, err)
	}
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	MustRecord(t, w,
		with(stop(time.Hour, big1, big2, "User-Request"), 1, "a"),
		with(interim(time.Hour, big2, big1), 1, "b"),
		with(start(0), 2, "a"),
	)
	st, err = s.SessionStats(ctx)
	want := radius.SessionStats{Sessions: 3, Open: 2, Closed: 1, InputOctets: big1 + big2, OutputOctets: big2 + big1}
	if err != nil || st != want {
		t.Fatalf("stats %+v, %v; want %+v", st, err, want)
	}
}

func TestCloseStaleSessions(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	edge := MustCreateNAS(t, s, "edge", "10.0.1.0/24")
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	now, grace := t0.Add(24*time.Hour), 30*time.Second
	// lastAt returns a Start whose last update is ago before now, with interval interim.
	lastAt := func(nasID int64, sid string, ago time.Duration, interim uint32) radius.AcctRecord {
		r := with(start(now.Sub(t0)-ago), nasID, sid)
		r.Interim = interim
		return r
	}
	MustRecord(t, w,
		lastAt(core.ID, "fresh60", 2*time.Minute, 60),       // 120s < 2×60s + 30s
		lastAt(core.ID, "stale60", 3*time.Minute, 60),       // 180s > 150s
		lastAt(core.ID, "fresh-default", 10*time.Minute, 0), // 600s < 2×300s + 30s
		lastAt(core.ID, "stale-default", 11*time.Minute, 0), // 660s > 630s
		lastAt(edge.ID, "stale300", 20*time.Minute, 300),    // 1200s > 630s
		lastAt(core.ID, "stopped", 48*time.Hour, 60),
		with(stop(0, 0, 0, "User-Request"), core.ID, "stopped"),
	)
	stoppedRow := MustRow(t, pool, core.ID, "stopped")

	closed, err := s.CloseStaleSessions(ctx, now, grace)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(closed), []string{"core/stale-default", "core/stale60", "edge/stale300"}; !slices.Equal(got, want) {
		t.Fatalf("closed %q, want %q", got, want)
	}
	for _, c := range closed {
		t.Run(c.SessionID, func(t *testing.T) {
			if !c.StoppedAt.Equal(c.LastUpdate) || c.TerminateCause != radius.CauseStale || c.Username != "alice" {
				t.Fatalf("returned %+v", c)
			}
			got := MustSession(t, pool, c.NASID, c.SessionID)
			if got != utcSession(c) {
				t.Fatalf("stored %+v\nreturned %+v", got, utcSession(c))
			}
		})
	}
	t.Run("the others stay", func(t *testing.T) {
		for _, sid := range []string{"fresh60", "fresh-default"} {
			if got := MustSession(t, pool, core.ID, sid); !got.Open() {
				t.Errorf("%s closed", sid)
			}
		}
		if got := MustRow(t, pool, core.ID, "stopped"); got != stoppedRow {
			t.Errorf("stopped session changed:\nbefore %s\nafter  %s", stoppedRow, got)
		}
	})
	t.Run("again", func(t *testing.T) {
		closed, err := s.CloseStaleSessions(ctx, now, grace)
		if err != nil || len(closed) != 0 {
			t.Fatalf("closed %q again, %v", keys(closed), err)
		}
	})
	t.Run("a replayed record does not reopen", func(t *testing.T) {
		before := MustRow(t, pool, core.ID, "stale60")
		MustRecord(t, w, lastAt(core.ID, "stale60", 3*time.Minute, 60), lastAt(core.ID, "stale60", 5*time.Minute, 60))
		if after := MustRow(t, pool, core.ID, "stale60"); after != before {
			t.Fatalf("row changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// TestReapedSessionReopens: a session the reaper closed (Stale-Session) is reopened by a
// later Interim-Update and completed by a later Stop, counters only moving forward and
// usage counted once; a session a real Stop ended stays as it is.
func TestReapedSessionReopens(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	now, grace := t0.Add(24*time.Hour), 30*time.Second
	at := func(ago time.Duration) time.Duration { return now.Sub(t0) - ago }
	// Each session started an hour before now and was last heard of 50 minutes ago:
	// stale with its 300s interval.
	for _, sid := range []string{"reopen", "complete", "replay", "final"} {
		r := with(start(at(time.Hour)), core.ID, sid)
		r.EventTime = now.Add(-time.Hour)
		i := with(interim(at(50*time.Minute), gb, 2*gb), core.ID, sid)
		i.SessionTime = 600
		MustRecord(t, w, r, i)
	}
	closed, err := s.CloseStaleSessions(ctx, now, grace)
	if err != nil || len(closed) != 4 {
		t.Fatalf("reaped %q, %v; want 4", keys(closed), err)
	}
	usage := func(t *testing.T) radius.Usage {
		t.Helper()
		u, err := s.FindUsage(ctx, "alice", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	before := usage(t)
	if want := (radius.Usage{Uptime: 4 * 600 * time.Second, Bytes: 4 * 3 * gb}); before != want {
		t.Fatalf("usage before = %+v, want %+v", before, want)
	}
	// later is an interim after the outage: 20 minutes more, and more traffic.
	later := func(sid string, ago time.Duration, in, out uint64) radius.AcctRecord {
		r := with(interim(at(ago), in, out), core.ID, sid)
		r.SessionTime = uint32((time.Hour - ago) / time.Second)
		return r
	}

	t.Run("reap then interim reopens", func(t *testing.T) {
		MustRecord(t, w, later("reopen", time.Minute, 2*gb, 3*gb))
		got := MustSession(t, pool, core.ID, "reopen")
		if !got.Open() || got.TerminateCause != "" || !got.LastUpdate.Equal(now.Add(-time.Minute)) ||
			got.InputOctets != 2*gb || got.OutputOctets != 3*gb || got.SessionTime != 59*60 {
			t.Fatalf("after the interim: %+v", got)
		}
		open, err := s.FindSessions(ctx, radius.SessionFilter{SessionID: "reopen", Online: true})
		if err != nil || len(open) != 1 {
			t.Fatalf("online sessions %q, %v", keys(open), err)
		}
		// Counters only move forward: a newer interim with a smaller counter keeps the larger.
		MustRecord(t, w, later("reopen", 30*time.Second, gb, 4*gb))
		if got := MustSession(t, pool, core.ID, "reopen"); got.InputOctets != 2*gb || got.OutputOctets != 4*gb || !got.Open() {
			t.Fatalf("after a smaller counter: %+v", got)
		}
		// It is fresh now: the reaper leaves it alone.
		if closed, err := s.CloseStaleSessions(ctx, now, grace); err != nil || len(closed) != 0 {
			t.Fatalf("reaped again: %q, %v", keys(closed), err)
		}
	})
	t.Run("reap then stop completes", func(t *testing.T) {
		r := later("complete", 2*time.Minute, 5*gb, 5*gb)
		r.Status, r.TerminateCause = radius.AcctStop, "Lost-Carrier"
		MustRecord(t, w, r)
		got := MustSession(t, pool, core.ID, "complete")
		if got.Open() || !got.StoppedAt.Equal(now.Add(-2*time.Minute)) || got.TerminateCause != "Lost-Carrier" ||
			got.InputOctets != 5*gb || got.OutputOctets != 5*gb {
			t.Fatalf("after the stop: %+v", got)
		}
		// A real Stop is final: a later interim changes nothing.
		row := MustRow(t, pool, core.ID, "complete")
		MustRecord(t, w, later("complete", time.Minute, 9*gb, 9*gb))
		if after := MustRow(t, pool, core.ID, "complete"); after != row {
			t.Fatalf("interim after the completing stop changed the row:\nbefore %s\nafter  %s", row, after)
		}
	})
	t.Run("a replayed interim does not reopen", func(t *testing.T) {
		row := MustRow(t, pool, core.ID, "replay")
		i := with(interim(at(50*time.Minute), gb, 2*gb), core.ID, "replay")
		i.SessionTime = 600
		MustRecord(t, w, i)
		if after := MustRow(t, pool, core.ID, "replay"); after != row {
			t.Fatalf("replayed interim changed the row:\nbefore %s\nafter  %s", row, after)
		}
	})
	t.Run("real stop then interim changes nothing", func(t *testing.T) {
		MustRecord(t, w, with(start(0), core.ID, "stopped"), with(stop(10*time.Minute, gb, gb, "User-Request"), core.ID, "stopped"))
		row := MustRow(t, pool, core.ID, "stopped")
		MustRecord(t, w, with(interim(20*time.Minute, 2*gb, 2*gb), core.ID, "stopped"))
		if after := MustRow(t, pool, core.ID, "stopped"); after != row {
			t.Fatalf("interim after a real stop changed the row:\nbefore %s\nafter  %s", row, after)
		}
	})
	t.Run("usage counted once", func(t *testing.T) {
		// reopen grew by 1+2 GB and to 59m30s, complete by 2+3 GB and to 58m; replay and
		// final did not change; the stopped session adds its own.
		want := radius.Usage{
			Uptime: before.Uptime + (59*60+30-600)*time.Second + (58*60-600)*time.Second + 10*time.Minute,
			Bytes:  before.Bytes + 3*gb + 7*gb + 2*gb,
		}
		if got := usage(t); got != want {
			t.Fatalf("usage = %+v, want %+v", got, want)
		}
	})
}

func TestCloseNASSessions(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	edge := MustCreateNAS(t, s, "edge", "10.0.1.0/24")
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	MustRecord(t, w,
		with(interim(10*time.Minute, gb, 2*gb), core.ID, "a"),
		with(start(30*time.Minute), core.ID, "b"),
		with(stop(20*time.Minute, gb, gb, "User-Request"), core.ID, "c"),
		with(start(2*time.Hour), core.ID, "later"),
		with(start(0), edge.ID, "a"),
	)
	stoppedRow := MustRow(t, pool, core.ID, "c")
	at := t0.Add(time.Hour)
	closed, err := s.CloseNASSessions(ctx, core.ID, at, "Admin-Reboot")
	if err != nil {
		t.Fatal(err)
	}
	wantA := stopped(session(0, 10*time.Minute, gb, 2*gb), time.Hour, "Admin-Reboot")
	wantA.NASID, wantA.NASName, wantA.SessionID = core.ID, "core", "a"
	wantB := stopped(session(30*time.Minute, 30*time.Minute, 0, 0), time.Hour, "Admin-Reboot")
	wantB.NASID, wantB.NASName, wantB.SessionID = core.ID, "core", "b"
	if len(closed) != 2 || utcSession(closed[0]) != wantA || utcSession(closed[1]) != wantB {
		t.Fatalf("closed %+v\nwant %+v\n     %+v", closed, wantA, wantB)
	}
	later, other := MustSession(t, pool, core.ID, "later"), MustSession(t, pool, edge.ID, "a")
	if !later.Open() || !other.Open() {
		t.Fatal("closed a session that started later, or another NAS's")
	}
	if got := MustRow(t, pool, core.ID, "c"); got != stoppedRow {
		t.Fatalf("stopped session changed:\nbefore %s\nafter  %s", stoppedRow, got)
	}
	if closed, err := s.CloseNASSessions(ctx, core.ID, at, "Admin-Reboot"); err != nil || len(closed) != 0 {
		t.Fatalf("again: %q, %v", keys(closed), err)
	}
}

func TestFindUsage(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	day := 24 * time.Hour
	later := func(r radius.AcctRecord, d time.Duration) radius.AcctRecord {
		r.EventTime = r.EventTime.Add(d)
		return r
	}
	MustRecord(t, w,
		with(stop(10*time.Minute, big1, big2, "User-Request"), 1, "a1"),    // started t0
		later(with(interim(5*time.Minute, 10, 20), 2, "a2"), day),          // started t0+1d, open
		asUser(later(with(interim(time.Hour, 1, 1), 1, "b1"), day), "bob"), // someone else
	)
	tests := []struct {
		name  string
		user  string
		since time.Time
		want  radius.Usage
	}{
		{"all", "alice", time.Time{}, radius.Usage{Uptime: 15 * time.Minute, Bytes: big1 + big2 + 30}},
		{"since a start, inclusive", "alice", t0.Add(day), radius.Usage{Uptime: 5 * time.Minute, Bytes: 30}},
		{"since after the first", "alice", t0.Add(time.Second), radius.Usage{Uptime: 5 * time.Minute, Bytes: 30}},
		{"nothing since", "alice", t0.Add(2 * day), radius.Usage{}},
		{"other user", "bob", time.Time{}, radius.Usage{Uptime: time.Hour, Bytes: 2}},
		{"unknown user", "nobody", time.Time{}, radius.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.FindUsage(ctx, tt.user, tt.since)
			if err != nil || u != tt.want {
				t.Fatalf("usage %+v, %v; want %+v", u, err, tt.want)
			}
		})
	}
	// The account lookup reads the same usage with the account (a cold login's one
	// query), since the subscriber's validity began; a voucher's since ever.
	plan := MustPlan(t, pool, "Capped", "pppoe")
	for _, tt := range []struct {
		from any
		want radius.Usage
	}{{nil, tests[0].want}, {t0.Add(day), tests[1].want}, {t0.Add(2 * day), radius.Usage{}}} {
		MustExec(t, pool, `INSERT INTO subscribers (username, password, plan_id, valid_from) VALUES ('alice', '', $1, $2)
ON CONFLICT (username) DO UPDATE SET valid_from = EXCLUDED.valid_from`, plan, tt.from)
		a, err := s.FindAccountByUsername(ctx, "alice", nil)
		if err != nil || a.StoreUsage == nil || *a.StoreUsage != tt.want {
			t.Fatalf("from %v: account usage %+v, %v; want %+v", tt.from, a.StoreUsage, err, tt.want)
		}
	}
	MustVoucher(t, pool, plan, "CODE-BOB-1", "bob", []byte("sealed"))
	if a, err := s.FindAccountByUsername(ctx, "bob", nil); err != nil || a.StoreUsage == nil || *a.StoreUsage != tests[4].want {
		t.Fatalf("voucher bob: %+v, %v", a, err)
	}
}

func TestCoALog(t *testing.T) {
	ctx := context.Background()
	s, _ := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	results := []radius.CoAResult{
		{NASID: core.ID, SessionID: "s1", Username: "alice", Kind: "disconnect", Result: "ack", Reason: "data_exhausted"},
		{NASID: core.ID, SessionID: "s2", Username: "bob", Kind: "coa", Result: "timeout", Reason: "plan_change"},
		{NASID: core.ID, SessionID: "s3", Username: "alice", Kind: "coa", Result: "nak", ErrorCause: 503, Reason: "admin"},
		{NASID: 999, SessionID: "s4", Username: "alice", Kind: "disconnect", Result: "error", Reason: "admin"},
	}
	for _, r := range results {
		if err := s.RecordCoA(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("invalid", func(t *testing.T) {
		for _, r := range []radius.CoAResult{
			{NASID: core.ID, SessionID: "x", Username: "alice", Kind: "kick", Result: "ack"},
			{NASID: core.ID, SessionID: "x", Username: "alice", Kind: "coa", Result: "maybe"},
		} {
			if err := s.RecordCoA(ctx, r); radius.ErrorCode(err) != radius.EINVALID {
				t.Errorf("%+v: err = %v, want EINVALID", r, err)
			}
		}
	})
	tests := []struct {
		name  string
		user  string
		limit int
		want  []int // indexes into results, newest first
	}{
		{"everyone", "", 0, []int{3, 2, 1, 0}},
		{"one user", "alice", 0, []int{3, 2, 0}},
		{"limited", "alice", 2, []int{3, 2}},
		{"unknown user", "nobody", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.FindCoALog(ctx, tt.user, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tt.want) {
				t.Fatalf("%d rows, want %d", len(rows), len(tt.want))
			}
			for j, r := range rows {
				want := results[tt.want[j]]
				nas := ""
				if want.NASID == core.ID {
					nas = "core"
				}
				if r.CoAResult != want || r.NASName != nas || r.ID == 0 || time.Since(r.At) > time.Minute {
					t.Fatalf("row %d = %+v, want %+v on %q", j, r, want, nas)
				}
			}
		})
	}
}

// FindUsage must use the index the migration made for it, in every partition.
func TestFindUsagePlan(t *testing.T) {
	_, pool := MustStore(t)
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	MustExec(t, conn, `SET enable_seqscan = off`)
	rows, err := conn.Query(context.Background(), "EXPLAIN "+findUsageSQL, "alice", t0)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	// Partitions name their copy of sessions_username_started after the columns.
	if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "username_started") {
		t.Fatalf("plan:\n%s", plan)
	}
}
