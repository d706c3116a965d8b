package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/radius"
	"tollgate/radius/pg"
	"tollgate/radius/radiustest"
)

// t0 is when the test sessions start.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// switchDB sends batches to whichever pool it holds, so a test can take Postgres away
// from a running writer and give it back.
type switchDB struct{ p atomic.Pointer[pgxpool.Pool] }

func (s *switchDB) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return s.p.Load().SendBatch(ctx, b)
}

func newSwitchDB(p *pgxpool.Pool) *switchDB {
	s := &switchDB{}
	s.p.Store(p)
	return s
}

// MustUnreachablePool returns a pool on a port nothing listens on: every write fails
// as when Postgres is down.
func MustUnreachablePool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// MustAcctWriter returns a started writer on db, spooling to a new directory unless
// opts names one; it is closed when the test ends.
func MustAcctWriter(tb testing.TB, db batcher, opts AcctWriterOptions) *AcctWriter {
	tb.Helper()
	if opts.SpoolDir == "" {
		opts.SpoolDir = tb.TempDir()
	}
	w, err := newAcctWriter(db, MustLogger(tb), opts)
	if err != nil {
		tb.Fatal(err)
	}
	w.Start()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			tb.Errorf("close accounting writer: %v", err)
		}
	})
	return w
}

// MustRecord records every r in turn, each after the previous one is durable.
func MustRecord(tb testing.TB, w *AcctWriter, recs ...radius.AcctRecord) {
	tb.Helper()
	for i := range recs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.Record(ctx, &recs[i])
		cancel()
		if err != nil {
			tb.Fatalf("record %d (%s %s): %v", i, recs[i].Status, recs[i].SessionID, err)
		}
	}
}

// MustWaitFor polls cond until it holds.
func MustWaitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MustRow returns a session's whole row as JSON, or "" when there is none.
func MustRow(tb testing.TB, db pg.DBTX, nasID int64, sessionID string) string {
	tb.Helper()
	var row string
	err := db.QueryRow(context.Background(),
		`SELECT row_to_json(s)::text FROM sessions s WHERE nas_id = $1 AND acct_session_id = $2`, nasID, sessionID).Scan(&row)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return row
}

// MustDump returns every session row and session key, as text in a fixed order.
func MustDump(tb testing.TB, db pg.DBTX) []string {
	tb.Helper()
	rows, err := db.Query(context.Background(), `
SELECT row_to_json(s)::text FROM sessions s
UNION ALL
SELECT row_to_json(k)::text FROM session_keys k
ORDER BY 1`)
	if err != nil {
		tb.Fatal(err)
	}
	dump, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return dump
}

const findSessionByKeySQL = `
SELECT ` + sessionColumns + `
FROM sessions s
LEFT JOIN nas n ON n.id = s.nas_id
WHERE s.nas_id = $1 AND s.acct_session_id = $2`

// MustSession returns a stored session, with its times in UTC.
func MustSession(tb testing.TB, db pg.DBTX, nasID int64, sessionID string) radius.Session {
	tb.Helper()
	s, err := scanSession(db.QueryRow(context.Background(), findSessionByKeySQL, nasID, sessionID))
	if err != nil {
		tb.Fatalf("session %d/%s: %v", nasID, sessionID, err)
	}
	return utcSession(s)
}

func utcSession(s radius.Session) radius.Session {
	s.StartedAt, s.StoppedAt, s.LastUpdate = s.StartedAt.UTC(), s.StoppedAt.UTC(), s.LastUpdate.UTC()
	return s
}

// Records of a session that started at t0, at offset `at`.
func start(at time.Duration) radius.AcctRecord {
	return radius.AcctRecord{Status: radius.AcctStart, EventTime: t0.Add(at), Username: "alice",
		FramedIP: netip.MustParseAddr("10.5.0.7"), MAC: "AA:BB:CC:DD:EE:FF", CalledStationID: "hotspot1",
		NASPortID: "ether2", Class: "plan-7", Interim: 300}
}

func interim(at time.Duration, in, out uint64) radius.AcctRecord {
	r := start(at)
	r.Status, r.SessionTime, r.InputOctets, r.OutputOctets = radius.AcctInterim, uint32(at/time.Second), in, out
	r.InputPackets, r.OutputPackets = uint32(in/1000), uint32(out/1000)
	return r
}

func stop(at time.Duration, in, out uint64, cause string) radius.AcctRecord {
	r := interim(at, in, out)
	r.Status, r.TerminateCause = radius.AcctStop, cause
	return r
}

func with(r radius.AcctRecord, nasID int64, sessionID string) radius.AcctRecord {
	r.NASID, r.SessionID = nasID, sessionID
	return r
}

func nasEvent(st radius.AcctStatus, nasID int64, at time.Duration) radius.AcctRecord {
	return radius.AcctRecord{Status: st, NASID: nasID, EventTime: t0.Add(at)}
}

