package radius

import (
	"context"
	"time"
)

// AuthLogFilter selects auth log rows.
type AuthLogFilter struct {
	// Username limits the rows to one user; "" means all.
	Username string
	// Limit is the most rows returned (default 100, at most 10000).
	Limit int
}

// AuthLogRow is one auth log entry as an admin reads it.
type AuthLogRow struct {
	At       time.Time
	NASName  string // "" for an unknown or deleted NAS
	Username string
	MAC      string
	Method   string
	Reason   string
}

// AuthLogReader reads the auth log for admins (the command line and the portal).
type AuthLogReader interface {
	// FindAuthLog returns the rows f selects, newest first.
	FindAuthLog(ctx context.Context, f AuthLogFilter) ([]AuthLogRow, error)
}
