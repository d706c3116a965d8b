package pg

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// Stores run on a pool, a connection or a transaction.
var (
	_ DBTX = (*pgxpool.Pool)(nil)
	_ DBTX = (*pgx.Conn)(nil)
	_ DBTX = pgx.Tx(nil)
)

// MustLogger returns a logger that writes to the test's output.
func MustLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// MustExec runs sql on db or fails.
func MustExec(tb testing.TB, db DBTX, sql string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// MustCount returns the single int64 that sql selects.
func MustCount(tb testing.TB, db DBTX, sql string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestWithTx(t *testing.T) {
	ctx := context.Background()
	pool := radiustest.MustDB(t)
	MustExec(t, pool, `CREATE TABLE t (n int PRIMARY KEY)`)
	errFn := errors.New("fn failed")
	cases := []struct {
		name    string
		n       int
		fnErr   error
		wantErr error
		want    int64 // rows with n after WithTx
	}{
		{"commits", 1, nil, nil, 1},
		{"rolls back fn's error and returns it as is", 2, errFn, errFn, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := WithTx(ctx, pool, func(tx pgx.Tx) error {
				MustExec(t, tx, `INSERT INTO t VALUES ($1)`, tc.n)
				return tc.fnErr
			})
			if err != tc.wantErr {
				t.Fatalf("WithTx = %v, want %v", err, tc.wantErr)
			}
			if got := MustCount(t, pool, `SELECT count(*) FROM t WHERE n = $1`, tc.n); got != tc.want {
				t.Fatalf("%d rows, want %d", got, tc.want)
			}
		})
	}
	t.Run("rolls back a panic", func(t *testing.T) {
		func() {
			defer func() { _ = recover() }()
			_ = WithTx(ctx, pool, func(tx pgx.Tx) error {
				MustExec(t, tx, `INSERT INTO t VALUES (3)`)
				panic("boom")
			})
		}()
		if got := MustCount(t, pool, `SELECT count(*) FROM t WHERE n = 3`); got != 0 {
			t.Fatalf("%d rows after a panic, want 0", got)
		}
	})
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	pool := radiustest.MustDB(t)
	MustExec(t, pool, `
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (
    name   text CONSTRAINT child_name_key UNIQUE,
    size   int CONSTRAINT child_size_check CHECK (size > 0),
    colour text CONSTRAINT child_colour_check CHECK (colour <> 'mauve'),
    parent int CONSTRAINT child_parent_fkey REFERENCES parent (id),
    small  smallint
)`)
	MustExec(t, pool, `INSERT INTO child (name) VALUES ('alice')`)
	fields := map[string]string{"child_size_check": "size-flag"}
	exec := func(sql string) error { _, err := pool.Exec(ctx, sql); return err }
	cases := []struct {
		name                       string
		err                        error
		unique, check, fkey, data  bool
		checkField, duplicateValue string // CheckField's message ("" for nil), DuplicateKey
	}{
		{"unique", exec(`INSERT INTO child (name) VALUES ('alice')`), true, false, false, true, "", "alice"},
		{"check in fields", exec(`INSERT INTO child (size) VALUES (0)`), false, true, false, true, "size-flag: value not allowed", ""},
		{"check not in fields", exec(`INSERT INTO child (colour) VALUES ('mauve')`), false, true, false, true, "child_colour_check: value not allowed", ""},
		{"foreign key", exec(`INSERT INTO child (parent) VALUES (7)`), false, false, true, true, "", ""},
		{"data exception", exec(`INSERT INTO child (small) VALUES (100000)`), false, false, false, true, "", ""},
		{"syntax error", exec(`INSERT INTO`), false, false, false, false, "", ""},
		{"not a Postgres error", errors.New("connection refused"), false, false, false, false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("the statement succeeded")
			}
			if got := IsUnique(tc.err, ""); got != tc.unique {
				t.Errorf("IsUnique = %v, want %v", got, tc.unique)
			}
			if got := IsCheck(tc.err, ""); got != tc.check {
				t.Errorf("IsCheck = %v, want %v", got, tc.check)
			}
			if got := IsForeignKey(tc.err, ""); got != tc.fkey {
				t.Errorf("IsForeignKey = %v, want %v", got, tc.fkey)
			}
			if got := IsData(tc.err); got != tc.data {
				t.Errorf("IsData = %v, want %v", got, tc.data)
			}
			if got := DuplicateKey(tc.err); got != tc.duplicateValue {
				t.Errorf("DuplicateKey = %q, want %q", got, tc.duplicateValue)
			}
			cerr := CheckField(tc.err, fields)
			switch {
			case tc.checkField == "" && cerr != nil:
				t.Errorf("CheckField = %v, want nil", cerr)
			case tc.checkField != "":
				var re *radius.Error
				if !errors.As(cerr, &re) || re.Code != radius.EINVALID || re.Message != tc.checkField || !errors.Is(cerr, tc.err) {
					t.Errorf("CheckField = %#v, want EINVALID %q wrapping the cause", cerr, tc.checkField)
				}
			}
		})
	}
	t.Run("by constraint", func(t *testing.T) {
		err := exec(`INSERT INTO child (name) VALUES ('alice')`)
		if !IsUnique(err, "child_name_key") || IsUnique(err, "other_key") {
			t.Errorf("IsUnique by constraint: %v", err)
		}
		err = exec(`INSERT INTO child (size) VALUES (-1)`)
		if !IsCheck(err, "child_size_check") || IsCheck(err, "child_colour_check") {
			t.Errorf("IsCheck by constraint: %v", err)
		}
	})
	t.Run("Translate", func(t *testing.T) {
		cause := exec(`INSERT INTO child (parent) VALUES (7)`)
		err := Translate(cause, radius.EINVALID, "parent: no such parent")
		if radius.ErrorCode(err) != radius.EINVALID || radius.ErrorMessage(err) != "parent: no such parent" || !errors.Is(err, cause) {
			t.Errorf("Translate = %v (code %s, message %q)", err, radius.ErrorCode(err), radius.ErrorMessage(err))
		}
	})
}

