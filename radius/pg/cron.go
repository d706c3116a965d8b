package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const claimCronRun = `INSERT INTO cron_runs (job, scheduled_at, node) VALUES ($1, $2, $3)
ON CONFLICT (job, scheduled_at) DO NOTHING
RETURNING true`

// ClaimCronRun records that node runs job for the slot; it returns false when another
// replica already claimed it. With several `tollgate serve` on one database, each job runs
// once per schedule.
func ClaimCronRun(ctx context.Context, db DBTX, job string, slot time.Time, node string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, claimCronRun, job, slot, node).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: claim cron run %s: %w", job, err)
	}
	return ok, nil
}

const finishCronRun = `UPDATE cron_runs SET finished_at = now(), error = $3 WHERE job = $1 AND scheduled_at = $2`

// FinishCronRun records the end of a claimed run and its error text ("" for success).
func FinishCronRun(ctx context.Context, db DBTX, job string, slot time.Time, runErr string) error {
	if _, err := db.Exec(ctx, finishCronRun, job, slot, runErr); err != nil {
		return fmt.Errorf("postgres: finish cron run %s: %w", job, err)
	}
	return nil
}

const tryJobLock = `SELECT pg_try_advisory_xact_lock(hashtext('tollgate.cron'), hashtext($1))`

// WithJobLock runs fn while holding a transaction-level advisory lock for job, so a slow
// run on one replica never overlaps the next slot's run on another; ran is false when the
// lock was taken.
func WithJobLock(ctx context.Context, db Beginner, job string, fn func(ctx context.Context) error) (ran bool, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: job lock %s: %w", job, err)
	}
	defer tx.Rollback(ctx)
	var got bool
	if err := tx.QueryRow(ctx, tryJobLock, job).Scan(&got); err != nil {
		return false, fmt.Errorf("postgres: job lock %s: %w", job, err)
	}
	if !got {
		return false, nil
	}
	if err := fn(ctx); err != nil {
		return true, err
	}
	return true, tx.Commit(ctx)
}