// session is the row start, interim and stop make.
func session(startAt, last time.Duration, in, out uint64) radius.Session {
	return radius.Session{Username: "alice", MAC: "AA:BB:CC:DD:EE:FF", FramedIP: netip.MustParseAddr("10.5.0.7"),
		StartedAt: t0.Add(startAt), LastUpdate: t0.Add(last), SessionTime: uint32((last - startAt) / time.Second),
		InputOctets: in, OutputOctets: out, Interim: 300}
}

func stopped(s radius.Session, at time.Duration, cause string) radius.Session {
	s.StoppedAt, s.TerminateCause = t0.Add(at), cause
	return s
}

const (
	gb   = 1 << 30
	big1 = 5<<32 + 17 // beyond 32 bits
	big2 = 7<<32 + 99
)

func TestAcctWriterSessions(t *testing.T) {
	pool := radiustest.MustDB(t)
	w := MustAcctWriter(t, pool, AcctWriterOptions{})

	tests := []struct {
		name  string
		setup []radius.AcctRecord
		// then is recorded after setup; with unchanged, the row must stay as setup left it.
		then      []radius.AcctRecord
		unchanged bool
		want      radius.Session
	}{
		{
			name:  "start interim stop, 64-bit counters",
			setup: []radius.AcctRecord{start(0), interim(5*time.Minute, big1, big2), stop(10*time.Minute, big2, 3*big2, "User-Request")},
			want:  stopped(session(0, 10*time.Minute, big2, 3*big2), 10*time.Minute, "User-Request"),
		},
		{
			name:  "start only",
			setup: []radius.AcctRecord{start(0)},
			want:  session(0, 0, 0, 0),
		},
		{
			name:  "counters never go backwards",
			setup: []radius.AcctRecord{start(0), interim(10*time.Minute, big2, 2*big2)},
			then:  []radius.AcctRecord{interim(5*time.Minute, big1, 2*big1)},
			want:  session(0, 10*time.Minute, big2, 2*big2),
		},
		{
			name:      "repeated start changes nothing",
			setup:     []radius.AcctRecord{start(0)},
			then:      []radius.AcctRecord{start(0), start(0)},
			unchanged: true,
			want:      session(0, 0, 0, 0),
		},
		{
			name:      "start after interim changes nothing",
			setup:     []radius.AcctRecord{start(0), interim(5*time.Minute, gb, 2*gb)},
			then:      []radius.AcctRecord{start(0)},
			unchanged: true,
			want:      session(0, 5*time.Minute, gb, 2*gb),
		},
		{
			name:      "repeated stop changes nothing",
			setup:     []radius.AcctRecord{start(0), stop(10*time.Minute, gb, 2*gb, "User-Request")},
			then:      []radius.AcctRecord{stop(10*time.Minute, gb, 2*gb, "User-Request"), stop(20*time.Minute, 5*gb, 6*gb, "Admin-Reset")},
			unchanged: true,
			want:      stopped(session(0, 10*time.Minute, gb, 2*gb), 10*time.Minute, "User-Request"),
		},
		{
			name:      "late interim after stop changes nothing",
			setup:     []radius.AcctRecord{start(0), stop(10*time.Minute, gb, 2*gb, "Lost-Carrier")},
			then:      []radius.AcctRecord{interim(15*time.Minute, 5*gb, 6*gb), start(0)},
			unchanged: true,
			want:      stopped(session(0, 10*time.Minute, gb, 2*gb), 10*time.Minute, "Lost-Carrier"),
		},
		{
			name:  "stop without start makes a whole row",
			setup: []radius.AcctRecord{stop(time.Hour, big1, big2, "Session-Timeout")},
			want:  stopped(session(0, time.Hour, big1, big2), time.Hour, "Session-Timeout"),
		},
		{
			name:  "interim without start opens the session",
			setup: []radius.AcctRecord{interim(30*time.Minute, gb, gb)},
			want:  session(0, 30*time.Minute, gb, gb),
		},
		{
			name: "empty attributes do not erase",
			setup: []radius.AcctRecord{start(0), func() radius.AcctRecord {
				r := interim(5*time.Minute, gb, gb)
				r.Username, r.MAC, r.FramedIP, r.Class, r.Interim = "", "", netip.Addr{}, "", 0
				return r
			}()},
			want: session(0, 5*time.Minute, gb, gb),
		},
		{
			name: "newer attributes win",
			setup: []radius.AcctRecord{func() radius.AcctRecord {
				r := start(0)
				r.FramedIP, r.Interim = netip.Addr{}, 0
				return r
			}(), interim(5*time.Minute, gb, gb)},
			want: session(0, 5*time.Minute, gb, gb),
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nasID := int64(100 + i) // every case its own NAS, all with the same session id
			const sid = "81000001"
			for _, recs := range [][]radius.AcctRecord{tt.setup, tt.then} {
				for j := range recs {
					recs[j] = with(recs[j], nasID, sid)
				}
			}
			MustRecord(t, w, tt.setup...)
			before := MustRow(t, pool, nasID, sid)
			MustRecord(t, w, tt.then...)
			if after := MustRow(t, pool, nasID, sid); tt.unchanged && after != before {
				t.Fatalf("row changed:\nbefore %s\nafter  %s", before, after)
			}
			want := tt.want
			want.NASID, want.SessionID = nasID, sid
			if got := MustSession(t, pool, nasID, sid); got != want {
				t.Fatalf("session\n got %+v\nwant %+v", got, want)
			}
			if n := MustCount(t, pool, `SELECT count(*) FROM session_keys k JOIN sessions s USING (nas_id, acct_session_id, started_at) WHERE nas_id = $1`, nasID); n != 1 {
				t.Fatalf("%d sessions found through session_keys, want 1", n)
			}
		})
	}
	t.Run("same session id on every NAS", func(t *testing.T) {
		if n := MustCount(t, pool, `SELECT count(*) FROM sessions WHERE acct_session_id = '81000001'`); n != int64(len(tests)) {
			t.Fatalf("%d rows, want %d", n, len(tests))
		}
	})
	if w.Committed() == 0 || w.Spooled() != 0 || w.Dropped() != 0 {
		t.Fatalf("committed %d, spooled %d, dropped %d", w.Committed(), w.Spooled(), w.Dropped())
	}
}

