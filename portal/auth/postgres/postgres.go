// Package postgres is the Postgres adapter of the portal's account domain: portal_users,
// the subscribers' one-time links (subscriber_links) and the append-only audit_log. Every query is a constant next to the method that scans
// it, and methods run on a pg.DBTX, so one operation can span several stores in a single
// transaction.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
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

// resellerCheck is the CHECK that a reseller account has a reseller: it fails when the
// name given matched none.
const resellerCheck = "portal_users_reseller"

const userColumns = `u.id, coalesce(u.email, ''), u.password_hash, u.role, coalesce(u.reseller_id, 0), coalesce(r.name, ''),
       u.totp_secret, u.totp_required, u.failed_logins, u.locked_until, u.disabled_at, u.session_gen, u.created_at,
       coalesce(u.subscriber_id, 0), coalesce(sub.username, '')`

// userFrom is the FROM clause of userColumns: the reseller's name and the subscriber's
// username are read through the foreign keys.
const userFrom = ` FROM portal_users u LEFT JOIN resellers r ON r.id = u.reseller_id LEFT JOIN subscribers sub ON sub.id = u.subscriber_id`

// scanUser reads userColumns, and into extra the columns that follow them.
func scanUser(row pgx.Row, extra ...any) (*auth.User, error) {
	var u auth.User
	var role string
	var locked, disabled *time.Time
	if err := row.Scan(append([]any{&u.ID, &u.Email, &u.PasswordHash, &role, &u.ResellerID, &u.ResellerName, &u.TOTPSecret, &u.TOTPRequired,
		&u.FailedLogins, &locked, &disabled, &u.SessionGen, &u.CreatedAt, &u.SubscriberID, &u.Username}, extra...)...); err != nil {
		return nil, err
	}
	u.Role = auth.Role(role)
	if locked != nil {
		u.LockedUntil = *locked
	}
	if disabled != nil {
		u.DisabledAt = *disabled
	}
	return &u, nil
}

// unknownReseller is the error of a reseller name that names no reseller.
func unknownReseller(name string) error {
	return radius.Errorf(radius.EINVALID, "reseller: no reseller named %q (add it first: tollgate reseller add --name %q)", name, name)
}

// isResellerCheck reports whether err is the CHECK that refused a reseller account
// without a reseller.
func isResellerCheck(err error) bool { return pg.IsCheck(err, resellerCheck) }

// The reseller's id comes from its name in the same statement; an unknown name leaves it
// NULL and the CHECK refuses the row.
const createUserSQL = `
INSERT INTO portal_users (email, password_hash, role, reseller_id, totp_required)
VALUES ($1, $2, $3, (SELECT id FROM resellers WHERE name = nullif($4, '')), $5)
RETURNING id, coalesce(reseller_id, 0), session_gen, created_at`

// CreateUser stores u and sets u.ID, u.ResellerID, u.SessionGen and u.CreatedAt.
// ECONFLICT when the email is taken, EINVALID when u.ResellerName names no reseller.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	err := s.db.QueryRow(ctx, createUserSQL, u.Email, u.PasswordHash, string(u.Role), u.ResellerName, u.TOTPRequired).Scan(&u.ID, &u.ResellerID, &u.SessionGen, &u.CreatedAt)
	switch {
	case pg.IsUnique(err, ""):
		return radius.Errorf(radius.ECONFLICT, "email: %s already has an account", u.Email)
	case isResellerCheck(err) && u.ResellerName != "":
		return unknownReseller(u.ResellerName)
	case err != nil:
		return fmt.Errorf("postgres: create portal user %q: %w", u.Email, err)
	}
	return nil
}

const findUserByEmailSQL = `SELECT ` + userColumns + userFrom + ` WHERE u.email = $1`

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

const findUserByIDSQL = `SELECT ` + userColumns + userFrom + ` WHERE u.id = $1`

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

// findUserByLoginSQL ranks the accounts a sign-in name may mean: a staff email (0), a
// subscriber's username (1), a subscriber's email (2). The first two are unique; two
// rows of rank 2 mean an email that several subscriber accounts share.
const findUserByLoginSQL = `
SELECT ` + userColumns + `,
       CASE WHEN u.email = $2 THEN 0 WHEN sub.username = $1 THEN 1 ELSE 2 END AS rank
` + userFrom + `
WHERE u.email = $2 OR sub.username = $1 OR sub.email = $2
ORDER BY rank
LIMIT 2`

// FindUserByLogin returns the account login names: a staff email, a subscriber's
// username, or the email of exactly one subscriber account. ENOTFOUND.
func (s *Store) FindUserByLogin(ctx context.Context, login string) (*auth.User, error) {
	rows, err := s.db.Query(ctx, findUserByLoginSQL, login, strings.ToLower(login))
	if err != nil {
		return nil, fmt.Errorf("postgres: find portal user by login: %w", err)
	}
	defer rows.Close()
	var (
		found []*auth.User
		ranks []int
	)
	for rows.Next() {
		var rank int
		u, err := scanUser(rows, &rank)
		if err != nil {
			return nil, fmt.Errorf("postgres: find portal user by login: %w", err)
		}
		found, ranks = append(found, u), append(ranks, rank)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find portal user by login: %w", err)
	}
	if len(found) == 0 || len(found) == 2 && ranks[0] == ranks[1] {
		return nil, radius.Errorf(radius.ENOTFOUND, "no portal user %q", login)
	}
	return found[0], nil
}

