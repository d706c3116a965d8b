// Package postgres is the Postgres adapter of the portal's account domain: portal_users
// and the append-only audit_log. Every query is a constant next to the method that scans
// it, and methods run on a pg.DBTX, so one operation can span several stores in a single
// transaction.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// Store reads and writes portal_users and audit_log.
type Store struct {
	db pg.DBTX
}

var (
	_ auth.UserStore = (*Store)(nil)
	_ auth.AuditLog  = (*Store)(nil)
)

// New returns a Store on a pool or a transaction.
func New(db pg.DBTX) *Store { return &Store{db: db} }

const userColumns = `id, email, password_hash, role, coalesce(reseller_name, ''), totp_secret, totp_required, failed_logins, locked_until, created_at`

func scanUser(row pgx.Row) (*auth.User, error) {
	var u auth.User
	var role string
	var locked *time.Time
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &u.ResellerName, &u.TOTPSecret, &u.TOTPRequired, &u.FailedLogins, &locked, &u.CreatedAt); err != nil {
		return nil, err
	}
	u.Role = auth.Role(role)
	if locked != nil {
		u.LockedUntil = *locked
	}
	return &u, nil
}

const createUserSQL = `
INSERT INTO portal_users (email, password_hash, role, reseller_name, totp_required)
VALUES ($1, $2, $3, nullif($4, ''), $5)
RETURNING id, created_at`

// CreateUser stores u and sets u.ID and u.CreatedAt. ECONFLICT when the email is taken.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	err := s.db.QueryRow(ctx, createUserSQL, u.Email, u.PasswordHash, string(u.Role), u.ResellerName, u.TOTPRequired).Scan(&u.ID, &u.CreatedAt)
	switch {
	case pg.IsUnique(err, ""):
		return radius.Errorf(radius.ECONFLICT, "email: %s already has an account", u.Email)
	case err != nil:
		return fmt.Errorf("postgres: create portal user %q: %w", u.Email, err)
	}
	return nil
}

const findUserByEmailSQL = `SELECT ` + userColumns + ` FROM portal_users WHERE email = $1`

// FindUserByEmail returns the user with the lower-cased email. ENOTFOUND.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, findUserByEmailSQL, email))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "no portal user %q", email)
	case err != nil:
		return nil, fmt.Errorf("postgres: find portal user %q: %w", email, err)
	}
	return u, nil
}

const findUserByIDSQL = `SELECT ` + userColumns + ` FROM portal_users WHERE id = $1`

// FindUserByID returns the user. ENOTFOUND.
func (s *Store) FindUserByID(ctx context.Context, id int64) (*auth.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, findUserByIDSQL, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, notFound(id)
	case err != nil:
		return nil, fmt.Errorf("postgres: find portal user %d: %w", id, err)
	}
	return u, nil
}

func notFound(id int64) error { return radius.Errorf(radius.ENOTFOUND, "no portal user %d", id) }

const findUsersSQL = `SELECT ` + userColumns + ` FROM portal_users ORDER BY email`

// FindUsers lists every user, by email.
func (s *Store) FindUsers(ctx context.Context) ([]*auth.User, error) {
	rows, err := s.db.Query(ctx, findUsersSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list portal users: %w", err)
	}
	defer rows.Close()
	var out []*auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list portal users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list portal users: %w", err)
	}
	return out, nil
}

// One statement, so two concurrent failures cannot both miss the max-th.
const recordLoginFailureSQL = `
UPDATE portal_users SET
    failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
    locked_until  = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
WHERE id = $1
RETURNING locked_until`

// RecordLoginFailure adds one failed sign-in; the max-th consecutive one sets
// locked_until to until and restarts the count. It returns the lock. ENOTFOUND.
func (s *Store) RecordLoginFailure(ctx context.Context, id int64, max int, until time.Time) (time.Time, error) {
	var locked *time.Time
	err := s.db.QueryRow(ctx, recordLoginFailureSQL, id, max, until).Scan(&locked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, notFound(id)
	case err != nil:
		return time.Time{}, fmt.Errorf("postgres: record login failure of %d: %w", id, err)
	case locked == nil:
		return time.Time{}, nil
	}
	return *locked, nil
}

// exec runs a one-row UPDATE of user id; no row is ENOTFOUND.
func (s *Store) exec(ctx context.Context, what string, id int64, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("postgres: %s of portal user %d: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(id)
	}
	return nil
}

const resetLoginFailuresSQL = `UPDATE portal_users SET failed_logins = 0, locked_until = NULL WHERE id = $1`

// ResetLoginFailures clears the failure count and the lock. ENOTFOUND.
func (s *Store) ResetLoginFailures(ctx context.Context, id int64) error {
	return s.exec(ctx, "reset login failures", id, resetLoginFailuresSQL)
}

const setTOTPSecretSQL = `UPDATE portal_users SET totp_secret = $2 WHERE id = $1`

// SetTOTPSecret stores the sealed secret (nil removes it). ENOTFOUND.
func (s *Store) SetTOTPSecret(ctx context.Context, id int64, sealed []byte) error {
	return s.exec(ctx, "set TOTP secret", id, setTOTPSecretSQL, sealed)
}

const setTOTPRequiredSQL = `UPDATE portal_users SET totp_required = $2 WHERE id = $1`

// SetTOTPRequired sets whether the user must use a second factor. ENOTFOUND.
func (s *Store) SetTOTPRequired(ctx context.Context, id int64, required bool) error {
	return s.exec(ctx, "set TOTP required", id, setTOTPRequiredSQL, required)
}

const auditSQL = `INSERT INTO audit_log (actor, action, target, detail, ip) VALUES ($1, $2, $3, $4, $5)`

// Audit appends e to the audit log. An IP that does not parse is stored as NULL.
func (s *Store) Audit(ctx context.Context, e auth.AuditEntry) error {
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return fmt.Errorf("postgres: audit %s: detail: %w", e.Action, err)
		}
	}
	var ip *netip.Addr
	if a, err := netip.ParseAddr(e.IP); err == nil {
		ip = &a
	}
	if _, err := s.db.Exec(ctx, auditSQL, e.Actor, e.Action, e.Target, string(detail), ip); err != nil {
		return fmt.Errorf("postgres: audit %s: %w", e.Action, err)
	}
	return nil
}
