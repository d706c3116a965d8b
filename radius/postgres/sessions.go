package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/radius"
	"tollgate/radius/pg"
)

var (
	_ radius.SessionStore = (*Store)(nil)
	_ radius.UsageStore   = (*Store)(nil)
)

// sessionColumns are what scanSession reads, from sessions s joined to nas n.
const sessionColumns = `s.nas_id, coalesce(n.name, ''), s.acct_session_id, s.username, s.mac, s.framed_ip,
       s.started_at, s.stopped_at, s.last_update, s.session_time, s.input_octets, s.output_octets,
       s.terminate_cause, s.interim_seconds, s.nas_addr`

// scanSession reads sessionColumns.
func scanSession(row pgx.Row) (radius.Session, error) {
	var (
		s                    radius.Session
		ip, nasAddr          *netip.Prefix
		stopped              pgtype.Timestamptz
		sessionTime, in, out int64
		interim              int32
	)
	err := row.Scan(&s.NASID, &s.NASName, &s.SessionID, &s.Username, &s.MAC, &ip,
		&s.StartedAt, &stopped, &s.LastUpdate, &sessionTime, &in, &out, &s.TerminateCause, &interim, &nasAddr)
	if err != nil {
		return s, err
	}
	if ip != nil {
		s.FramedIP = ip.Addr()
	}
	if nasAddr != nil {
		s.NASAddr = nasAddr.Addr()
	}
	if stopped.Valid {
		s.StoppedAt = stopped.Time
	}
	s.SessionTime = uint32(min(max(sessionTime, 0), 1<<32-1))
	s.InputOctets, s.OutputOctets = uint64(max(in, 0)), uint64(max(out, 0))
	s.Interim = uint32(max(interim, 0))
	return s, nil
}

// collectSessions scans every row, closing rows.
func collectSessions(rows pgx.Rows) ([]radius.Session, error) {
	defer rows.Close()
	var list []radius.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, s)
	}
	return list, rows.Err()
}

// clampLimit applies the listings' default (100) and maximum (10000).
func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return 100
	case limit > 10000:
		return 10000
	}
	return limit
}

const findSessionsSQL = `
SELECT ` + sessionColumns + `
FROM sessions s
LEFT JOIN nas n ON n.id = s.nas_id`

// FindSessions lists the sessions f selects, newest start first: at most f.Limit
// (default 100, at most 10000).
func (s *Store) FindSessions(ctx context.Context, f radius.SessionFilter) ([]radius.Session, error) {
	// An admin listing: the WHERE is built, from constant pieces, so that each filter
	// can use its index.
	var (
		sql   strings.Builder
		args  []any
		where []string
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Username != "" {
		where = append(where, "s.username = "+arg(f.Username))
	}
	if f.NASName != "" {
		where = append(where, "n.name = "+arg(f.NASName))
	}
	if f.SessionID != "" {
		where = append(where, "s.acct_session_id = "+arg(f.SessionID))
	}
	if f.Online {
		where = append(where, "s.stopped_at IS NULL")
	}
	if f.After != nil {
		where = append(where, "(s.started_at, s.nas_id, s.acct_session_id) < ("+arg(f.After.StartedAt)+", "+arg(f.After.NASID)+", "+arg(f.After.SessionID)+")")
	}
	sql.WriteString(findSessionsSQL)
	if len(where) > 0 {
		sql.WriteString("\nWHERE ")
		sql.WriteString(strings.Join(where, " AND "))
	}
	sql.WriteString("\nORDER BY s.started_at DESC, s.nas_id DESC, s.acct_session_id DESC\nLIMIT ")
	sql.WriteString(arg(clampLimit(f.Limit)))

	rows, err := s.db.Query(ctx, sql.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: find sessions: %w", err)
	}
	list, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: find sessions: %w", err)
	}
	return list, nil
}

