package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/radius"
)

// The two lookups differ only in their WHERE clause; each is a constant, so pgx keeps
// one prepared statement per connection for it.
const (
	accountColumns = `
SELECT s.id, s.username, s.password, s.status, s.mac, s.static_ip, s.valid_from, s.valid_until,
       p.id, p.name, p.kind, p.rate_limit, p.uptime_limit_seconds, p.data_limit_bytes,
       p.shared_users, p.interim_seconds, p.pool, p.address_list
FROM subscribers s
JOIN plans p ON p.id = s.plan_id`

	findAccountByUsernameSQL = accountColumns + `
WHERE s.username = $1`

	findAccountByMACSQL = accountColumns + `
WHERE s.mac = $1`
)

// FindAccountByUsername returns the account with its sealed password. ENOTFOUND.
func (s *Store) FindAccountByUsername(ctx context.Context, username string) (*radius.Account, error) {
	return s.findAccount(ctx, findAccountByUsernameSQL, username)
}

// FindAccountByMAC returns the account bound to mac (normalized), with its sealed
// password. ENOTFOUND.
func (s *Store) FindAccountByMAC(ctx context.Context, mac string) (*radius.Account, error) {
	return s.findAccount(ctx, findAccountByMACSQL, mac)
}

func (s *Store) findAccount(ctx context.Context, sql, arg string) (*radius.Account, error) {
	var (
		a                     radius.Account
		status, kind          string
		mac                   pgtype.Text
		staticIP              netip.Prefix // inet may carry a netmask; the address is what counts
		validFrom, validUntil pgtype.Timestamptz
		uptime                int64
		interim               int32
	)
	err := s.db.QueryRow(ctx, sql, arg).Scan(
		&a.ID, &a.Username, &a.Password, &status, &mac, &staticIP, &validFrom, &validUntil,
		&a.PlanID, &a.PlanName, &kind, &a.RateLimit, &uptime, &a.DataLimit,
		&a.SharedUsers, &interim, &a.Pool, &a.AddressList,
	)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "user %q not found", arg)
	case err != nil:
		return nil, fmt.Errorf("postgres: find account %q: %w", arg, err)
	}
	a.Status = radius.Status(status)
	a.Kind = radius.PlanKind(kind)
	a.MAC = mac.String // "" when NULL
	a.StaticIP = staticIP.Addr()
	a.ValidFrom = boundTime(validFrom, pgtype.NegativeInfinity)
	a.ValidUntil = boundTime(validUntil, pgtype.Infinity)
	a.UptimeLimit = time.Duration(uptime) * time.Second
	a.Interim = time.Duration(interim) * time.Second
	return &a, nil
}

// boundTime returns a validity bound: the zero time (no bound) for NULL and for the
// infinity on the open side of the window ('-infinity' from, 'infinity' until). The
// other infinity ('infinity' from, '-infinity' until) becomes a far time that still
// closes the window, so that it never reads as "no bound".
func boundTime(ts pgtype.Timestamptz, open pgtype.InfinityModifier) time.Time {
	switch {
	case !ts.Valid || ts.InfinityModifier == open:
		return time.Time{}
	case ts.InfinityModifier == pgtype.Infinity:
		return farFuture
	case ts.InfinityModifier == pgtype.NegativeInfinity:
		return farPast
	}
	return ts.Time
}

var (
	farFuture = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	farPast   = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) // just after the zero time
)
