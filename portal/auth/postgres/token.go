package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var _ auth.TokenStore = (*Store)(nil)

const tokenColumns = `id, name, lookup, hash, scope, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (*auth.Token, error) {
	var t auth.Token
	var scope string
	var expires, used, revoked *time.Time
	if err := row.Scan(&t.ID, &t.Name, &t.Lookup, &t.Hash, &scope, &t.CreatedBy, &t.CreatedAt, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	t.Scope = auth.Scope(scope)
	for _, f := range []struct {
		src *time.Time
		dst *time.Time
	}{{expires, &t.ExpiresAt}, {used, &t.LastUsedAt}, {revoked, &t.RevokedAt}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return &t, nil
}

const createTokenSQL = `
INSERT INTO api_tokens (name, lookup, hash, scope, created_by, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now()))
RETURNING id, created_at`

// CreateToken stores t and sets its ID, and CreatedAt unless set (the service's clock).
// ECONFLICT when a live token has the name, EINVALID for a value the schema refuses.
func (s *Store) CreateToken(ctx context.Context, t *auth.Token) error {
	var expires, created *time.Time
	if !t.ExpiresAt.IsZero() {
		expires = &t.ExpiresAt
	}
	if !t.CreatedAt.IsZero() {
		created = &t.CreatedAt
	}
	err := s.db.QueryRow(ctx, createTokenSQL, t.Name, t.Lookup, t.Hash, string(t.Scope), t.CreatedBy, expires, created).Scan(&t.ID, &t.CreatedAt)
	switch {
	case pg.IsUnique(err, "api_tokens_live_name"):
		return pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("name: a live token is called %q (revoke it first, or pick another name)", t.Name))
	case pg.CheckField(err, nil) != nil:
		return pg.CheckField(err, nil)
	case err != nil:
		return fmt.Errorf("postgres: create token %q: %w", t.Name, err)
	}
	return nil
}

const findTokenByLookupSQL = `SELECT ` + tokenColumns + ` FROM api_tokens WHERE lookup = $1`

// FindTokenByLookup returns the token with the lookup part. ENOTFOUND.
func (s *Store) FindTokenByLookup(ctx context.Context, lookup string) (*auth.Token, error) {
	t, err := scanToken(s.db.QueryRow(ctx, findTokenByLookupSQL, lookup))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "no such token")
	case err != nil:
		return nil, fmt.Errorf("postgres: find token: %w", err)
	}
	return t, nil
}

const findTokensSQL = `SELECT ` + tokenColumns + ` FROM api_tokens ORDER BY revoked_at IS NOT NULL, id DESC`

// FindTokens lists every token, live ones first, newest first.
func (s *Store) FindTokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := s.db.Query(ctx, findTokensSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", err)
	}
	defer rows.Close()
	var out []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", err)
	}
	return out, nil
}

const revokeTokenSQL = `
UPDATE api_tokens SET revoked_at = $2
WHERE name = $1 AND revoked_at IS NULL
RETURNING ` + tokenColumns

// RevokeToken revokes the live token called name at at and returns it. ENOTFOUND.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) (*auth.Token, error) {
	t, err := scanToken(s.db.QueryRow(ctx, revokeTokenSQL, name, at))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "name: no live token called %q", name)
	case err != nil:
		return nil, fmt.Errorf("postgres: revoke token %q: %w", name, err)
	}
	return t, nil
}

const touchTokenSQL = `
UPDATE api_tokens SET last_used_at = $2
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`

// TouchToken sets last_used_at of token id to at unless it was set within the minute
// before: a busy token costs one write a minute, not one a request.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.db.Exec(ctx, touchTokenSQL, id, at); err != nil {
		return fmt.Errorf("postgres: touch token %d: %w", id, err)
	}
	return nil
}
