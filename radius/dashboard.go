package radius

import (
	"context"
	"time"
)

// The read models of the admin dashboard and the live session pages: counts the
// operator reads at a glance, each computed by one query of the RADIUS tables.

// NamedCount is a count under a name: a NAS's or a plan's open sessions, a reject
// reason's decisions.
type NamedCount struct {
	Name  string // "" for sessions whose NAS or plan is unknown (deleted, or a username no account has)
	Count int64
}

// AuthMinute is one minute of the auth log: the decisions that accepted and those that
// rejected.
type AuthMinute struct {
	At      time.Time // the minute's start
	Accepts int64
	Rejects int64
}

// HourCount is how many sessions were open at some moment of the hour starting At (they
// started before its end and had not stopped before its start).
type HourCount struct {
	At       time.Time
	Sessions int64
}

// ActivityStore reads what the dashboard shows of RADIUS (Postgres).
type ActivityStore interface {
	// OnlineByNAS counts the open sessions by NAS name, most first.
	OnlineByNAS(ctx context.Context) ([]NamedCount, error)
	// OnlineByPlan counts the open sessions by the plan of their account (a
	// subscriber's or a voucher's), most first.
	OnlineByPlan(ctx context.Context) ([]NamedCount, error)
	// AuthByMinute counts the auth log's accepts and rejects in each minute from from
	// (a whole minute) to to, minutes without any left out.
	AuthByMinute(ctx context.Context, from, to time.Time) ([]AuthMinute, error)
	// RejectReasons counts the rejects since since by reason, most first, at most limit.
	RejectReasons(ctx context.Context, since time.Time, limit int) ([]NamedCount, error)
	// SessionsByHour counts, for each of the hours hours from from (a whole hour) on,
	// the sessions open at some moment of it; an open session counts up to now.
	SessionsByHour(ctx context.Context, from time.Time, hours int, now time.Time) ([]HourCount, error)
}

// SessionQuery selects sessions for the admin's session pages. Zero fields do not
// filter.
type SessionQuery struct {
	Online    bool
	NASName   string
	SessionID string // Acct-Session-Id
	// Username selects one account's sessions (exactly).
	Username string
	// RatePlanID selects the sessions whose rate limit comes from this plan: its
	// accounts' unless isolated, and the isolated ones of the plans it isolates.
	RatePlanID int64
	// Search is a username, a MAC or an IP address, matched exactly; a username that
	// ends in "*" matches the usernames that start with the rest.
	Search string
	Limit  int
	// After continues a listing after this session (newest start first).
	After *SessionPos
}

// SessionView is a session as the admin's pages show it: with the plan of its account
// and the rate limit the router was told (the isolation plan's while the subscriber is
// isolated).
type SessionView struct {
	Session
	PlanName  string // "" when no account has the username (any more)
	RateLimit string // "" for none
	Isolated  bool
	// SubscriberID is the subscriber whose username the session has (0: none, a
	// voucher's), and Restricted whether he restricted processing: a staff read of
	// his sessions takes a reason.
	SubscriberID int64
	Restricted   bool
}

// SessionViews lists sessions for the admin's pages (Postgres).
type SessionViews interface {
	// FindSessionViews returns the sessions q selects, newest start first: at most
	// q.Limit (default 100, at most 10000).
	FindSessionViews(ctx context.Context, q SessionQuery) ([]SessionView, error)
}