const setSubscriberPasswordSQL = `
INSERT INTO portal_users (role, subscriber_id, password_hash)
VALUES ('subscriber', $1, $2)
ON CONFLICT (subscriber_id) DO UPDATE SET
    password_hash = EXCLUDED.password_hash,
    failed_logins = 0,
    locked_until  = NULL,
    session_gen   = portal_users.session_gen + 1
RETURNING id`

// SetSubscriberPassword gives the subscriber a portal account with the hash phc, or
// replaces its hash, clears its failures and lock and bumps its session generation.
// ENOTFOUND when there is no such subscriber.
func (s *Store) SetSubscriberPassword(ctx context.Context, subscriberID int64, phc string) (*auth.User, error) {
	var id int64
	err := s.db.QueryRow(ctx, setSubscriberPasswordSQL, subscriberID, phc).Scan(&id)
	switch {
	case pg.IsForeignKey(err, ""):
		return nil, radius.Errorf(radius.ENOTFOUND, "no subscriber %d", subscriberID)
	case err != nil:
		return nil, fmt.Errorf("postgres: set portal password of subscriber %d: %w", subscriberID, err)
	}
	return s.FindUserByID(ctx, id)
}

func notFound(id int64) error { return radius.Errorf(radius.ENOTFOUND, "no portal user %d", id) }

const findUsersSQL = `SELECT ` + userColumns + userFrom + ` WHERE u.role <> 'subscriber' ORDER BY u.email`

// FindUsers lists every staff user, by email.
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

// One statement, so two concurrent failures both count; a later lock already set is
// kept.
const recordLoginFailureSQL = `
UPDATE portal_users SET
    failed_logins = failed_logins + 1,
    locked_until  = CASE WHEN $2::timestamptz IS NULL THEN locked_until
                         ELSE greatest(locked_until, $2::timestamptz) END
WHERE id = $1`

// RecordLoginFailure adds one failed sign-in and, when lockUntil is not zero, sets the
// account-wide lock to it (keeping a later one). ENOTFOUND.
func (s *Store) RecordLoginFailure(ctx context.Context, id int64, lockUntil time.Time) error {
	var until *time.Time
	if !lockUntil.IsZero() {
		until = &lockUntil
	}
	return s.exec(ctx, "record login failure", id, recordLoginFailureSQL, until)
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

const resetLoginFailuresSQL = `
UPDATE portal_users SET
    failed_logins = 0,
    locked_until  = CASE WHEN locked_until <= $2 THEN NULL ELSE locked_until END
WHERE id = $1`

// ResetLoginFailures clears the failure count, and the lock when it ends at or before
// lockedBefore. ENOTFOUND.
func (s *Store) ResetLoginFailures(ctx context.Context, id int64, lockedBefore time.Time) error {
	return s.exec(ctx, "reset login failures", id, resetLoginFailuresSQL, lockedBefore)
}

const setTOTPSecretSQL = `UPDATE portal_users SET totp_secret = $2, session_gen = session_gen + 1 WHERE id = $1`

// SetTOTPSecret stores the sealed secret (nil removes it) and bumps the session
// generation. ENOTFOUND.
func (s *Store) SetTOTPSecret(ctx context.Context, id int64, sealed []byte) error {
	return s.exec(ctx, "set TOTP secret", id, setTOTPSecretSQL, sealed)
}

const setTOTPRequiredSQL = `UPDATE portal_users SET totp_required = $2, session_gen = session_gen + 1 WHERE id = $1`

// SetTOTPRequired sets whether the user must use a second factor and bumps the session
// generation. ENOTFOUND.
func (s *Store) SetTOTPRequired(ctx context.Context, id int64, required bool) error {
	return s.exec(ctx, "set TOTP required", id, setTOTPRequiredSQL, required)
}

const setDisabledSQL = `UPDATE portal_users SET disabled_at = $2, session_gen = session_gen + 1 WHERE id = $1`

// SetDisabled disables the account at at (enables it when at is zero) and bumps the
// session generation. ENOTFOUND.
func (s *Store) SetDisabled(ctx context.Context, id int64, at time.Time) error {
	var when *time.Time
	if !at.IsZero() {
		when = &at
	}
	return s.exec(ctx, "set disabled", id, setDisabledSQL, when)
}

const setRoleSQL = `
UPDATE portal_users SET
    role        = $2,
    reseller_id = (SELECT id FROM resellers WHERE name = nullif($3, '')),
    session_gen = session_gen + 1
WHERE id = $1`

// SetRole makes the user role, selling for the reseller named resellerName ("" for an
// admin), and bumps the session generation. ENOTFOUND, EINVALID for an unknown reseller.
func (s *Store) SetRole(ctx context.Context, id int64, role auth.Role, resellerName string) error {
	err := s.exec(ctx, "set role", id, setRoleSQL, string(role), resellerName)
	if isResellerCheck(err) && resellerName != "" {
		return unknownReseller(resellerName)
	}
	return err
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
