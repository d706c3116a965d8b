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

var _ billing.ResellerStore = (*Store)(nil)

// resellerChecks names the field (as the CLI flag) that a CHECK constraint of resellers guards.
var resellerChecks = map[string]string{
	"resellers_name_check":               "name",
	"resellers_email_check":              "email",
	"resellers_credit_limit_cents_check": "credit-limit",
	"resellers_status_check":             "status",
}

// resellerColumns are the columns of a reseller "r" joined with its wallet "w".
const resellerColumns = `r.id, r.name, r.email, r.credit_limit_cents, r.status, w.balance_cents, r.created_at`

// scanReseller scans resellerColumns into r.
func scanReseller(row pgx.Row, r *billing.Reseller) error {
	var status string
	if err := row.Scan(&r.ID, &r.Name, &r.Email, &r.CreditLimitCents, &status, &r.BalanceCents, &r.CreatedAt); err != nil {
		return err
	}
	r.Status = billing.ResellerStatus(status)
	return nil
}

// createResellerSQL inserts the reseller and its wallet in one statement: both or neither.
const createResellerSQL = `
WITH r AS (
    INSERT INTO resellers (name, email, credit_limit_cents)
    VALUES ($1, $2, $3)
    RETURNING id, name, email, credit_limit_cents, status, created_at
), w AS (
    INSERT INTO wallets (reseller_id, credit_limit_cents)
    SELECT id, credit_limit_cents FROM r
    RETURNING reseller_id, balance_cents
)
SELECT ` + resellerColumns + ` FROM r JOIN w ON w.reseller_id = r.id`

// CreateReseller inserts r, active, with a wallet at balance 0 and r's credit limit, and
// sets every field to what was stored. ECONFLICT when the name is taken, EINVALID.
func (s *Store) CreateReseller(ctx context.Context, r *billing.Reseller) error {
	err := scanReseller(s.db.QueryRow(ctx, createResellerSQL, r.Name, r.Email, r.CreditLimitCents), r)
	if err != nil {
		if pg.IsUnique(err, "") {
			err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("name: a reseller named %q exists", r.Name))
		} else if cerr := pg.CheckField(err, resellerChecks); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("postgres: create reseller %q: %w", r.Name, err)
	}
	return nil
}

const findResellerByNameSQL = `
SELECT ` + resellerColumns + `
FROM resellers r JOIN wallets w ON w.reseller_id = r.id
WHERE r.name = $1`

// FindResellerByName returns the reseller called name with its balance. ENOTFOUND.
func (s *Store) FindResellerByName(ctx context.Context, name string) (*billing.Reseller, error) {
	var r billing.Reseller
	if err := scanReseller(s.db.QueryRow(ctx, findResellerByNameSQL, name), &r); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("reseller: no reseller named %q", name))
		}
		return nil, fmt.Errorf("postgres: find reseller %q: %w", name, err)
	}
	return &r, nil
}

const listResellersSQL = `
SELECT ` + resellerColumns + `
FROM resellers r JOIN wallets w ON w.reseller_id = r.id
ORDER BY r.name`

// ListResellers returns every reseller with its balance, by name.
func (s *Store) ListResellers(ctx context.Context) ([]billing.Reseller, error) {
	rows, err := s.db.Query(ctx, listResellersSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list resellers: %w", err)
	}
	defer rows.Close()
	var list []billing.Reseller
	for rows.Next() {
		var r billing.Reseller
		if err := scanReseller(rows, &r); err != nil {
			return nil, fmt.Errorf("postgres: list resellers: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list resellers: %w", err)
	}
	return list, nil
}

// updateResellerSQL changes the reseller; a new credit limit reaches the wallet's copy
// through the foreign key's ON UPDATE CASCADE, where the wallet's CHECK refuses a limit
// below its debt.
const updateResellerSQL = `
WITH r AS (
    UPDATE resellers SET
        email = coalesce($2, email),
        credit_limit_cents = coalesce($3, credit_limit_cents),
        status = coalesce($4, status)
    WHERE name = $1
    RETURNING id, name, email, credit_limit_cents, status, created_at
)
SELECT r.id, r.name, r.email, r.credit_limit_cents, r.status, w.balance_cents, r.created_at
FROM r JOIN wallets w ON w.reseller_id = r.id`

// UpdateReseller writes the fields upd sets to the reseller called name. ENOTFOUND,
// EINVALID naming the field (a credit limit below the wallet's debt).
func (s *Store) UpdateReseller(ctx context.Context, name string, upd billing.ResellerUpdate) (*billing.Reseller, error) {
	var status *string
	if upd.Status != nil {
		st := string(*upd.Status)
		status = &st
	}
	var r billing.Reseller
	err := scanReseller(s.db.QueryRow(ctx, updateResellerSQL, name, upd.Email, upd.CreditLimitCents, status), &r)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "reseller: no reseller named %q", name)
	case pg.IsCheck(err, "wallets_balance_within_credit_limit"):
		return nil, pg.Translate(err, radius.EINVALID, "credit-limit: the wallet owes more than that; a limit must cover its debt")
	case err != nil:
		if cerr := pg.CheckField(err, resellerChecks); cerr != nil {
			err = cerr
		}
		return nil, fmt.Errorf("postgres: update reseller %q: %w", name, err)
	}
	return &r, nil
}
