package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var _ auth.LinkStore = (*Store)(nil)

const linkColumns = `id, subscriber_id, purpose, token_hash, created_at, expires_at, used_at`

func scanLink(row pgx.Row) (*auth.Link, error) {
	var l auth.Link
	var purpose string
	var used *time.Time
	if err := row.Scan(&l.ID, &l.SubscriberID, &purpose, &l.Hash, &l.CreatedAt, &l.ExpiresAt, &used); err != nil {
		return nil, err
	}
	l.Purpose = auth.LinkPurpose(purpose)
	if used != nil {
		l.UsedAt = *used
	}
	return &l, nil
}

const createLinkSQL = `
INSERT INTO subscriber_links (subscriber_id, purpose, token_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING id`

// CreateLink stores l and sets l.ID. ENOTFOUND for an unknown subscriber.
func (s *Store) CreateLink(ctx context.Context, l *auth.Link) error {
	err := s.db.QueryRow(ctx, createLinkSQL, l.SubscriberID, string(l.Purpose), l.Hash, l.CreatedAt, l.ExpiresAt).Scan(&l.ID)
	switch {
	case pg.IsForeignKey(err, ""):
		return radius.Errorf(radius.ENOTFOUND, "no subscriber %d", l.SubscriberID)
	case err != nil:
		return fmt.Errorf("postgres: create link for subscriber %d: %w", l.SubscriberID, err)
	}
	return nil
}

const findLinkSQL = `SELECT ` + linkColumns + ` FROM subscriber_links WHERE token_hash = $1`

// FindLink returns the link whose token hashes to hash. ENOTFOUND.
func (s *Store) FindLink(ctx context.Context, hash []byte) (*auth.Link, error) {
	l, err := scanLink(s.db.QueryRow(ctx, findLinkSQL, hash))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "no such link")
	case err != nil:
		return nil, fmt.Errorf("postgres: find link: %w", err)
	}
	return l, nil
}

// useLinkSQL spends the link if it is still open; the row lock makes a concurrent
// second use wait, then find it used.
const useLinkSQL = `
UPDATE subscriber_links SET used_at = $2
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
RETURNING ` + linkColumns

const spendOtherLinksSQL = `UPDATE subscriber_links SET used_at = $2 WHERE subscriber_id = $1 AND used_at IS NULL`

// UseLink spends the link of hash at now and every other open link of its subscriber.
// ENOTFOUND for an unknown hash, EEXPIRED for a used or expired link.
func (s *Store) UseLink(ctx context.Context, hash []byte, now time.Time) (*auth.Link, error) {
	l, err := scanLink(s.db.QueryRow(ctx, useLinkSQL, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.FindLink(ctx, hash); err != nil {
			return nil, err
		}
		return nil, radius.Errorf(radius.EEXPIRED, "the link was used or expired")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: use link: %w", err)
	}
	if _, err := s.db.Exec(ctx, spendOtherLinksSQL, l.SubscriberID, now); err != nil {
		return nil, fmt.Errorf("postgres: spend links of subscriber %d: %w", l.SubscriberID, err)
	}
	return l, nil
}

// findSubscriberByLoginSQL: the username first; an email only when one subscriber
// has it.
const findSubscriberByLoginSQL = `
SELECT id, username, 0 AS rank FROM subscribers WHERE username = $1
UNION ALL
SELECT min(id), min(username), 1 FROM subscribers WHERE email = $2 HAVING count(*) = 1
ORDER BY rank
LIMIT 1`

// FindSubscriberByLogin returns the subscriber called login, else the one subscriber
// whose email is login. ENOTFOUND.
func (s *Store) FindSubscriberByLogin(ctx context.Context, login string) (int64, string, error) {
	var id int64
	var username string
	var rank int
	err := s.db.QueryRow(ctx, findSubscriberByLoginSQL, login, strings.ToLower(login)).Scan(&id, &username, &rank)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, "", radius.Errorf(radius.ENOTFOUND, "no subscriber %q", login)
	case err != nil:
		return 0, "", fmt.Errorf("postgres: find subscriber by login: %w", err)
	}
	return id, username, nil
}
