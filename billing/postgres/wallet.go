package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var _ billing.WalletStore = (*Store)(nil)

// walletBalanceCheck is the CHECK that refuses a balance below −credit limit.
const walletBalanceCheck = "wallets_balance_within_credit_limit"

// ledgerChecks names the field that a CHECK constraint of ledger_entries guards, for a
// movement that reached the store without billing's validation.
var ledgerChecks = map[string]string{
	"ledger_entries_amount_sign":           "amount",
	"ledger_entries_kind_check":            "kind",
	"ledger_entries_note_check":            "note",
	"ledger_entries_idempotency_key_check": "idempotency-key",
	"ledger_entries_ref_check":             "ref",
	"ledger_entries_actor_check":           "actor",
}

const entryColumns = `id, reseller_id, at, amount_cents, balance_after_cents, kind, note,
       idempotency_key, ref, actor`

// scanEntry scans entryColumns into e.
func scanEntry(row pgx.Row, e *billing.LedgerEntry) error {
	var kind string
	err := row.Scan(&e.ID, &e.ResellerID, &e.At, &e.AmountCents, &e.BalanceAfterCents, &kind, &e.Note,
		&e.IdempotencyKey, &e.Ref, &e.Actor)
	e.Kind = billing.EntryKind(kind)
	return err
}

// An idempotency key is scoped to its wallet: the same key sent to another wallet is
// another request (ledger_entries is unique on (reseller_id, idempotency_key)).
const findEntryByKeySQL = `SELECT ` + entryColumns + ` FROM ledger_entries WHERE reseller_id = $1 AND idempotency_key = $2`

// findEntryByKey returns the entry of key in the wallet of resellerID on db, or
// pgx.ErrNoRows.
func findEntryByKey(ctx context.Context, db pg.DBTX, resellerID int64, key string) (*billing.LedgerEntry, error) {
	var e billing.LedgerEntry
	if err := scanEntry(db.QueryRow(ctx, findEntryByKeySQL, resellerID, key), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// FindLedgerEntryByKey returns the entry recorded in the wallet of resellerID with
// idempotency key key. ENOTFOUND.
func (s *Store) FindLedgerEntryByKey(ctx context.Context, resellerID int64, key string) (*billing.LedgerEntry, error) {
	e, err := findEntryByKey(ctx, s.db, resellerID, key)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("idempotency-key: no entry with key %q for reseller %d", key, resellerID))
		}
		return nil, fmt.Errorf("postgres: find ledger entry %q: %w", key, err)
	}
	return e, nil
}

// moveWalletSQL changes the balance under the wallet's row lock; concurrent movements of
// one wallet queue here, and the CHECK refuses a balance below −credit limit.
const moveWalletSQL = `
UPDATE wallets SET balance_cents = balance_cents + $2, updated_at = now()
WHERE reseller_id = $1
RETURNING balance_cents`

// insertEntrySQL does nothing when a concurrent request took the key in this wallet
// first; it waits for that request's transaction to end before deciding.
const insertEntrySQL = `
INSERT INTO ledger_entries (reseller_id, amount_cents, balance_after_cents, kind, note,
                            idempotency_key, ref, actor)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (reseller_id, idempotency_key) DO NOTHING
RETURNING id, at`

// Move applies m in one transaction (a savepoint when the store runs on the caller's
// transaction): it looks the idempotency key up, updates the balance and appends the
// ledger entry. A key already used in this wallet returns the original entry marked
// Replayed (or ECONFLICT when it was for another movement) and changes nothing; the
// same key in another wallet is a movement of its own. EQUOTA when the
// balance would fall below −credit limit, with nothing written; ENOTFOUND when the
// reseller has no wallet; EINVALID when the schema refuses a value.
func (s *Store) Move(ctx context.Context, m billing.Movement) (billing.LedgerEntry, error) {
	e, err := s.move(ctx, m)
	if err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("postgres: %s of %s for reseller %d: %w",
			m.Kind, billing.FormatCents(m.AmountCents), m.ResellerID, err)
	}
	return e, nil
}

