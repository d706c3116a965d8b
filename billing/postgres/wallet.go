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

// entryColumns are the columns of a ledger entry "l" joined with its wallet "w".
const entryColumns = `l.id, l.wallet_id, coalesce(w.reseller_id, 0), coalesce(w.subscriber_id, 0), l.at,
       l.amount_cents, l.balance_after_cents, l.kind, l.note, l.idempotency_key, l.ref, l.actor`

// scanEntry scans entryColumns into e.
func scanEntry(row pgx.Row, e *billing.LedgerEntry) error {
	var kind string
	err := row.Scan(&e.ID, &e.WalletID, &e.ResellerID, &e.SubscriberID, &e.At, &e.AmountCents, &e.BalanceAfterCents,
		&kind, &e.Note, &e.IdempotencyKey, &e.Ref, &e.Actor)
	e.Kind = billing.EntryKind(kind)
	return err
}

// ownerArgs returns the arguments that pick o's wallet in walletOfOwner: NULL for the
// side o is not, so the other side's unique index finds the row.
func ownerArgs(o billing.Owner) (reseller, subscriber any) {
	if o.SubscriberID != 0 {
		return nil, o.SubscriberID
	}
	return o.ResellerID, nil
}

// walletOfOwner picks the wallet of the owner in $1 (reseller) or $2 (subscriber).
const walletOfOwner = `(w.reseller_id = $1 OR w.subscriber_id = $2)`

// noWallet is the ENOTFOUND error of an owner without a wallet.
func noWallet(err error, o billing.Owner) error {
	return pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("%s: no wallet for %s", o.Kind(), o))
}

// An idempotency key is scoped to its wallet: the same key sent to another wallet is
// another request (ledger_entries is unique on (wallet_id, idempotency_key)).
const findEntryByKeySQL = `SELECT ` + entryColumns + `
FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id
WHERE ` + walletOfOwner + ` AND l.idempotency_key = $3`

// findEntryByKey returns the entry of key in o's wallet on db, or pgx.ErrNoRows.
func findEntryByKey(ctx context.Context, db pg.DBTX, o billing.Owner, key string) (*billing.LedgerEntry, error) {
	var e billing.LedgerEntry
	r, sub := ownerArgs(o)
	if err := scanEntry(db.QueryRow(ctx, findEntryByKeySQL, r, sub, key), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// FindLedgerEntryByKey returns the entry recorded in o's wallet with idempotency key
// key. ENOTFOUND.
func (s *Store) FindLedgerEntryByKey(ctx context.Context, o billing.Owner, key string) (*billing.LedgerEntry, error) {
	e, err := findEntryByKey(ctx, s.db, o, key)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("idempotency-key: no entry with key %q for %s", key, o))
		}
		return nil, fmt.Errorf("postgres: find ledger entry %q: %w", key, err)
	}
	return e, nil
}

// moveWalletSQL changes the balance under the wallet's row lock; concurrent movements of
// one wallet queue here, and the CHECK refuses a balance below −credit limit.
const moveWalletSQL = `
UPDATE wallets w SET balance_cents = balance_cents + $3, updated_at = now()
WHERE ` + walletOfOwner + `
RETURNING w.id, w.balance_cents`

// insertEntrySQL does nothing when a concurrent request took the key in this wallet
// first; it waits for that request's transaction to end before deciding.
const insertEntrySQL = `
INSERT INTO ledger_entries (wallet_id, amount_cents, balance_after_cents, kind, note,
                            idempotency_key, ref, actor)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (wallet_id, idempotency_key) DO NOTHING
RETURNING id, at`

// Move applies m in one transaction (a savepoint when the store runs on the caller's
// transaction): it looks the idempotency key up, updates the balance and appends the
// ledger entry. A key already used in this wallet returns the original entry marked
// Replayed (or ECONFLICT when it was for another movement) and changes nothing; the
// same key in another wallet is a movement of its own. EQUOTA when the
// balance would fall below −credit limit, with nothing written; ENOTFOUND when the
// owner has no wallet; EINVALID when the schema refuses a value.
func (s *Store) Move(ctx context.Context, m billing.Movement) (billing.LedgerEntry, error) {
	e, err := s.move(ctx, m)
	if err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("postgres: %s of %s for %s: %w",
			m.Kind, billing.FormatCents(m.AmountCents), m.Owner(), err)
	}
	return e, nil
}

func (s *Store) move(ctx context.Context, m billing.Movement) (billing.LedgerEntry, error) {
	o := m.Owner()
	if !o.Valid() {
		return billing.LedgerEntry{}, radius.Errorf(radius.EINVALID, "wallet: a movement names a reseller or a subscriber")
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return billing.LedgerEntry{}, err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	// A retry of a request that committed: answer as the first time, change nothing.
	switch orig, err := findEntryByKey(ctx, tx, o, m.IdempotencyKey); {
	case err == nil:
		return billing.CheckReplay(*orig, m)
	case !errors.Is(err, pgx.ErrNoRows):
		return billing.LedgerEntry{}, fmt.Errorf("find key: %w", err)
	}
	e := billing.LedgerEntry{
		ResellerID: m.ResellerID, SubscriberID: m.SubscriberID, AmountCents: m.AmountCents, Kind: m.Kind, Note: m.Note,
		IdempotencyKey: m.IdempotencyKey, Ref: m.Ref, Actor: m.Actor,
	}
	r, sub := ownerArgs(o)
	if err := tx.QueryRow(ctx, moveWalletSQL, r, sub, m.AmountCents).Scan(&e.WalletID, &e.BalanceAfterCents); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.LedgerEntry{}, noWallet(err, o)
		}
		if pg.IsCheck(err, walletBalanceCheck) {
			tx.Rollback(ctx)
			return s.refused(ctx, m, err)
		}
		return billing.LedgerEntry{}, fmt.Errorf("update wallet: %w", err)
	}
	err = tx.QueryRow(ctx, insertEntrySQL, e.WalletID, m.AmountCents, e.BalanceAfterCents, string(m.Kind),
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
	orig, err := findEntryByKey(ctx, s.db, m.Owner(), m.IdempotencyKey)
	if err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("find key after a conflict: %w", err)
	}
	return billing.CheckReplay(*orig, m)
}

