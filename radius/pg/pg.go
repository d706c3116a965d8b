// Package pg is the Postgres plumbing every adapter shares: the DBTX interface stores
// run on, the one transaction helper, the translation of SQLSTATE errors into
// radius.Error, the cron claim and job lock, and LISTEN/NOTIFY of admin changes.
// Adapters (radius/postgres, billing/postgres, hotspot/postgres, portal/auth/postgres)
// import it instead of one another, so they only ever depend downwards.
package pg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what a store runs on: the shared methods of *pgxpool.Pool, *pgx.Conn and
// pgx.Tx, so one operation can span several stores in a single transaction. On a
// pgx.Tx, Begin opens a savepoint, so multi-statement methods stay atomic inside the
// caller's transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Beginner starts a transaction: a *pgxpool.Pool, a *pgx.Conn, or a pgx.Tx (a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// WithTx runs fn in one transaction begun on db and commits it when fn returns nil; any
// error (or panic) rolls everything back, and fn's error is returned as is. Stores built
// on tx (each adapter's constructor) then write atomically together. A voucher purchase
// composes a debit with the batch it pays for like this:
//
//	err := pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
//		batch, err := hotspotpg.NewStore(tx).CreateBatch(ctx, …)
//		if err != nil {
//			return err
//		}
//		entry, err := resellers.Debit(ctx, billingpg.NewStore(tx), reseller, price, fmt.Sprint(batch.ID), note, key, actor)
//		if err != nil {
//			return err // EQUOTA: the batch goes too
//		}
//		if entry.Replayed {
//			return errAlreadyBought // roll this batch back; the first one is entry.Ref
//		}
//		return nil
//	})
//
// The transaction runs at Postgres' default isolation, READ COMMITTED, which billing's
// wallet moves rely on: concurrent debits of one wallet queue on its row lock instead of
// failing.
func WithTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}