func (s *Store) move(ctx context.Context, m billing.Movement) (billing.LedgerEntry, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return billing.LedgerEntry{}, err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	// A retry of a request that committed: answer as the first time, change nothing.
	switch orig, err := findEntryByKey(ctx, tx, m.ResellerID, m.IdempotencyKey); {
	case err == nil:
		return billing.CheckReplay(*orig, m)
	case !errors.Is(err, pgx.ErrNoRows):
		return billing.LedgerEntry{}, fmt.Errorf("find key: %w", err)
	}
	e := billing.LedgerEntry{
		ResellerID: m.ResellerID, AmountCents: m.AmountCents, Kind: m.Kind, Note: m.Note,
		IdempotencyKey: m.IdempotencyKey, Ref: m.Ref, Actor: m.Actor,
	}
	if err := tx.QueryRow(ctx, moveWalletSQL, m.ResellerID, m.AmountCents).Scan(&e.BalanceAfterCents); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.LedgerEntry{}, pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("reseller: no wallet for reseller %d", m.ResellerID))
		}
		if pg.IsCheck(err, walletBalanceCheck) {
			tx.Rollback(ctx)
			return s.refused(ctx, m, err)
		}
		return billing.LedgerEntry{}, fmt.Errorf("update wallet: %w", err)
	}
	err = tx.QueryRow(ctx, insertEntrySQL, m.ResellerID, m.AmountCents, e.BalanceAfterCents, string(m.Kind),
		m.Note, m.IdempotencyKey, m.Ref, m.Actor).Scan(&e.ID, &e.At)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent request with this key committed while we waited: undo our balance
		// change and answer as its retry.
		tx.Rollback(ctx)
		return s.replay(ctx, m)
	}
	if err != nil {
		if pe := pg.Error(err); pg.IsCheck(err, "") && ledgerChecks[pe.ConstraintName] != "" {
			err = pg.CheckField(err, ledgerChecks)
		}
		return billing.LedgerEntry{}, fmt.Errorf("insert ledger entry: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("commit: %w", err)
	}
	return e, nil
}

// replay answers m with the committed entry of its key.
func (s *Store) replay(ctx context.Context, m billing.Movement) (billing.LedgerEntry, error) {
	orig, err := findEntryByKey(ctx, s.db, m.ResellerID, m.IdempotencyKey)
	if err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("find key after a conflict: %w", err)
	}
	return billing.CheckReplay(*orig, m)
}

const walletWithNameSQL = `
SELECT r.name, w.reseller_id, w.balance_cents, w.credit_limit_cents, w.updated_at
FROM wallets w JOIN resellers r ON r.id = w.reseller_id
WHERE w.reseller_id = $1`

// refused builds the EQUOTA error of a debit the CHECK refused, after the rollback. A
// request with the same key may have committed meanwhile; then m is its retry.
func (s *Store) refused(ctx context.Context, m billing.Movement, cause error) (billing.LedgerEntry, error) {
	switch orig, err := findEntryByKey(ctx, s.db, m.ResellerID, m.IdempotencyKey); {
	case err == nil:
		return billing.CheckReplay(*orig, m)
	case !errors.Is(err, pgx.ErrNoRows):
		return billing.LedgerEntry{}, fmt.Errorf("find key after %w: %w", cause, err)
	}
	var name string
	var w billing.Wallet
	if err := s.db.QueryRow(ctx, walletWithNameSQL, m.ResellerID).Scan(&name, &w.ResellerID, &w.BalanceCents, &w.CreditLimitCents, &w.UpdatedAt); err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("read wallet after %w: %w", cause, err)
	}
	qe := billing.QuotaError(name, w, m.AmountCents)
	qe.Err = cause
	return billing.LedgerEntry{}, qe
}

const findWalletSQL = `
SELECT reseller_id, balance_cents, credit_limit_cents, updated_at
FROM wallets WHERE reseller_id = $1`

// FindWallet returns the wallet of reseller resellerID. ENOTFOUND.
func (s *Store) FindWallet(ctx context.Context, resellerID int64) (*billing.Wallet, error) {
	var w billing.Wallet
	err := s.db.QueryRow(ctx, findWalletSQL, resellerID).Scan(&w.ResellerID, &w.BalanceCents, &w.CreditLimitCents, &w.UpdatedAt)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("reseller: no wallet for reseller %d", resellerID))
		}
		return nil, fmt.Errorf("postgres: find wallet %d: %w", resellerID, err)
	}
	return &w, nil
}

const findLedgerEntriesSQL = `
SELECT ` + entryColumns + `
FROM ledger_entries
WHERE reseller_id = $1
ORDER BY id DESC
LIMIT $2`

// FindLedgerEntries returns the latest limit entries of reseller resellerID, newest
// first. Within one wallet, id order is balance order: entries are numbered under the
// wallet's row lock.
func (s *Store) FindLedgerEntries(ctx context.Context, resellerID int64, limit int) ([]billing.LedgerEntry, error) {
	rows, err := s.db.Query(ctx, findLedgerEntriesSQL, resellerID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: ledger of reseller %d: %w", resellerID, err)
	}
	defer rows.Close()
	var list []billing.LedgerEntry
	for rows.Next() {
		var e billing.LedgerEntry
		if err := scanEntry(rows, &e); err != nil {
			return nil, fmt.Errorf("postgres: ledger of reseller %d: %w", resellerID, err)
		}
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: ledger of reseller %d: %w", resellerID, err)
	}
	return list, nil
}