func TestAcctWriterAccountingOnOff(t *testing.T) {
	pool := radiustest.MustDB(t)
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	MustRecord(t, w,
		with(start(0), 1, "A"),
		with(start(0), 1, "B"), with(stop(5*time.Minute, gb, gb, "User-Request"), 1, "B"),
		with(start(0), 2, "A"),
		with(interim(10*time.Minute, gb, gb), 1, "A"),
	)
	stoppedB := MustRow(t, pool, 1, "B")

	MustRecord(t, w,
		nasEvent(radius.AcctAccountingOn, 1, time.Hour),
		with(start(time.Hour), 1, "C"),                    // the NAS's first session after its restart
		nasEvent(radius.AcctAccountingOn, 1, time.Hour),   // replayed: C started at the event, it stays
		with(interim(20*time.Minute, 2*gb, 2*gb), 1, "A"), // late: A is gone
	)
	tests := []struct {
		name string
		nas  int64
		sid  string
		want radius.Session
	}{
		{"open session closed at the event", 1, "A", stopped(session(0, 10*time.Minute, gb, gb), time.Hour, radius.CauseNASRestart)},
		{"other NAS untouched", 2, "A", session(0, 0, 0, 0)},
		{"session started at the event stays open", 1, "C", session(time.Hour, time.Hour, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.NASID, tt.want.SessionID = tt.nas, tt.sid
			if got := MustSession(t, pool, tt.nas, tt.sid); got != tt.want {
				t.Fatalf("session\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("stopped session untouched", func(t *testing.T) {
		if got := MustRow(t, pool, 1, "B"); got != stoppedB {
			t.Fatalf("row changed:\nbefore %s\nafter  %s", stoppedB, got)
		}
	})
	t.Run("accounting-off", func(t *testing.T) {
		MustRecord(t, w, nasEvent(radius.AcctAccountingOff, 2, 2*time.Hour))
		want := stopped(session(0, 0, 0, 0), 2*time.Hour, radius.CauseNASRestart)
		want.NASID, want.SessionID = 2, "A"
		if got := MustSession(t, pool, 2, "A"); got != want {
			t.Fatalf("session\n got %+v\nwant %+v", got, want)
		}
		if got := MustSession(t, pool, 1, "C"); !got.Open() {
			t.Fatalf("NAS 1's session closed by NAS 2's Accounting-Off: %+v", got)
		}
	})
}

// scenario is a stream that exercises every rule: out-of-order interims, repeated
// Starts and Stops, late interims, Stops without Start, one id on two NASes, and
// Accounting-On/Off between records of the sessions they close. In every session the
// event time minus the session time is the same, as a NAS sends it.
func scenario() []radius.AcctRecord {
	var recs []radius.AcctRecord
	// add appends r of session (nasID, sid) that started d after t0.
	add := func(r radius.AcctRecord, nasID int64, sid string, d time.Duration) {
		r = with(r, nasID, sid)
		r.EventTime = r.EventTime.Add(d)
		recs = append(recs, r)
	}
	for round := range 3 {
		base := time.Duration(round) * 3 * time.Hour
		sid := func(s int) string { return fmt.Sprintf("8%d%06d", round, s) }
		for nas := int64(1); nas <= 2; nas++ {
			for s := range 6 {
				d := base + time.Duration(s)*time.Minute
				add(start(0), nas, sid(s), d)
				add(interim(5*time.Minute, uint64(s)*gb+1, big1), nas, sid(s), d)
			}
		}
		for s := range 6 {
			d := base + time.Duration(s)*time.Minute
			add(interim(10*time.Minute, uint64(s)*gb+big2, big2), 1, sid(s), d)
			add(start(0), 1, sid(s), d)                     // repeated Start
			add(interim(7*time.Minute, 1, 1), 1, sid(s), d) // older interim
			if s%2 == 0 {
				st := stop(20*time.Minute, uint64(s)*gb+big2+5, big2+5, "User-Request")
				add(st, 1, sid(s), d)
				add(st, 1, sid(s), d)                                      // repeated Stop
				add(interim(30*time.Minute, 9*big2, 9*big2), 1, sid(s), d) // late interim
			}
		}
		add(stop(time.Hour, gb, gb, "Lost-Carrier"), 2, fmt.Sprintf("9%d000000", round), base) // Stop without Start
		recs = append(recs, nasEvent(radius.AcctAccountingOn, 1, base+2*time.Hour))
		add(interim(50*time.Minute, 9*big2, 9*big2), 1, sid(1), base+time.Minute)       // late: closed by the restart
		add(start(0), 1, fmt.Sprintf("7%d000000", round), base+2*time.Hour+time.Minute) // after the restart
		add(start(0), 1, fmt.Sprintf("6%d000000", round), base+2*time.Hour)             // as the NAS restarted
	}
	recs = append(recs, nasEvent(radius.AcctAccountingOff, 2, 9*time.Hour))
	return recs
}

// MustDirectDump writes recs one at a time into a new database and dumps it: what
// any batching of the same stream must give.
func MustDirectDump(tb testing.TB, recs []radius.AcctRecord) []string {
	tb.Helper()
	pool := radiustest.MustDB(tb)
	w := MustAcctWriter(tb, pool, AcctWriterOptions{MaxBatch: 1})
	MustRecord(tb, w, recs...)
	return MustDump(tb, pool)
}

func TestAcctWriterBatchMerge(t *testing.T) {
	recs := scenario()
	want := MustDirectDump(t, recs)
	if len(want) < 20 {
		t.Fatalf("scenario makes only %d rows", len(want))
	}
	for _, size := range []int{len(recs), 17, 2} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			pool := radiustest.MustDB(t)
			w, err := newAcctWriter(pool, MustLogger(t), AcctWriterOptions{SpoolDir: t.TempDir(), MaxBatch: size})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			for chunk := range slices.Chunk(recs, size) {
				if n, err := w.store(chunk, nil); err != nil || n != len(chunk) {
					t.Fatalf("store: %d of %d, %v", n, len(chunk), err)
				}
			}
			if got := MustDump(t, pool); !slices.Equal(got, want) {
				t.Fatalf("batched writes differ from one-by-one writes:\n got %q\nwant %q", got, want)
			}
			// Replaying the whole stream again changes nothing.
			for chunk := range slices.Chunk(recs, size) {
				if _, err := w.store(chunk, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := MustDump(t, pool); !slices.Equal(got, want) {
				t.Fatalf("a replay changed the rows:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestAcctWriterRefusedRecord(t *testing.T) {
	pool := radiustest.MustDB(t)
	good1, good2 := with(start(0), 1, "good1"), with(start(0), 1, "good2")
	bad := with(start(0), 1, "bad")
	bad.EventTime = time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC) // beyond timestamptz: SQLSTATE 22008

	t.Run("batch", func(t *testing.T) {
		w, err := newAcctWriter(pool, MustLogger(t), AcctWriterOptions{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(context.Background())
		var refused []int
		n, err := w.store([]radius.AcctRecord{good1, bad, good2}, func(i int, err error) {
			if !pg.IsData(err) {
				t.Errorf("refused %d with %v", i, err)
			}
			refused = append(refused, i)
		})
		if err != nil || n != 3 || !slices.Equal(refused, []int{1}) || w.Dropped() != 1 {
			t.Fatalf("store: %d settled, refused %v, dropped %d, err %v", n, refused, w.Dropped(), err)
		}
		if MustRow(t, pool, 1, "good1") == "" || MustRow(t, pool, 1, "good2") == "" || MustRow(t, pool, 1, "bad") != "" {
			t.Fatal("the good records are not both in, or the bad one is")
		}
	})
	t.Run("record", func(t *testing.T) {
		w := MustAcctWriter(t, pool, AcctWriterOptions{})
		var wg sync.WaitGroup
		errs := make([]error, 30)
		for i := range errs {
			wg.Go(func() {
				r := with(start(0), 2, fmt.Sprintf("s%d", i))
				if i%10 == 5 {
					r.EventTime = bad.EventTime
				}
				errs[i] = w.Record(context.Background(), &r)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if i%10 == 5 {
				if radius.ErrorCode(err) != radius.EINVALID {
					t.Errorf("record %d: err = %v, want EINVALID", i, err)
				}
			} else if err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}
		if n := MustCount(t, pool, `SELECT count(*) FROM sessions WHERE nas_id = 2`); n != 27 || w.Committed() != 27 || w.Dropped() != 3 {
			t.Fatalf("%d rows, committed %d, dropped %d; want 27, 27, 3", n, w.Committed(), w.Dropped())
		}
	})
}

func TestAcctWriterRecordChecks(t *testing.T) {
	pool := radiustest.MustDB(t)
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	tests := []struct {
		name string
		rec  radius.AcctRecord
		code string
	}{
		{"no session id", with(start(0), 1, ""), radius.EINVALID},
		{"no NAS", with(start(0), 0, "x"), radius.EINVALID},
		{"no event time", func() radius.AcctRecord { r := with(start(0), 1, "x"); r.EventTime = time.Time{}; return r }(), radius.EINVALID},
		{"accounting-on without NAS", nasEvent(radius.AcctAccountingOn, 0, 0), radius.EINVALID},
		{"status not stored", func() radius.AcctRecord { r := with(start(0), 1, "x"); r.Status = 15; return r }(), ""},
		{"bad text is cleaned", func() radius.AcctRecord {
			r := with(start(0), 1, "bad\xff\x00id")
			r.Username, r.Class = "bob\x00", "\xc3"
			return r
		}(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := w.Record(context.Background(), &tt.rec); radius.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
		})
	}
	if got := MustSession(t, pool, 1, "bad\uFFFD\uFFFDid"); got.Username != "bob\uFFFD" {
		t.Fatalf("cleaned session: %+v", got)
	}
	if n := MustCount(t, pool, `SELECT count(*) FROM sessions`); n != 1 {
		t.Fatalf("%d rows, want only the cleaned one", n)
	}
}

func TestAcctWriterLifecycle(t *testing.T) {
	pool := radiustest.MustDB(t)
	ctx := context.Background()

	t.Run("close without start writes what was recorded", func(t *testing.T) {
		w, err := newAcctWriter(pool, MustLogger(t), AcctWriterOptions{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { r := with(start(0), 3, "early"); errc <- w.Record(ctx, &r) }()
		MustWaitFor(t, "the record to queue", 5*time.Second, func() bool { return len(w.queue) == 1 })
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if MustRow(t, pool, 3, "early") == "" {
			t.Fatal("the record is not in")
		}
		if err := w.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		r := with(start(0), 3, "late")
		if err := w.Record(ctx, &r); !errors.Is(err, errWriterClosed) {
			t.Fatalf("Record after Close: %v", err)
		}
		w.Start() // does nothing
	})
	t.Run("cancelled context", func(t *testing.T) {
		w := MustAcctWriter(t, MustUnreachablePool(t), AcctWriterOptions{WriteTimeout: time.Second})
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		r := with(start(0), 3, "x")
		if err := w.Record(ctx, &r); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("spool dir required", func(t *testing.T) {
		if _, err := NewAcctWriter(pool, MustLogger(t), AcctWriterOptions{}); err == nil {
			t.Fatal("no error")
		}
	})
}

// MustGoroutineSessions runs goroutines that each record a session: Start, interims
// with 64-bit counters, Stop; records in total, with pause between two. It fails the
// test on any error.
func MustGoroutineSessions(tb testing.TB, w *AcctWriter, goroutines, records int, pause time.Duration) {
	tb.Helper()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range records {
				r := goroutineRecord(g, i, records)
				if err := w.Record(context.Background(), &r); err != nil {
					tb.Errorf("goroutine %d record %d: %v", g, i, err)
					return
				}
				time.Sleep(pause)
			}
		})
	}
	wg.Wait()
}

// goroutineRecord is record i of n of goroutine g's session.
func goroutineRecord(g, i, n int) radius.AcctRecord {
	at := time.Duration(i) * time.Minute
	var r radius.AcctRecord
	switch {
	case i == 0:
		r = start(0)
	case i == n-1:
		r = stop(at, uint64(i)<<32+uint64(g), uint64(i)<<33, "User-Request")
	default:
		r = interim(at, uint64(i)<<32+uint64(g), uint64(i)<<33)
	}
	return with(r, int64(g%4+1), fmt.Sprintf("%08X", g))
}

// MustGoroutineRows checks the rows MustGoroutineSessions made.
func MustGoroutineRows(tb testing.TB, db pg.DBTX, goroutines, records int) {
	tb.Helper()
	if n := MustCount(tb, db, `SELECT count(*) FROM sessions`); n != int64(goroutines) {
		tb.Fatalf("%d rows, want %d", n, goroutines)
	}
	for g := range goroutines {
		last := goroutineRecord(g, records-1, records)
		want := stopped(session(0, time.Duration(records-1)*time.Minute, last.InputOctets, last.OutputOctets),
			time.Duration(records-1)*time.Minute, "User-Request")
		want.NASID, want.SessionID = last.NASID, last.SessionID
		if got := MustSession(tb, db, last.NASID, last.SessionID); got != want {
			tb.Fatalf("goroutine %d's session\n got %+v\nwant %+v", g, got, want)
		}
	}
}

func TestAcctWriterConcurrent(t *testing.T) {
	pool := radiustest.MustDB(t)
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	const goroutines, records = 64, 200
	MustGoroutineSessions(t, w, goroutines, records, 0)
	MustGoroutineRows(t, pool, goroutines, records)
	if w.Committed() != goroutines*records || w.Spooled() != 0 || w.Dropped() != 0 {
		t.Fatalf("committed %d, spooled %d, dropped %d", w.Committed(), w.Spooled(), w.Dropped())
	}
}

func TestAcctWriterSpool(t *testing.T) {
	recs := scenario()
	want := MustDirectDump(t, recs)

	pool := radiustest.MustDB(t)
	db := newSwitchDB(MustUnreachablePool(t))
	dir := t.TempDir()
	w := MustAcctWriter(t, db, AcctWriterOptions{SpoolDir: dir, MaxBatch: 7, RetryEvery: 20 * time.Millisecond, WriteTimeout: time.Second})
	MustRecord(t, w, recs...)
	n := uint64(len(recs))
	if w.Committed() != 0 || w.Spooled() != n || w.Backlog() != int64(n) {
		t.Fatalf("while down: committed %d, spooled %d, backlog %d; want 0, %d, %d", w.Committed(), w.Spooled(), w.Backlog(), n, n)
	}
	if info, err := os.Stat(filepath.Join(dir, spoolFile)); err != nil || info.Size() == 0 {
		t.Fatalf("spool file: %v, %v", info, err)
	}

	db.p.Store(pool)
	MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })
	if w.Replayed() != n {
		t.Fatalf("replayed %d, want %d", w.Replayed(), n)
	}
	if got := MustDump(t, pool); !slices.Equal(got, want) {
		t.Fatalf("the replayed spool differs from direct writes:\n got %q\nwant %q", got, want)
	}
	// The writer is back to direct writes, with an empty spool.
	MustRecord(t, w, with(start(0), 5, "after"))
	if w.Committed() != 1 || w.Spooled() != n {
		t.Fatalf("after the replay: committed %d, spooled %d", w.Committed(), w.Spooled())
	}
	if info, err := os.Stat(filepath.Join(dir, spoolFile)); err != nil || info.Size() != 0 {
		t.Fatalf("spool file after the replay: %v, %v", info, err)
	}
}

func TestAcctWriterSpoolUnderLoad(t *testing.T) {
	pool := radiustest.MustDB(t)
	down := MustUnreachablePool(t)
	db := newSwitchDB(pool)
	w := MustAcctWriter(t, db, AcctWriterOptions{MaxBatch: 64, RetryEvery: 10 * time.Millisecond, WriteTimeout: time.Second})

	stopFlap := make(chan struct{})
	flapped := make(chan struct{})
	go func() {
		defer close(flapped)
		for i := 0; ; i++ {
			select {
			case <-stopFlap:
				db.p.Store(pool)
				return
			case <-time.After(30 * time.Millisecond):
			}
			if i%2 == 0 {
				db.p.Store(down)
			} else {
				db.p.Store(pool)
			}
		}
	}()
	const goroutines, records = 64, 100
	MustGoroutineSessions(t, w, goroutines, records, 0)
	close(stopFlap)
	<-flapped
	MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })
	MustGoroutineRows(t, pool, goroutines, records)
	if w.Spooled() == 0 || w.Committed() == 0 {
		t.Fatalf("spooled %d, committed %d: the outages did not happen", w.Spooled(), w.Committed())
	}
	if w.Committed()+w.Spooled() != goroutines*records || w.Replayed() != w.Spooled() {
		t.Fatalf("committed %d + spooled %d != %d, or replayed %d", w.Committed(), w.Spooled(), goroutines*records, w.Replayed())
	}
}

func TestAcctWriterCrashSpool(t *testing.T) {
	recs := scenario()
	half := len(recs) / 2
	want := MustDirectDump(t, recs)
	for _, tt := range tornTails(t) {
		t.Run(tt.name, func(t *testing.T) {
			// A run that crashed left half the stream in the spool, and perhaps a torn
			// frame it never acknowledged.
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, spoolFile), append(mustFrames(t, recs[:half]), tt.tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			// The next run could not reach Postgres either, and spooled the rest.
			w1, err := newAcctWriter(MustUnreachablePool(t), MustLogger(t), AcctWriterOptions{SpoolDir: dir, WriteTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			w1.Start()
			MustRecord(t, w1, recs[half:]...)
			if err := w1.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The run after that replays all of it on Start.
			pool := radiustest.MustDB(t)
			w2 := MustAcctWriter(t, pool, AcctWriterOptions{SpoolDir: dir, MaxBatch: 10})
			MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w2.Backlog() == 0 })
			if w2.Replayed() != uint64(len(recs)) || w2.Dropped() != 0 {
				t.Fatalf("replayed %d, dropped %d; want %d, 0", w2.Replayed(), w2.Dropped(), len(recs))
			}
			if got := MustDump(t, pool); !slices.Equal(got, want) {
				t.Fatalf("the replayed spool differs from direct writes:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// The child of TestAcctWriterKill9 records sessions through a writer whose Postgres
// keeps going away, and prints each acknowledgement, until it is killed.
const (
	killChildSpool = "TOLLGATE_TEST_KILL9_SPOOL"
	killChildDB    = "TOLLGATE_TEST_KILL9_DB"
)

func TestAcctWriterKill9(t *testing.T) {
	if dir := os.Getenv(killChildSpool); dir != "" {
		runKillChild(t, dir, os.Getenv(killChildDB))
		return
	}
	url := radiustest.MustDBURL(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcctWriterKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildSpool+"="+dir, killChildDB+"="+url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { _ = cmd.Process.Signal(syscall.SIGKILL) } // kill -9
	defer time.AfterFunc(time.Minute, kill).Stop()
	// Every line the child wrote before it died is an acknowledged record.
	acked := map[string]int{} // session id → the highest record acknowledged
	lines := bufio.NewScanner(out)
	total, killed := 0, false
	for lines.Scan() {
		var g, i int
		if _, err := fmt.Sscanf(lines.Text(), "ack %d %d", &g, &i); err != nil {
			continue
		}
		sid := fmt.Sprintf("%08X", g)
		acked[sid] = max(acked[sid], i)
		if total++; total >= killAfter && len(acked) == killGoroutines && !killed {
			kill()
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended by itself: %v\n%s", err, stderr.Bytes())
	}

	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := MustAcctWriter(t, pool, AcctWriterOptions{SpoolDir: dir})
	MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })
	t.Logf("acknowledged before the kill: %d sessions; replayed after it: %d records", len(acked), w.Replayed())
	for sid, i := range acked {
		var g int
		fmt.Sscanf(sid, "%X", &g)
		r := goroutineRecord(g, i, killRecords)
		got := MustSession(t, pool, r.NASID, sid)
		if got.InputOctets < r.InputOctets || got.LastUpdate.Before(r.EventTime) || (r.Status == radius.AcctStop && got.Open()) {
			t.Errorf("session %s lost acknowledged record %d: %+v", sid, i, got)
		}
	}
}

const (
	killGoroutines = 16
	killRecords    = 1 << 20 // more than it has time for
	killAfter      = 4000    // acknowledgements
)

func runKillChild(t *testing.T, dir, url string) {
	time.AfterFunc(time.Minute, func() { os.Exit(1) }) // should the parent forget it
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	down := MustUnreachablePool(t)
	db := newSwitchDB(pool)
	w, err := newAcctWriter(db, slog.New(slog.DiscardHandler), AcctWriterOptions{SpoolDir: dir, MaxBatch: 32, RetryEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	go func() {
		for i := 0; ; i++ {
			time.Sleep(20 * time.Millisecond)
			if i%2 == 0 {
				db.p.Store(down)
			} else {
				db.p.Store(pool)
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range killGoroutines {
		wg.Go(func() {
			for i := range killRecords {
				r := goroutineRecord(g, i, killRecords)
				if err := w.Record(context.Background(), &r); err != nil {
					continue // not acknowledged: the NAS would retransmit
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d\n", g, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func BenchmarkAcctWriter(b *testing.B) {
	pool := radiustest.MustDB(b)
	w, err := newAcctWriter(pool, slog.New(slog.DiscardHandler), AcctWriterOptions{SpoolDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	w.Start()
	defer w.Close(context.Background())
	var next atomic.Int64
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((64 + procs - 1) / procs) // 64 goroutines, like 64 NAS retransmit queues
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1)
		r := with(start(0), g%8+1, fmt.Sprintf("B%07X", g))
		r.NASAddr = netip.AddrFrom4([4]byte{10, 20, 0, byte(g)})
		for i := 0; pb.Next(); i++ {
			if i > 0 {
				r.Status, r.SessionTime = radius.AcctInterim, uint32(i)
				r.EventTime = t0.Add(time.Duration(i) * time.Second)
				r.InputOctets += 1 << 20
				r.OutputOctets += 1 << 22
			}
			if err := w.Record(context.Background(), &r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestAcctWriterPostgresRestart(t *testing.T) {
	srv := radiustest.MustPrivatePostgres(t)
	srv.MustMigrate()
	pool, err := pgxpool.New(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := MustAcctWriter(t, pool, AcctWriterOptions{RetryEvery: 50 * time.Millisecond, WriteTimeout: time.Second})

	// Records keep coming, for a second at least, while Postgres crashes twice.
	const goroutines, records = 64, 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		MustGoroutineSessions(t, w, goroutines, records, 5*time.Millisecond)
	}()
	for range 2 {
		time.Sleep(150 * time.Millisecond)
		srv.Crash()
		time.Sleep(300 * time.Millisecond)
		srv.Start()
	}
	<-done
	MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })
	t.Logf("committed %d, spooled %d, replayed %d", w.Committed(), w.Spooled(), w.Replayed())
	MustGoroutineRows(t, pool, goroutines, records)
	if w.Spooled() == 0 {
		t.Fatal("nothing was spooled: the outages did not happen while records came")
	}
	if w.Replayed() != w.Spooled() || w.Dropped() != 0 {
		t.Fatalf("spooled %d, replayed %d, dropped %d", w.Spooled(), w.Replayed(), w.Dropped())
	}
}

// removedLive is a live index that only records what the reaper removes; the real one
// is tested in radius/redis.
type removedLive struct {
	mu      sync.Mutex
	removed []radius.SessionKey
}

func (l *removedLive) Update(context.Context, *radius.AcctRecord, time.Duration) (radius.Usage, int64, bool, error) {
	return radius.Usage{}, 0, false, nil
}
func (l *removedLive) CloseNAS(context.Context, int64) ([]radius.LiveSession, error) { return nil, nil }
func (l *removedLive) Online(context.Context, string, time.Time) ([]radius.LiveSession, error) {
	return nil, nil
}
func (l *removedLive) Remove(_ context.Context, keys []radius.SessionKey, _ []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removed = append(l.removed, keys...)
	return nil
}

// TestReaperSkippedWithBacklog: while acknowledged records wait in the writer's spool,
// the reaper does not run (it logs and counts the skip), since Postgres does not know
// yet that the sessions are alive; once the spool is replayed it runs again, and closes
// only what is really silent.
func TestReaperSkippedWithBacklog(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	db := newSwitchDB(pool)
	w := MustAcctWriter(t, db, AcctWriterOptions{RetryEvery: 20 * time.Millisecond, WriteTimeout: time.Second})
	now := t0.Add(24 * time.Hour)
	since := func(ago time.Duration) time.Duration { return now.Sub(t0) - ago }
	// Both sessions were last heard of an hour ago: stale for Postgres.
	MustRecord(t, w, with(interim(since(time.Hour), gb, gb), 1, "alive"), with(interim(since(time.Hour), gb, gb), 1, "silent"))

	// Postgres goes away; the router's next interim of "alive" is acknowledged from the spool.
	db.p.Store(MustUnreachablePool(t))
	MustRecord(t, w, with(interim(since(time.Minute), 2*gb, 2*gb), 1, "alive"))
	if w.Backlog() != 1 {
		t.Fatalf("backlog %d, want 1", w.Backlog())
	}
	log, logs := MustLogBuffer(t)
	live := &removedLive{}
	enf := &radius.Enforcer{Sessions: s, Live: live, Backlog: w.Backlog, Grace: 30 * time.Second,
		Now: func() time.Time { return now }, Log: log}
	if n, err := enf.Reap(ctx); n != 0 || err != nil {
		t.Fatalf("reap with a backlog closed %d, %v", n, err)
	}
	if enf.ReapsSkipped() != 1 || !strings.Contains(logs.String(), "reaper: skipped") {
		t.Fatalf("skip not counted (%d) or logged:\n%s", enf.ReapsSkipped(), logs.String())
	}
	for _, sid := range []string{"alive", "silent"} {
		if got := MustSession(t, pool, 1, sid); !got.Open() {
			t.Fatalf("%s closed while the spool held records: %+v", sid, got)
		}
	}

	// Postgres is back and the spool replayed: the reaper runs, and "alive" is fresh.
	db.p.Store(pool)
	MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })
	n, err := enf.Reap(ctx)
	if n != 1 || err != nil || enf.ReapsSkipped() != 1 || enf.Reaped() != 1 {
		t.Fatalf("reap after the replay closed %d, %v (skipped %d)", n, err, enf.ReapsSkipped())
	}
	if len(live.removed) != 1 || live.removed[0] != (radius.SessionKey{NASID: 1, SessionID: "silent"}) {
		t.Fatalf("removed from the live index: %+v", live.removed)
	}
	if got := MustSession(t, pool, 1, "alive"); !got.Open() || got.InputOctets != 2*gb {
		t.Fatalf("alive after the replay and reap: %+v", got)
	}
}
