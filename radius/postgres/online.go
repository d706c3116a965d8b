package postgres

import (
	"context"
	"fmt"
)

var _ interface {
	CountOnline(ctx context.Context, username string) (int, error)
} = (*Store)(nil)

const countOnlineSQL = `SELECT count(*) FROM sessions WHERE username = $1 AND stopped_at IS NULL`

// CountOnline returns how many of username's sessions are open: the online count the
// RADIUS path falls back to while Redis, which keeps the live index, is unreachable.
func (s *Store) CountOnline(ctx context.Context, username string) (int, error) {
	var n int64
	if err := s.db.QueryRow(ctx, countOnlineSQL, username).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count online sessions of %q: %w", username, err)
	}
	return int(n), nil
}
