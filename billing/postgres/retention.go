package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius/pg"
)

var _ billing.RetentionStore = (*Store)(nil)

// RetainedTables are the tables kept TOLLGATE_RETENTION_MONTHS, each partitioned by
// month on its key column (ensure_monthly_partitions), with a default partition named
// <table>_default: the one list retention reads.
var RetainedTables = []struct{ Table, Key string }{
	{"sessions", "started_at"},
	{"auth_log", "at"},
	{"notification_log", "at"},
}

// findPartitionsSQL lists the partitions of the parents $1 with their range bounds,
// read from the catalog; the default partition has no bounds and is left out.
const findPartitionsSQL = `
SELECT parent.relname, child.relname,
       (regexp_match(pg_get_expr(child.relpartbound, child.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
       (regexp_match(pg_get_expr(child.relpartbound, child.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
FROM pg_inherits i
JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_class child ON child.oid = i.inhrelid
JOIN pg_namespace n ON n.oid = parent.relnamespace AND n.nspname = current_schema()
WHERE parent.relname = ANY($1) AND pg_get_expr(child.relpartbound, child.oid) <> 'DEFAULT'
ORDER BY 4, 1`

func retainedNames() []string {
	names := make([]string, len(RetainedTables))
	for i, t := range RetainedTables {
		names[i] = t.Table
	}
	return names
}

// FindPartitions lists the monthly partitions of the retained tables, oldest first.
func (s *Store) FindPartitions(ctx context.Context) ([]billing.Partition, error) {
	rows, err := s.db.Query(ctx, findPartitionsSQL, retainedNames())
	if err != nil {
		return nil, fmt.Errorf("postgres: find partitions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Partition, error) {
		var p billing.Partition
		var from, to *time.Time
		err := r.Scan(&p.Table, &p.Name, &from, &to)
		p.From, p.To = timeOrZero(from), timeOrZero(to)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find partitions: %w", err)
	}
	return out, nil
}

// DropPartition drops p, which must be a partition of a retained table (names from
// FindPartitions only: they are quoted, never trusted).
func (s *Store) DropPartition(ctx context.Context, p billing.Partition) error {
	if !retained(p.Table) {
		return fmt.Errorf("postgres: drop partition: %q is not a retained table", p.Table)
	}
	sql := fmt.Sprintf(`ALTER TABLE %s DETACH PARTITION %s`, pgx.Identifier{p.Table}.Sanitize(), pgx.Identifier{p.Name}.Sanitize())
	if _, err := s.db.Exec(ctx, sql); err != nil {
		return fmt.Errorf("postgres: detach partition %s: %w", p.Name, err)
	}
	if _, err := s.db.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.Name}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: drop partition %s: %w", p.Name, err)
	}
	return nil
}

func retained(table string) bool {
	for _, t := range RetainedTables {
		if t.Table == table {
			return true
		}
	}
	return false
}

// deleteSessionKeysSQL forgets the keys of sessions retention ended, so the pinned
// start times go with their rows.
const deleteSessionKeysSQL = `DELETE FROM session_keys WHERE started_at < $1`

// deleteCoALogSQL: the CoA log (every Disconnect and CoA sent, with the username) is a
// service log like the auth log, kept as long, but not partitioned.
const deleteCoALogSQL = `DELETE FROM coa_log WHERE at < $1`

// DeleteDefaultBefore deletes the rows before cutoff from each retained table's default
// partition, and from the CoA log (and the session keys of sessions before it).
func (s *Store) DeleteDefaultBefore(ctx context.Context, cutoff time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range RetainedTables {
		sql := fmt.Sprintf(`DELETE FROM %s WHERE %s < $1`, pgx.Identifier{t.Table + "_default"}.Sanitize(), pgx.Identifier{t.Key}.Sanitize())
		tag, err := s.db.Exec(ctx, sql, cutoff)
		if err != nil {
			return out, fmt.Errorf("postgres: delete old rows of %s_default: %w", t.Table, err)
		}
		out[t.Table] = tag.RowsAffected()
	}
	tag, err := s.db.Exec(ctx, deleteCoALogSQL, cutoff)
	if err != nil {
		return out, fmt.Errorf("postgres: delete old rows of coa_log: %w", err)
	}
	out["coa_log"] = tag.RowsAffected()
	if _, err := s.db.Exec(ctx, deleteSessionKeysSQL, cutoff); err != nil {
		return out, fmt.Errorf("postgres: delete old session keys: %w", err)
	}
	return out, nil
}

// The finance pass (migration 0021 lets a transaction marked as an erasure rewrite the
// columns that name people in the otherwise append-only tables). $1 is the cutoff.
const (
	expireInvoicesSQL = `
UPDATE invoices SET username = 'archived-' || id, customer_name = ''
WHERE issued_at < $1 AND (username <> 'archived-' || id OR customer_name <> '')`
	expireLedgerSQL = `
UPDATE ledger_entries SET note = '', actor = 'archived'
WHERE at < $1 AND (note <> '' OR actor <> 'archived')`
	// A top-up's receipt repeats its note in its line ("Top-up: " and the note, see
	// billing's Credit); the note goes as the ledger's does.
	expireLinesSQL = `
UPDATE invoice_lines l SET description = 'Top-up'
FROM invoices i
WHERE i.id = l.invoice_id AND i.issued_at < $1 AND i.kind = 'receipt' AND l.description LIKE 'Top-up: %'`
	expirePaymentsSQL = `
UPDATE payments SET account = '' WHERE received_at < $1 AND account <> ''`
	deleteErasuresSQL = `DELETE FROM erasures WHERE erased_at < $1`
)

// ExpireFinance strips the customer's identity from the invoices, receipts (and the
// top-up notes their lines repeat), ledger notes and payments (the account the payer
// typed) before cutoff, keeping every amount, and deletes the erasure records before
// it, in one transaction marked as an erasure.
func (s *Store) ExpireFinance(ctx context.Context, cutoff time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, markErasureSQL); err != nil {
			return err
		}
		for _, q := range []struct{ table, sql string }{
			{"invoices", expireInvoicesSQL}, {"invoice_lines", expireLinesSQL}, {"ledger_entries", expireLedgerSQL},
			{"payments", expirePaymentsSQL}, {"erasures", deleteErasuresSQL},
		} {
			tag, err := tx.Exec(ctx, q.sql, cutoff)
			if err != nil {
				return fmt.Errorf("%s: %w", q.table, err)
			}
			out[q.table] = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: finance retention: %w", err)
	}
	return out, nil
}
