package pg

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/radius/radiustest"
)

// MustListen runs Listen on a fresh database until the test ends and returns a pool on
// that database and the payloads Listen delivers.
func MustListen(tb testing.TB) (*pgxpool.Pool, <-chan string) {
	tb.Helper()
	url := radiustest.MustDBURL(tb)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	ctx, cancel := context.WithCancel(context.Background())
	payloads := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- Listen(ctx, url, MustLogger(tb), func(p string) { payloads <- p }) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Listen = %v, want nil after ctx ended", err)
			}
		case <-time.After(5 * time.Second):
			tb.Errorf("Listen did not return after ctx ended")
		}
	})
	return pool, payloads
}

// MustReceive fails unless want arrives on payloads within d.
func MustReceive(tb testing.TB, payloads <-chan string, want string, d time.Duration) {
	tb.Helper()
	select {
	case got := <-payloads:
		if got != want {
			tb.Fatalf("payload %q, want %q", got, want)
		}
	case <-time.After(d):
		tb.Fatalf("no payload %q within %v", want, d)
	}
}

func TestListen(t *testing.T) {
	ctx := context.Background()
	pool, payloads := MustListen(t)
	MustReceive(t, payloads, "*", 5*time.Second) // listening: reload everything

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"notify", func(t *testing.T) {
			if err := Notify(ctx, pool, "nas"); err != nil {
				t.Fatal(err)
			}
			MustReceive(t, payloads, "nas", time.Second)
		}},
		{"notify in a transaction", func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if err := Notify(ctx, tx, "account:rolled-back"); err != nil {
				t.Fatal(err)
			}
			tx.Rollback(ctx)
			tx, err = pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := Notify(ctx, tx, "account:alice"); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			MustReceive(t, payloads, "account:alice", time.Second)
		}},
		{"reconnect", func(t *testing.T) {
			n := MustCount(t, pool, `
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`)
			if n != 1 {
				t.Fatalf("terminated %d listeners, want 1", n)
			}
			MustReceive(t, payloads, "*", 5*time.Second)
			if err := Notify(ctx, pool, "nas"); err != nil {
				t.Fatal(err)
			}
			MustReceive(t, payloads, "nas", time.Second)
		}},
	}
	for _, st := range steps {
		t.Run(st.name, st.run)
	}
}

func TestListenIdle(t *testing.T) {
	// Restored in a cleanup registered before MustListen's, so after Listen returned.
	saved := listenPing
	t.Cleanup(func() { listenPing = saved })
	listenPing = 50 * time.Millisecond
	pool, payloads := MustListen(t)
	MustReceive(t, payloads, "*", 5*time.Second)
	time.Sleep(300 * time.Millisecond) // several idle checks
	if err := Notify(context.Background(), pool, "nas"); err != nil {
		t.Fatal(err)
	}
	MustReceive(t, payloads, "nas", time.Second)
}
