package postgres

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/radius/pg"
	"tollgate/radius/radiustest"
)

// MustStore returns a Store on a fresh migrated database, and its pool.
func MustStore(tb testing.TB) (*Store, *pgxpool.Pool) {
	tb.Helper()
	pool := radiustest.MustDB(tb)
	return New(pool), pool
}

// MustLogger returns a logger that writes to the test's output.
func MustLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// MustExec runs sql on db or fails.
func MustExec(tb testing.TB, db pg.DBTX, sql string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// MustCount returns the single int64 that sql selects.
func MustCount(tb testing.TB, db pg.DBTX, sql string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}
