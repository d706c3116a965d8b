package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
)

// The pages of /api/v1: a wallet's entries and the documents, newest first, each page
// starting below the id the previous one ended at (a cursor that stays right while new
// rows arrive).

const findLedgerPageSQL = `
SELECT ` + entryColumns + `
FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id
WHERE l.wallet_id = (SELECT w.id FROM wallets w WHERE ` + walletOfOwner + `)
  AND ($3 = 0 OR l.id < $3)
ORDER BY l.id DESC
LIMIT $4`

// FindLedgerPage returns up to limit entries of o's wallet older than entry beforeID
// (0: from the newest), newest first.
func (s *Store) FindLedgerPage(ctx context.Context, o billing.Owner, beforeID int64, limit int) ([]billing.LedgerEntry, error) {
	r, sub := ownerArgs(o)
	list, err := s.entries(ctx, findLedgerPageSQL, r, sub, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: ledger page of %s: %w", o, err)
	}
	return list, nil
}

// findInvoicePageSQL also says whether each document's subscriber restricts
// processing now, so the list can withhold his name (issue 9).
const findInvoicePageSQL = `
SELECT ` + invoiceColumns + `,
       EXISTS (SELECT 1 FROM subscribers s WHERE s.id = invoices.subscriber_id AND s.restricted)
FROM invoices
WHERE ($1 = 0 OR subscriber_id = $1) AND ($2 = '' OR kind = $2) AND ($3 = 0 OR id < $3)
ORDER BY id DESC
LIMIT $4`

// FindInvoicePage returns up to f.Limit documents f selects with an id below beforeID
// (0: from the newest), newest first, without their lines, with Restricted set.
func (s *Store) FindInvoicePage(ctx context.Context, f billing.InvoiceFilter, beforeID int64) ([]billing.Invoice, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = billing.DefaultInvoiceLimit
	}
	rows, err := s.db.Query(ctx, findInvoicePageSQL, f.SubscriberID, string(f.Kind), beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: invoice page: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Invoice, error) {
		var inv billing.Invoice
		return inv, scanInvoice(r, &inv, &inv.Restricted)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: invoice page: %w", err)
	}
	return list, nil
}
