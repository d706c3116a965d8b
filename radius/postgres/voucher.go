package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/radius"
)

var _ radius.Activator = (*Store)(nil)

// activateVoucherSQL activates a voucher in one statement. When two routers race, the
// second UPDATE waits for the first one's row lock, then re-checks its WHERE on the
// committed row, finds activated_at set and changes nothing: exactly one wins.
const activateVoucherSQL = `
UPDATE vouchers v
SET state        = 'active',
    activated_at = $3::timestamptz,
    valid_until  = CASE WHEN p.validity_from = 'first_login' AND p.validity_seconds > 0
                        THEN $3::timestamptz + p.validity_seconds * interval '1 second'
                        ELSE v.valid_until END,
    mac          = CASE WHEN p.lock_mac AND $2::text <> '' THEN $2::text ELSE v.mac END,
    updated_at   = $3::timestamptz
FROM plans p
WHERE v.id = $1 AND p.id = v.plan_id AND v.activated_at IS NULL AND v.state IN ('new', 'sold')
RETURNING v.state, v.activated_at, v.valid_until, v.mac`

const voucherActivationSQL = `SELECT state, activated_at, valid_until, mac FROM vouchers WHERE id = $1`

// ActivateVoucher activates voucher id at now (see radius.Activator): validity starts now
// when its plan counts from the first login, and mac is bound when the plan locks the
// MAC. When the voucher was already activated (another router won the race) or can no
// longer be (revoked), it returns the voucher's values as stored, with won=false.
// ENOTFOUND.
func (s *Store) ActivateVoucher(ctx context.Context, id int64, mac string, now time.Time) (radius.Activation, bool, error) {
	act, err := scanActivation(s.db.QueryRow(ctx, activateVoucherSQL, id, mac, now))
	if err == nil {
		return act, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return act, false, fmt.Errorf("postgres: activate voucher %d: %w", id, err)
	}
	act, err = scanActivation(s.db.QueryRow(ctx, voucherActivationSQL, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return act, false, radius.Errorf(radius.ENOTFOUND, "voucher %d not found", id)
	case err != nil:
		return act, false, fmt.Errorf("postgres: read voucher %d: %w", id, err)
	}
	return act, false, nil
}

func scanActivation(row pgx.Row) (radius.Activation, error) {
	var (
		a         radius.Activation
		state     string
		at, until pgtype.Timestamptz
		mac       pgtype.Text
	)
	if err := row.Scan(&state, &at, &until, &mac); err != nil {
		return radius.Activation{}, err
	}
	a.State = radius.VoucherState(state)
	if at.Valid {
		a.ActivatedAt = at.Time
	}
	a.ValidUntil = boundTime(until, pgtype.Infinity)
	a.MAC = mac.String
	return a, nil
}
