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

// The lookups are constants, so pgx keeps one prepared statement per connection for
// each. Subscribers and vouchers share a column list: a subscriber has no voucher fields,
// a voucher no status, static IP, lower validity bound or subscription of its own. A
// subscriber's subscription (unless cancelled) and its plan's isolation plan come with
// two index lookups.
const (
	subscriberAccountSQL = `
SELECT s.id, s.username, s.password, s.status, s.mac, s.static_ip, s.valid_from, s.valid_until,
       p.id, p.name, p.kind, p.rate_limit, p.uptime_limit_seconds, p.data_limit_bytes,
       p.shared_users, p.interim_seconds, p.pool, p.address_list,
       0::bigint AS voucher_id, ''::text, NULL::timestamptz, false, p.nas_names, p.hotspot_servers,
       NULL::bytea, s.mac_login AND p.kind = 'hotspot',
       coalesce(sub.state, ''), coalesce(ip.id, 0), coalesce(ip.rate_limit, ''), coalesce(ip.pool, ''),
       coalesce(ip.address_list, ''), u.seconds, u.bytes
FROM subscribers s
JOIN plans p ON p.id = s.plan_id
LEFT JOIN subscriptions sub ON sub.subscriber_id = s.id AND sub.state <> 'cancelled'
LEFT JOIN plans ip ON ip.id = p.isolation_plan_id
CROSS JOIN LATERAL (` + usageSinceSQL + ` WHERE username = s.username AND started_at >= coalesce(s.valid_from, '-infinity')) u`

	voucherAccountSQL = `
SELECT v.id, v.username, v.password, 'active', v.mac, NULL::inet, NULL::timestamptz, v.valid_until,
       p.id, p.name, p.kind, p.rate_limit, p.uptime_limit_seconds, p.data_limit_bytes,
       p.shared_users, p.interim_seconds, p.pool, p.address_list,
       v.id, v.state, v.activated_at, p.lock_mac, p.nas_names, p.hotspot_servers,
       v.code_hash, false,
       ''::text, 0::bigint, ''::text, ''::text, ''::text, u.seconds, u.bytes
FROM vouchers v
JOIN plans p ON p.id = v.plan_id
CROSS JOIN LATERAL (` + usageSinceSQL + ` WHERE username = v.username) u`

	// A subscriber wins over a voucher of the same name, and a voucher's name over a
	// code: all three are index lookups, and voucher generation avoids subscribers'
	// names anyway. $2 is the code hash of $1 (NULL looks up no code).
	findAccountByUsernameSQL = `(` + subscriberAccountSQL + `
WHERE s.username = $1)
UNION ALL (` + voucherAccountSQL + `
WHERE v.username = $1)
UNION ALL (` + voucherAccountSQL + `
WHERE v.code_hash = $2::bytea)
ORDER BY voucher_id
LIMIT 1`

	// Only a subscriber on a hotspot plan that may log in by MAC is found by it.
	findAccountByMACSQL = subscriberAccountSQL + `
WHERE s.mac = $1 AND s.mac_login AND p.kind = 'hotspot'`
)

// FindAccountByUsername returns the subscriber called username, else the voucher whose
// name it is, else the voucher whose code hashes to codeHash (nil: none), with its sealed
// password. ENOTFOUND.
func (s *Store) FindAccountByUsername(ctx context.Context, username string, codeHash []byte) (*radius.Account, error) {
	if q := s.lookups.Load(); q != nil {
		return s.lookup(ctx, *q, username, codeHash)
	}
	return s.findAccount(ctx, findAccountByUsernameSQL, username, codeHash)
}

// FindAccountByMAC returns the subscriber on a hotspot plan bound to mac (normalized)
// that may log in by it, with its sealed password. ENOTFOUND. Vouchers are not found by
// MAC: a device may have used many, and a MAC-locked voucher re-logs in with its code
// (see radius.Account.MACRelogin).
func (s *Store) FindAccountByMAC(ctx context.Context, mac string) (*radius.Account, error) {
	return s.findAccount(ctx, findAccountByMACSQL, mac)
}

func (s *Store) findAccount(ctx context.Context, sql, arg string, args ...any) (*radius.Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, sql, append([]any{arg}, args...)...))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "user %q not found", radius.MaskCode(arg))
	case err != nil:
		return nil, fmt.Errorf("postgres: find account %q: %w", radius.MaskCode(arg), err)
	}
	return a, nil
}

// scanAccount reads an account row (subscriberAccountSQL or voucherAccountSQL's
// columns), after the destinations first, which the row's first columns fill.
func scanAccount(row pgx.Row, first ...any) (*radius.Account, error) {
	var (
		a                     radius.Account
		status, kind          string
		mac                   pgtype.Text
		staticIP              netip.Prefix // inet may carry a netmask; the address is what counts
		validFrom, validUntil pgtype.Timestamptz
		activatedAt           pgtype.Timestamptz
		uptime                int64
		interim               int32
		voucherState          string
		subscription          string
		usedSeconds           int64
		usage                 radius.Usage
	)
	err := row.Scan(append(first,
		&a.ID, &a.Username, &a.Password, &status, &mac, &staticIP, &validFrom, &validUntil,
		&a.PlanID, &a.PlanName, &kind, &a.RateLimit, &uptime, &a.DataLimit,
		&a.SharedUsers, &interim, &a.Pool, &a.AddressList,
		&a.VoucherID, &voucherState, &activatedAt, &a.LockMAC, &a.AllowedNAS, &a.AllowedServers,
		&a.CodeHash, &a.MACLogin,
		&subscription, &a.IsolationPlanID, &a.IsolationRateLimit, &a.IsolationPool, &a.IsolationAddressList,
		&usedSeconds, &usage.Bytes,
	)...)
	if err != nil {
		return nil, err
	}
	a.Status = radius.Status(status)
	a.Kind = radius.PlanKind(kind)
	a.MAC = mac.String // "" when NULL
	a.StaticIP = staticIP.Addr()
	a.ValidFrom = boundTime(validFrom, pgtype.NegativeInfinity)
	a.ValidUntil = boundTime(validUntil, pgtype.Infinity)
	a.UptimeLimit = time.Duration(uptime) * time.Second
	a.Interim = time.Duration(interim) * time.Second
	a.VoucherState = radius.VoucherState(voucherState)
	a.Subscription = radius.SubscriptionState(subscription)
	if activatedAt.Valid {
		a.ActivatedAt = activatedAt.Time
	}
	a.AllowedNAS, a.AllowedServers = nilIfEmpty(a.AllowedNAS), nilIfEmpty(a.AllowedServers)
	usage.Uptime = time.Duration(usedSeconds) * time.Second
	a.StoreUsage = &usage
	return &a, nil
}

// nilIfEmpty maps an empty list to nil, so "no restriction" has one value.
func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
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