// walletColumns are the columns of a wallet "w".
const walletColumns = `w.id, coalesce(w.reseller_id, 0), coalesce(w.subscriber_id, 0), w.balance_cents,
       w.credit_limit_cents, w.updated_at`

func scanWallet(row pgx.Row, w *billing.Wallet, more ...any) error {
	return row.Scan(append([]any{&w.ID, &w.ResellerID, &w.SubscriberID, &w.BalanceCents, &w.CreditLimitCents, &w.UpdatedAt}, more...)...)
}

const walletWithNameSQL = `
SELECT ` + walletColumns + `, coalesce(r.name, s.username)
FROM wallets w
LEFT JOIN resellers r ON r.id = w.reseller_id
LEFT JOIN subscribers s ON s.id = w.subscriber_id
WHERE ` + walletOfOwner

// refused builds the EQUOTA error of a debit the CHECK refused, after the rollback. A
// request with the same key may have committed meanwhile; then m is its retry.
func (s *Store) refused(ctx context.Context, m billing.Movement, cause error) (billing.LedgerEntry, error) {
	switch orig, err := findEntryByKey(ctx, s.db, m.Owner(), m.IdempotencyKey); {
	case err == nil:
		return billing.CheckReplay(*orig, m)
	case !errors.Is(err, pgx.ErrNoRows):
		return billing.LedgerEntry{}, fmt.Errorf("find key after %w: %w", cause, err)
	}
	var name string
	var w billing.Wallet
	r, sub := ownerArgs(m.Owner())
	if err := scanWallet(s.db.QueryRow(ctx, walletWithNameSQL, r, sub), &w, &name); err != nil {
		return billing.LedgerEntry{}, fmt.Errorf("read wallet after %w: %w", cause, err)
	}
	qe := billing.QuotaError(name, w, m.AmountCents)
	qe.Err = cause
	return billing.LedgerEntry{}, qe
}

const findWalletSQL = `SELECT ` + walletColumns + ` FROM wallets w WHERE ` + walletOfOwner

// FindWallet returns the wallet of o. ENOTFOUND.
func (s *Store) FindWallet(ctx context.Context, o billing.Owner) (*billing.Wallet, error) {
	var w billing.Wallet
	r, sub := ownerArgs(o)
	if err := scanWallet(s.db.QueryRow(ctx, findWalletSQL, r, sub), &w); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = noWallet(err, o)
		}
		return nil, fmt.Errorf("postgres: find wallet of %s: %w", o, err)
	}
	return &w, nil
}

const findLedgerEntriesSQL = `
SELECT ` + entryColumns + `
FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id
WHERE l.wallet_id = (SELECT w.id FROM wallets w WHERE ` + walletOfOwner + `)
ORDER BY l.id DESC
LIMIT $3`

// FindLedgerEntries returns the latest limit entries of o's wallet, newest first. Within
// one wallet, id order is balance order: entries are numbered under the wallet's row
// lock.
func (s *Store) FindLedgerEntries(ctx context.Context, o billing.Owner, limit int) ([]billing.LedgerEntry, error) {
	r, sub := ownerArgs(o)
	list, err := s.entries(ctx, findLedgerEntriesSQL, r, sub, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: ledger of %s: %w", o, err)
	}
	return list, nil
}

// entries runs a query of entryColumns.
func (s *Store) entries(ctx context.Context, sql string, args ...any) ([]billing.LedgerEntry, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []billing.LedgerEntry
	for rows.Next() {
		var e billing.LedgerEntry
		if err := scanEntry(rows, &e); err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	return list, rows.Err()
}

// findLedgerEntriesBetweenSQL lists a wallet's entries in [$3, $4), oldest first; the
// opening balance is the balance after the last entry before $3.
const (
	findLedgerEntriesBetweenSQL = `
SELECT ` + entryColumns + `
FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id
WHERE ` + walletOfOwner + ` AND l.at >= $3 AND l.at < $4
ORDER BY l.id
LIMIT $5`

	openingBalanceSQL = `
SELECT coalesce((
    SELECT l.balance_after_cents
    FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id
    WHERE ` + walletOfOwner + ` AND l.at < $3
    ORDER BY l.id DESC
    LIMIT 1), 0)`
)

// FindLedgerEntriesBetween returns the entries of o's wallet in [from, to), oldest
// first (at most limit), and the balance before the first of them: a statement.
func (s *Store) FindLedgerEntriesBetween(ctx context.Context, o billing.Owner, from, to time.Time, limit int) (int64, []billing.LedgerEntry, error) {
	r, sub := ownerArgs(o)
	var opening int64
	if err := s.db.QueryRow(ctx, openingBalanceSQL, r, sub, from).Scan(&opening); err != nil {
		return 0, nil, fmt.Errorf("postgres: statement of %s: %w", o, err)
	}
	list, err := s.entries(ctx, findLedgerEntriesBetweenSQL, r, sub, from, to, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("postgres: statement of %s: %w", o, err)
	}
	return opening, list, nil
}
