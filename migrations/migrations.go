// Package migrations holds tollgate's schema as numbered SQL files, embedded in the binary,
// and applies them in order. Files only go forward and are never edited once merged.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed *.sql
var files embed.FS

// lockID is the advisory lock that serializes concurrent `tollgate migrate` runs.
const lockID = 0x746f6c6c67617465 // "tollgate"

// DB is what Apply and Check need: a *pgxpool.Pool or a *pgx.Conn.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Names returns the embedded migration names in order.
func Names() []string {
	entries, err := fs.Glob(files, "*.sql")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(entries)
	for i, e := range entries {
		entries[i] = strings.TrimSuffix(e, ".sql")
	}
	return entries
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name text PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Apply runs every pending migration, each in its own transaction, under an advisory
// lock, and returns the names it applied.
func Apply(ctx context.Context, db DB) ([]string, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// A transaction-level lock is released on commit or rollback, so no connection can leak it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockID)); err != nil {
		return nil, fmt.Errorf("migrations: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}
	done, err := appliedIn(ctx, tx)
	if err != nil {
		return nil, err
	}
	var ran []string
	for _, name := range Names() {
		if done[name] {
			continue
		}
		sql, err := files.ReadFile(name + ".sql")
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s: %w", name, err)
		}
		// A savepoint per file: one failing file leaves the earlier ones applied.
		if err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			if _, err := sp.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := sp.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		}); err != nil {
			if len(ran) > 0 {
				if cerr := tx.Commit(ctx); cerr != nil {
					return nil, fmt.Errorf("migrations: commit: %w", cerr)
				}
			}
			return ran, fmt.Errorf("migrations: apply %s: %w", name, err)
		}
		ran = append(ran, name)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("migrations: commit: %w", err)
	}
	return ran, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func appliedIn(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrations: list applied: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("migrations: list applied: %w", err)
	}
	done := make(map[string]bool, len(names))
	for _, n := range names {
		done[n] = true
	}
	return done, nil
}

// Pending returns the embedded migrations the database has not applied. `tollgate serve`
// refuses to start while any are pending.
func Pending(ctx context.Context, db DB) ([]string, error) {
	var exists bool
	rows, err := db.Query(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("migrations: check: %w", err)
	}
	exists, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	if err != nil {
		return nil, fmt.Errorf("migrations: check: %w", err)
	}
	done := map[string]bool{}
	if exists {
		if done, err = appliedIn(ctx, db); err != nil {
			return nil, err
		}
	}
	var pending []string
	for _, n := range Names() {
		if !done[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}