const sessionStatsSQL = `
SELECT count(*),
       count(*) FILTER (WHERE stopped_at IS NULL),
       count(*) FILTER (WHERE stopped_at IS NOT NULL),
       coalesce(sum(input_octets), 0)::bigint,
       coalesce(sum(output_octets), 0)::bigint
FROM sessions`

// SessionStats returns totals over every session.
func (s *Store) SessionStats(ctx context.Context) (radius.SessionStats, error) {
	var st radius.SessionStats
	err := s.db.QueryRow(ctx, sessionStatsSQL).Scan(&st.Sessions, &st.Open, &st.Closed, &st.InputOctets, &st.OutputOctets)
	if err != nil {
		return st, fmt.Errorf("postgres: session stats: %w", err)
	}
	return st, nil
}

// $1 is now minus the grace. A session is stale once its last update is older than two
// interim intervals (300s when the NAS gave none) before that, as radius.StaleAfter
// says; "last_update < $1" alone lets the sessions_open index find the candidates.
const closeStaleSessionsSQL = `
WITH closed AS (
    UPDATE sessions
    SET stopped_at = last_update, terminate_cause = $2
    WHERE stopped_at IS NULL
      AND last_update < $1
      AND last_update < $1 - make_interval(secs => 2 * coalesce(nullif(interim_seconds, 0), 300))
    RETURNING nas_id, acct_session_id, username, mac, framed_ip, started_at, stopped_at, last_update,
              session_time, input_octets, output_octets, terminate_cause, interim_seconds, nas_addr
)
SELECT ` + sessionColumns + `
FROM closed s
LEFT JOIN nas n ON n.id = s.nas_id
ORDER BY s.nas_id, s.acct_session_id`

// CloseStaleSessions closes every open session whose last update is older than
// radius.StaleAfter(its interim, grace) at now: the stop time is its last update and the
// cause radius.CauseStale, which a later record of the session undoes (see
// upsertSessionsSQL). It returns the sessions it closed.
func (s *Store) CloseStaleSessions(ctx context.Context, now time.Time, grace time.Duration) ([]radius.Session, error) {
	rows, err := s.db.Query(ctx, closeStaleSessionsSQL, now.Add(-grace), radius.CauseStale)
	if err != nil {
		return nil, fmt.Errorf("postgres: close stale sessions: %w", err)
	}
	list, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: close stale sessions: %w", err)
	}
	return list, nil
}

// Only sessions that started before `at` were open then, as for Accounting-On/Off.
const closeNASSessionsSQL = `
WITH closed AS (
    UPDATE sessions
    SET stopped_at = $2, terminate_cause = $3
    WHERE nas_id = $1 AND stopped_at IS NULL AND started_at < $2
    RETURNING nas_id, acct_session_id, username, mac, framed_ip, started_at, stopped_at, last_update,
              session_time, input_octets, output_octets, terminate_cause, interim_seconds, nas_addr
)
SELECT ` + sessionColumns + `
FROM closed s
LEFT JOIN nas n ON n.id = s.nas_id
ORDER BY s.acct_session_id`

// CloseNASSessions closes every open session of a NAS that started before at, stopping
// it at at with cause, and returns them.
func (s *Store) CloseNASSessions(ctx context.Context, nasID int64, at time.Time, cause string) ([]radius.Session, error) {
	rows, err := s.db.Query(ctx, closeNASSessionsSQL, nasID, at, cause)
	if err != nil {
		return nil, fmt.Errorf("postgres: close sessions of NAS %d: %w", nasID, err)
	}
	list, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: close sessions of NAS %d: %w", nasID, err)
	}
	return list, nil
}

// usageSinceSQL sums a user's sessions (completed with a WHERE on username and
// started_at); the account lookups read it with the account. Sums are numeric, so that
// they cannot overflow before the cast.
const usageSinceSQL = `
SELECT coalesce(sum(session_time), 0)::bigint AS seconds,
       (coalesce(sum(input_octets), 0) + coalesce(sum(output_octets), 0))::bigint AS bytes
FROM sessions`

