package billing

import (
	"context"
	"time"
)

// Retention of the logs kept in monthly partitions (sessions, the auth log and the
// notification log): a month's partition is dropped whole once the month ended
// RetentionMonths before now, and the rows of those months that sit in the default
// partition (written while no monthly partition existed) are deleted, as are the CoA
// log's (not partitioned). Money
// records follow FinanceRetentionYears instead: they are never dropped (invoices and the
// ledger must keep adding up), but within those years an erasure pseudonymises them,
// and once those years are over every invoice, receipt and ledger note of the time is
// stripped of the customer's identity as an erasure would, and the records of erasures
// themselves are deleted.

// Defaults of TOLLGATE_RETENTION_MONTHS and TOLLGATE_FINANCE_RETENTION_YEARS.
const (
	DefaultRetentionMonths       = 12
	DefaultFinanceRetentionYears = 7
)

// RetentionCutoff is the first instant that is kept at now: the start of the month,
// in loc, that began months months before now's month. A partition whose range ends
// at or before it is dropped; default-partition rows before it are deleted.
func RetentionCutoff(now time.Time, months int, loc *time.Location) time.Time {
	y, m, _ := now.In(loc).Date()
	return time.Date(y, m-time.Month(months), 1, 0, 0, 0, 0, loc)
}

// PartitionExpired reports whether a partition holding [from, to) is past retention
// at cutoff: its whole range is before it.
func PartitionExpired(to, cutoff time.Time) bool { return !to.IsZero() && !to.After(cutoff) }

// Partition is one monthly partition of a retained table.
type Partition struct {
	Table string    `json:"table"`
	Name  string    `json:"partition"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
}

// RetentionStore drops what retention ends (Postgres). Its tables are the adapter's one
// list of retained tables.
type RetentionStore interface {
	// FindPartitions lists the monthly partitions of every retained table (not the
	// default ones), oldest first.
	FindPartitions(ctx context.Context) ([]Partition, error)
	// DropPartition drops p.
	DropPartition(ctx context.Context, p Partition) error
	// DeleteDefaultBefore deletes the rows before cutoff from the default partition of
	// every retained table and from the CoA log (a service log kept as long, not
	// partitioned), and returns how many it deleted per table.
	DeleteDefaultBefore(ctx context.Context, cutoff time.Time) (map[string]int64, error)
	// ExpireFinance pseudonymises the invoices and receipts issued (with the top-up
	// notes their lines repeat), the ledger notes written and the payments received
	// before cutoff, keeping every amount, and deletes the erasure records before it;
	// it returns how many rows of each table it changed.
	ExpireFinance(ctx context.Context, cutoff time.Time) (map[string]int64, error)
}

// Retention runs the retention pass. Months is TOLLGATE_RETENTION_MONTHS; Loc the
// operator's time zone (time.Local when nil).
type Retention struct {
	Store  RetentionStore
	Months int
	// FinanceYears is TOLLGATE_FINANCE_RETENTION_YEARS; 0 leaves money records alone.
	FinanceYears int
	Loc          *time.Location
}

// RetentionReport is what one pass did.
type RetentionReport struct {
	Now     time.Time   `json:"now"`
	Cutoff  time.Time   `json:"cutoff"`
	Months  int         `json:"months"`
	Dropped []Partition `json:"dropped"`
	// Deleted counts the rows before the cutoff deleted from the default partitions,
	// per table, and from the CoA log ("coa_log").
	Deleted map[string]int64 `json:"deleted_from_default"`
	// FinanceCutoff and Finance: the money records before it that lost the customer's
	// identity (invoices, ledger) or were deleted (erasures), per table.
	FinanceCutoff time.Time        `json:"finance_cutoff,omitzero"`
	Finance       map[string]int64 `json:"finance,omitempty"`
}

// Run drops every partition past retention at now and deletes the default
// partitions' rows before the cutoff. It is idempotent: a second run finds nothing.
// EINVALID for Months below 1.
func (r *Retention) Run(ctx context.Context, now time.Time) (*RetentionReport, error) {
	if r.Months < 1 {
		return nil, invalid("retention: months must be at least 1, not %d", r.Months)
	}
	loc := r.Loc
	if loc == nil {
		loc = time.Local
	}
	rep := &RetentionReport{Now: now, Months: r.Months, Cutoff: RetentionCutoff(now, r.Months, loc), Dropped: []Partition{}}
	parts, err := r.Store.FindPartitions(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if !PartitionExpired(p.To, rep.Cutoff) {
			continue
		}
		if err := r.Store.DropPartition(ctx, p); err != nil {
			return rep, err
		}
		rep.Dropped = append(rep.Dropped, p)
	}
	if rep.Deleted, err = r.Store.DeleteDefaultBefore(ctx, rep.Cutoff); err != nil {
		return rep, err
	}
	if r.FinanceYears > 0 {
		rep.FinanceCutoff = FinanceCutoff(now, r.FinanceYears, loc)
		if rep.Finance, err = r.Store.ExpireFinance(ctx, rep.FinanceCutoff); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// FinanceCutoff is the first instant whose money records keep the customer's identity
// at now: the start of the year, in loc, that began years years before now's year
// (records are kept for whole calendar years, as bookkeeping counts them).
func FinanceCutoff(now time.Time, years int, loc *time.Location) time.Time {
	return time.Date(now.In(loc).Year()-years, 1, 1, 0, 0, 0, 0, loc)
}
