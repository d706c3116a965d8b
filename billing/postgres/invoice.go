package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var _ billing.InvoiceStore = (*Store)(nil)

// nextInvoiceSeqSQL takes the next number of a kind and year. The counter row stays
// locked until the transaction ends: concurrent issuers queue on it, and a rollback
// gives the number back, so numbers have no gaps.
const nextInvoiceSeqSQL = `
INSERT INTO invoice_counters (kind, year, last) VALUES ($1, $2, 1)
ON CONFLICT (kind, year) DO UPDATE SET last = invoice_counters.last + 1
RETURNING last`

const insertInvoiceSQL = `
INSERT INTO invoices (number, kind, year, seq, issued_at, subscriber_id, username, customer_name, plan_name,
                      currency, net_cents, tax_cents, total_cents, tax_rate_bp, tax_name, ledger_entry_id,
                      period_start, period_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
RETURNING id`

const insertInvoiceLineSQL = `
INSERT INTO invoice_lines (invoice_id, line, description, quantity, unit_cents, net_cents, tax_cents, total_cents)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// IssueInvoice takes the next number of inv's kind and year and stores inv with its
// lines, in one transaction (a savepoint on the caller's, whose rollback takes the
// number back). It sets ID, Seq and Number. EINVALID when the schema refuses a value.
func (s *Store) IssueInvoice(ctx context.Context, inv *billing.Invoice) error {
	if err := s.issueInvoice(ctx, inv); err != nil {
		if cerr := pg.CheckField(err, nil); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("postgres: issue %s: %w", inv.Kind, err)
	}
	return nil
}

func (s *Store) issueInvoice(ctx context.Context, inv *billing.Invoice) error {
	if !inv.Kind.Valid() {
		return radius.Errorf(radius.EINVALID, "kind: %q is not invoice or receipt", inv.Kind)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if err := tx.QueryRow(ctx, nextInvoiceSeqSQL, string(inv.Kind), inv.Year).Scan(&inv.Seq); err != nil {
		return fmt.Errorf("number: %w", err)
	}
	inv.Number = billing.InvoiceNumber(inv.Kind, inv.Year, inv.Seq)
	err = tx.QueryRow(ctx, insertInvoiceSQL, inv.Number, string(inv.Kind), inv.Year, inv.Seq, inv.IssuedAt,
		inv.SubscriberID, inv.Username, inv.CustomerName, inv.PlanName, inv.Currency, inv.NetCents, inv.TaxCents,
		inv.TotalCents, inv.TaxRateBP, inv.TaxName, inv.LedgerEntryID, nullTime(inv.PeriodStart), nullTime(inv.PeriodEnd),
	).Scan(&inv.ID)
	if err != nil {
		return err
	}
	for _, l := range inv.Lines {
		if _, err := tx.Exec(ctx, insertInvoiceLineSQL, inv.ID, l.Line, l.Description, l.Quantity, l.UnitCents,
			l.NetCents, l.TaxCents, l.TotalCents); err != nil {
			return fmt.Errorf("line %d: %w", l.Line, err)
		}
	}
	return tx.Commit(ctx)
}

const invoiceColumns = `id, number, kind, year, seq, issued_at, subscriber_id, username, customer_name, plan_name,
       currency, net_cents, tax_cents, total_cents, tax_rate_bp, tax_name, ledger_entry_id, period_start, period_end`

// scanInvoice scans invoiceColumns into inv, then any columns after them into extra.
func scanInvoice(row pgx.Row, inv *billing.Invoice, extra ...any) error {
	var kind string
	var start, end *time.Time
	dest := append([]any{&inv.ID, &inv.Number, &kind, &inv.Year, &inv.Seq, &inv.IssuedAt, &inv.SubscriberID, &inv.Username,
		&inv.CustomerName, &inv.PlanName, &inv.Currency, &inv.NetCents, &inv.TaxCents, &inv.TotalCents, &inv.TaxRateBP,
		&inv.TaxName, &inv.LedgerEntryID, &start, &end}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return err
	}
	inv.Kind = billing.InvoiceKind(kind)
	inv.PeriodStart, inv.PeriodEnd = timeOrZero(start), timeOrZero(end)
	return nil
}

const (
	findInvoiceByNumberSQL = `SELECT ` + invoiceColumns + ` FROM invoices WHERE number = $1`
	findInvoiceByEntrySQL  = `SELECT ` + invoiceColumns + ` FROM invoices WHERE ledger_entry_id = $1`
	findInvoiceLinesSQL    = `
SELECT line, description, quantity, unit_cents, net_cents, tax_cents, total_cents
FROM invoice_lines WHERE invoice_id = $1 ORDER BY line`
)

// FindInvoiceByNumber returns the document numbered number with its lines. ENOTFOUND.
func (s *Store) FindInvoiceByNumber(ctx context.Context, number string) (*billing.Invoice, error) {
	return s.findInvoice(ctx, findInvoiceByNumberSQL, number, fmt.Sprintf("number: no invoice or receipt %s", number))
}

// FindInvoiceByEntry returns the document of ledger entry id with its lines. ENOTFOUND.
func (s *Store) FindInvoiceByEntry(ctx context.Context, ledgerEntryID int64) (*billing.Invoice, error) {
	return s.findInvoice(ctx, findInvoiceByEntrySQL, ledgerEntryID, fmt.Sprintf("invoice: none for ledger entry %d", ledgerEntryID))
}

func (s *Store) findInvoice(ctx context.Context, sql string, arg any, notFound string) (*billing.Invoice, error) {
	var inv billing.Invoice
	if err := scanInvoice(s.db.QueryRow(ctx, sql, arg), &inv); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, notFound)
		}
		return nil, fmt.Errorf("postgres: find invoice: %w", err)
	}
	rows, err := s.db.Query(ctx, findInvoiceLinesSQL, inv.ID)
	if err != nil {
		return nil, fmt.Errorf("postgres: invoice lines of %s: %w", inv.Number, err)
	}
	inv.Lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.InvoiceLine, error) {
		var l billing.InvoiceLine
		err := r.Scan(&l.Line, &l.Description, &l.Quantity, &l.UnitCents, &l.NetCents, &l.TaxCents, &l.TotalCents)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: invoice lines of %s: %w", inv.Number, err)
	}
	return &inv, nil
}

// findInvoicesSQL filters on the arguments that are set (a zero subscriber and an empty
// kind select all). It also says whether each document's subscriber restricts
// processing now, so the CLI's list can withhold his name (issue 9).
const findInvoicesSQL = `
SELECT ` + invoiceColumns + `,
       EXISTS (SELECT 1 FROM subscribers s WHERE s.id = invoices.subscriber_id AND s.restricted)
FROM invoices
WHERE ($1 = 0 OR subscriber_id = $1) AND ($2 = '' OR kind = $2)
ORDER BY id DESC
LIMIT $3`

// FindInvoices returns documents, newest first, without their lines, with Restricted set.
func (s *Store) FindInvoices(ctx context.Context, f billing.InvoiceFilter) ([]billing.Invoice, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = billing.DefaultInvoiceLimit
	}
	rows, err := s.db.Query(ctx, findInvoicesSQL, f.SubscriberID, string(f.Kind), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: invoices: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Invoice, error) {
		var inv billing.Invoice
		return inv, scanInvoice(r, &inv, &inv.Restricted)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: invoices: %w", err)
	}
	return list, nil
}