func TestCronRun(t *testing.T) {
	ctx := context.Background()
	pool := radiustest.MustDB(t)
	slot := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	ok, err := ClaimCronRun(ctx, pool, "reaper", slot, "a/1")
	if err != nil || !ok {
		t.Fatalf("first claim = %v, %v; want true", ok, err)
	}
	ok, err = ClaimCronRun(ctx, pool, "reaper", slot, "b/2")
	if err != nil || ok {
		t.Fatalf("second claim of the slot = %v, %v; want false", ok, err)
	}
	ok, err = ClaimCronRun(ctx, pool, "reaper", slot.Add(time.Minute), "b/2")
	if err != nil || !ok {
		t.Fatalf("claim of the next slot = %v, %v; want true", ok, err)
	}
	if err := FinishCronRun(ctx, pool, "reaper", slot, "boom"); err != nil {
		t.Fatal(err)
	}
	var node, runErr string
	var finished *time.Time
	if err := pool.QueryRow(ctx, `SELECT node, error, finished_at FROM cron_runs WHERE job = 'reaper' AND scheduled_at = $1`, slot).Scan(&node, &runErr, &finished); err != nil {
		t.Fatal(err)
	}
	if node != "a/1" || runErr != "boom" || finished == nil {
		t.Errorf("run = %q, %q, finished %v; want a/1, boom, set", node, runErr, finished)
	}
}

func TestWithJobLock(t *testing.T) {
	ctx := context.Background()
	pool := radiustest.MustDB(t)
	inside, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ran, err := WithJobLock(ctx, pool, "slow", func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
		if !ran || err != nil {
			t.Errorf("holder: ran %v, err %v", ran, err)
		}
	}()
	<-inside
	ran, err := WithJobLock(ctx, pool, "slow", func(context.Context) error {
		t.Error("ran while another run held the lock")
		return nil
	})
	if ran || err != nil {
		t.Errorf("while held: ran %v, err %v; want false, nil", ran, err)
	}
	ran, err = WithJobLock(ctx, pool, "other", func(context.Context) error { return nil })
	if !ran || err != nil {
		t.Errorf("another job: ran %v, err %v; want true, nil", ran, err)
	}
	close(release)
	wg.Wait()
	errJob := errors.New("job failed")
	ran, err = WithJobLock(ctx, pool, "slow", func(context.Context) error { return errJob })
	if !ran || err != errJob {
		t.Errorf("after release: ran %v, err %v; want true, %v", ran, err, errJob)
	}
}