const findUsageSQL = usageSinceSQL + `
WHERE username = $1 AND started_at >= $2`

// FindUsage returns the uptime and bytes (input+output) of username's sessions that
// started at or after since (zero: all). Usage.Online is left 0: the live index counts
// it. A user without sessions has zero usage.
func (s *Store) FindUsage(ctx context.Context, username string, since time.Time) (radius.Usage, error) {
	sinceArg := pgtype.Timestamptz{Time: since, Valid: true}
	if since.IsZero() {
		sinceArg.InfinityModifier = pgtype.NegativeInfinity
	}
	var (
		u       radius.Usage
		seconds int64
	)
	if err := s.db.QueryRow(ctx, findUsageSQL, username, sinceArg).Scan(&seconds, &u.Bytes); err != nil {
		return u, fmt.Errorf("postgres: find usage of %q: %w", username, err)
	}
	u.Uptime = time.Duration(seconds) * time.Second
	return u, nil
}

const recordCoASQL = `
INSERT INTO coa_log (nas_id, acct_session_id, username, kind, result, error_cause, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id`

// RecordCoA writes the outcome of a Disconnect or CoA. EINVALID for an unknown kind or
// result.
func (s *Store) RecordCoA(ctx context.Context, r radius.CoAResult) error {
	var errorCause *int32 // NULL when the NAS sent none
	if r.ErrorCause != 0 {
		c := int32(r.ErrorCause)
		errorCause = &c
	}
	var id int64
	err := s.db.QueryRow(ctx, recordCoASQL, r.NASID, r.SessionID, r.Username, r.Kind, r.Result, errorCause, r.Reason).Scan(&id)
	if err != nil {
		if pe := pg.Error(err); pg.IsCheck(err, "") {
			switch pe.ConstraintName {
			case "coa_log_kind_check":
				return radius.Errorf(radius.EINVALID, "kind: %q is not disconnect or coa", r.Kind)
			case "coa_log_result_check":
				return radius.Errorf(radius.EINVALID, "result: %q is not ack, nak, timeout or error", r.Result)
			}
		}
		return fmt.Errorf("postgres: record CoA: %w", err)
	}
	return nil
}

// CoALogRow is one Disconnect or CoA as an admin reads it.
type CoALogRow struct {
	ID      int64
	At      time.Time
	NASName string // "" for a deleted NAS
	radius.CoAResult
}

const (
	coaLogColumns = `
SELECT c.id, c.at, coalesce(n.name, ''), c.nas_id, c.acct_session_id, c.username, c.kind,
       c.result, coalesce(c.error_cause, 0), c.reason
FROM coa_log c
LEFT JOIN nas n ON n.id = c.nas_id`

	findCoALogSQL = coaLogColumns + `
ORDER BY c.at DESC, c.id DESC
LIMIT $1`

	findCoALogByUserSQL = coaLogColumns + `
WHERE c.username = $2
ORDER BY c.at DESC, c.id DESC
LIMIT $1`
)

// FindCoALog returns the newest Disconnect and CoA outcomes first, of username or ("")
// of everyone: at most limit (default 100, at most 10000).
func (s *Store) FindCoALog(ctx context.Context, username string, limit int) ([]CoALogRow, error) {
	sql, args := findCoALogSQL, []any{clampLimit(limit)}
	if username != "" {
		sql, args = findCoALogByUserSQL, append(args, username)
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: find CoA log: %w", err)
	}
	defer rows.Close()
	var list []CoALogRow
	for rows.Next() {
		var (
			r     CoALogRow
			cause int32
		)
		if err := rows.Scan(&r.ID, &r.At, &r.NASName, &r.NASID, &r.SessionID, &r.Username, &r.Kind,
			&r.Result, &cause, &r.Reason); err != nil {
			return nil, fmt.Errorf("postgres: find CoA log: %w", err)
		}
		r.ErrorCause = int(cause)
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find CoA log: %w", err)
	}
	return list, nil
}
