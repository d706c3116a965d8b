// Package postgres is the Postgres adapter of the radius domain: NASes, the account
// lookup the RADIUS path makes on a cache miss, the batched auth log, and the change
// notifications that keep every running server's snapshot fresh. Methods run on a
// DBTX, so one operation can span several stores in a single transaction.
package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tollgate/radius"
)

// DBTX is what the store needs: the shared methods of *pgxpool.Pool, *pgx.Conn and pgx.Tx.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Store reads and writes the radius tables.
type Store struct {
	db DBTX
}

var (
	_ radius.AccountStore = (*Store)(nil)
	_ radius.NASStore     = (*Store)(nil)
)

// New returns a Store on a pool or a transaction.
func New(db DBTX) *Store { return &Store{db: db} }

// SQLSTATE codes the adapter translates.
const (
	uniqueViolation    = "23505"
	exclusionViolation = "23P01"
	checkViolation     = "23514"
)

// pgError returns err's *pgconn.PgError, or nil.
func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}
