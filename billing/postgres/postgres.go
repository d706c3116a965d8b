// Package postgres stores billing's plans and subscribers in Postgres with pgx. Every
// query is a constant next to the method that scans it; every method runs on a DBTX, so
// a caller can pass a pool or a transaction it already holds.
package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tollgate/billing"
	"tollgate/radius"
)

// DBTX is what a Store needs: the shared methods of *pgxpool.Pool, *pgx.Conn and pgx.Tx.
// On a pgx.Tx, Begin opens a savepoint, so multi-statement methods stay atomic inside
// the caller's transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store is billing's Postgres store.
type Store struct {
	db DBTX
}

var _ billing.Store = (*Store)(nil)

// NewStore returns a Store that runs on db, a pool or a transaction.
func NewStore(db DBTX) *Store { return &Store{db: db} }

// Postgres error codes this package translates.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	checkViolation      = "23514"
)

// checkFields names the field (as the CLI flag) that a CHECK constraint guards, for the
// rare value that passes billing's validation but not the schema.
var checkFields = map[string]string{
	"plans_name_check":                 "name",
	"plans_kind_check":                 "kind",
	"plans_price_cents_check":          "price",
	"plans_validity_seconds_check":     "validity",
	"plans_uptime_limit_seconds_check": "uptime-limit",
	"plans_data_limit_bytes_check":     "data-limit",
	"plans_shared_users_check":         "shared-users",
	"plans_interim_seconds_check":      "interim",
	"plans_reseller_price_cents_check": "reseller-price",
	"plans_validity_from_check":        "validity-from",
	"subscribers_username_check":       "username",
	"subscribers_status_check":         "status",
	"subscribers_mac_check":            "mac",
}

// pgError returns err as a *pgconn.PgError when it is one.
func pgError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	ok := errors.As(err, &pe)
	return pe, ok
}

// coded returns a radius.Error with the code and message that wraps the driver's cause.
func coded(code, msg string, cause error) error {
	return &radius.Error{Code: code, Message: msg, Err: cause}
}

// checkError translates a CHECK violation into EINVALID naming the field, or returns nil.
func checkError(err error) error {
	pe, ok := pgError(err)
	if !ok || pe.Code != checkViolation {
		return nil
	}
	field, ok := checkFields[pe.ConstraintName]
	if !ok {
		field = pe.ColumnName
	}
	if field == "" {
		field = pe.ConstraintName
	}
	return coded(radius.EINVALID, field+": value not allowed", err)
}

// duplicateKey returns the value in a unique violation's detail,
// `Key (username)=(alice) already exists.`, or "".
func duplicateKey(detail string) string {
	_, v, ok := strings.Cut(detail, ")=(")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, ") already exists")
	return v
}

// nullTime maps a zero time to SQL NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullString maps "" to SQL NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// timeOrZero maps SQL NULL back to a zero time.
func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
