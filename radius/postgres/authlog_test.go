package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
	"tollgate/radius/pg"
)

func TestAuthLog(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	l := NewAuthLog(pool, MustLogger(t), AuthLogOptions{})
	l.Start()

	const total, users = 2500, 5
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }
	for i := range total {
		e := radius.AuthLogEntry{
			At:       at(i).UnixNano(),
			Username: fmt.Sprintf("user%d", i%users),
			MAC:      "AA:BB:CC:DD:EE:FF",
			Method:   radius.MethodMSCHAPv2,
			Reason:   radius.ReasonBadPassword,
		}
		if i%2 == 0 {
			e.NASID = core.ID
		}
		l.Log(e)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := MustCount(t, pool, `SELECT count(*) FROM auth_log`); n != total {
		t.Fatalf("auth_log has %d rows, want %d", n, total)
	}
	if l.Written() != total || l.Dropped() != 0 || l.Failed() != 0 {
		t.Fatalf("written %d, dropped %d, failed %d", l.Written(), l.Dropped(), l.Failed())
	}
	if n := MustCount(t, pool, `SELECT count(*) FROM auth_log WHERE nas_id IS NULL`); n != total/2 {
		t.Fatalf("%d rows without NAS, want %d", n, total/2)
	}

	tests := []struct {
		name   string
		filter radius.AuthLogFilter
		rows   int
		first  int // index of the entry expected first
		step   int // index distance between consecutive rows
	}{
		{"newest ten", radius.AuthLogFilter{Limit: 10}, 10, total - 1, 1},
		{"default limit", radius.AuthLogFilter{}, 100, total - 1, 1},
		{"one user", radius.AuthLogFilter{Username: "user3", Limit: 1000}, total / users, total - 2, users},
		{"one user, limited", radius.AuthLogFilter{Username: "user0", Limit: 3}, 3, total - users, users},
		{"unknown user", radius.AuthLogFilter{Username: "nobody"}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.FindAuthLog(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.rows {
				t.Fatalf("%d rows, want %d", len(rows), tt.rows)
			}
			for j, r := range rows {
				i := tt.first - j*tt.step
				nas := ""
				if i%2 == 0 {
					nas = "core"
				}
				want := radius.AuthLogRow{At: at(i), NASName: nas, Username: fmt.Sprintf("user%d", i%users),
					MAC: "AA:BB:CC:DD:EE:FF", Method: "mschapv2", Reason: "bad_password"}
				if !r.At.Equal(want.At) {
					t.Fatalf("row %d at %v, want %v", j, r.At, want.At)
				}
				r.At = want.At
				if r != want {
					t.Fatalf("row %d = %+v, want %+v", j, r, want)
				}
			}
		})
	}
}

func TestAuthLogDrops(t *testing.T) {
	ctx := context.Background()
	_, pool := MustStore(t)
	l := NewAuthLog(pool, MustLogger(t), AuthLogOptions{Buffer: 10})
	// Not started: the buffer fills, and Log still returns at once.
	for i := range 25 {
		l.Log(radius.AuthLogEntry{At: int64(i), Username: "u", Method: radius.MethodPAP})
	}
	if l.Dropped() != 15 {
		t.Fatalf("Dropped = %d, want 15", l.Dropped())
	}
	// Close flushes what a writer that never started had queued.
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := MustCount(t, pool, `SELECT count(*) FROM auth_log`); n != 10 || l.Written() != 10 {
		t.Fatalf("rows %d, written %d; want 10", n, l.Written())
	}
	l.Start() // after Close: no effect
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// failingDB fails every COPY.
type failingDB struct{ pg.DBTX }

func (failingDB) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("copy failed")
}

// syncBuffer is a bytes.Buffer safe for the writer's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestAuthLogFailure(t *testing.T) {
	_, pool := MustStore(t)
	var out syncBuffer
	l := NewAuthLog(failingDB{pool}, slog.New(slog.NewTextHandler(&out, nil)), AuthLogOptions{BatchSize: 10, FlushInterval: time.Hour})
	l.Start()
	for range 25 {
		l.Log(radius.AuthLogEntry{Username: "u"})
	}
	err := l.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "copy failed") {
		t.Fatalf("Close = %v, want the copy error", err)
	}
	if l.Failed() != 25 || l.Written() != 0 {
		t.Fatalf("failed %d, written %d; want 25, 0", l.Failed(), l.Written())
	}
	// Three batches (10, 10, 5), three log lines: once per failure, no retries.
	if n := strings.Count(out.String(), "write auth log"); n != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", n, out.String())
	}
}

func TestEnsurePartitions(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	for range 2 { // idempotent
		if err := s.EnsurePartitions(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := MustCount(t, pool, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'auth_log'::regclass`)
	if n != 4 { // default + this month + two ahead
		t.Fatalf("auth_log has %d partitions, want 4", n)
	}
}
