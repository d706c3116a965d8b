package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
)

// The dashboard's queries and the admin's session listing. The open sessions are few
// (those online now) and reached through sessions_open; the history of the last day
// through sessions_stopped_at; the auth log by its BRIN index on at.

var (
	_ radius.ActivityStore = (*Store)(nil)
	_ radius.SessionViews  = (*Store)(nil)
)

const onlineByNASSQL = `
SELECT coalesce(n.name, ''), count(*)
FROM sessions s
LEFT JOIN nas n ON n.id = s.nas_id
WHERE s.stopped_at IS NULL
GROUP BY 1
ORDER BY 2 DESC, 1`

// OnlineByNAS counts the open sessions by NAS name, most first.
func (s *Store) OnlineByNAS(ctx context.Context) ([]radius.NamedCount, error) {
	return s.namedCounts(ctx, "online by NAS", onlineByNASSQL)
}

// A subscriber wins over a voucher of the same name, as on the RADIUS path.
const onlineByPlanSQL = `
SELECT coalesce(p.name, ''), count(*)
FROM sessions s
LEFT JOIN subscribers sb ON sb.username = s.username
LEFT JOIN vouchers v ON v.username = s.username AND sb.id IS NULL
LEFT JOIN plans p ON p.id = coalesce(sb.plan_id, v.plan_id)
WHERE s.stopped_at IS NULL
GROUP BY 1
ORDER BY 2 DESC, 1`

// OnlineByPlan counts the open sessions by their account's plan, most first.
func (s *Store) OnlineByPlan(ctx context.Context) ([]radius.NamedCount, error) {
	return s.namedCounts(ctx, "online by plan", onlineByPlanSQL)
}

const rejectReasonsSQL = `
SELECT reason, count(*)
FROM auth_log
WHERE at >= $1 AND reason <> 'ok'
GROUP BY reason
ORDER BY 2 DESC, 1
LIMIT $2`

// RejectReasons counts the rejects since since by reason, most first, at most limit.
func (s *Store) RejectReasons(ctx context.Context, since time.Time, limit int) ([]radius.NamedCount, error) {
	return s.namedCounts(ctx, "reject reasons", rejectReasonsSQL, since, clampLimit(limit))
}

func (s *Store) namedCounts(ctx context.Context, what, sql string, args ...any) ([]radius.NamedCount, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (radius.NamedCount, error) {
		var c radius.NamedCount
		return c, r.Scan(&c.Name, &c.Count)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

const authByMinuteSQL = `
SELECT date_trunc('minute', at), count(*) FILTER (WHERE reason = 'ok'), count(*) FILTER (WHERE reason <> 'ok')
FROM auth_log
WHERE at >= $1 AND at < $2
GROUP BY 1
ORDER BY 1`

// AuthByMinute counts accepts and rejects by minute from from to to; minutes without a
// decision are left out.
func (s *Store) AuthByMinute(ctx context.Context, from, to time.Time) ([]radius.AuthMinute, error) {
	rows, err := s.db.Query(ctx, authByMinuteSQL, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: auth by minute: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (radius.AuthMinute, error) {
		var m radius.AuthMinute
		return m, r.Scan(&m.At, &m.Accepts, &m.Rejects)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: auth by minute: %w", err)
	}
	return out, nil
}

// Each session that overlaps the window [$1, $2) adds 1 at the hour it enters and -1
// after the hour it leaves ($3 is now, the end of an open session): the counts by hour
// are the running sum, which SessionsByHour adds up. One pass over the sessions of the
// window, however many hours it has.
const sessionsByHourSQL = `
WITH s AS (
    SELECT started_at, $3::timestamptz AS ended FROM sessions
    WHERE stopped_at IS NULL AND started_at < $2
    UNION ALL
    SELECT started_at, stopped_at FROM sessions
    WHERE stopped_at >= $1 AND started_at < $2
), b AS (
    SELECT floor(extract(epoch FROM greatest(started_at, $1) - $1) / 3600)::int AS first,
           floor(extract(epoch FROM least(ended, $2) - $1) / 3600)::int AS last
    FROM s
    WHERE ended >= greatest(started_at, $1)
)
SELECT i, sum(n)::bigint FROM (
    SELECT first AS i, 1 AS n FROM b
    UNION ALL
    SELECT last + 1, -1 FROM b
) d
GROUP BY i
ORDER BY i`

// SessionsByHour counts, for each of hours hours from from, the sessions open at some
// moment of it (started before its end, not stopped before its start); an open session
// lasts until now.
func (s *Store) SessionsByHour(ctx context.Context, from time.Time, hours int, now time.Time) ([]radius.HourCount, error) {
	to := from.Add(time.Duration(hours) * time.Hour)
	rows, err := s.db.Query(ctx, sessionsByHourSQL, from, to, now)
	if err != nil {
		return nil, fmt.Errorf("postgres: sessions by hour: %w", err)
	}
	steps := make([]int64, hours+1)
	var i int32
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&i, &n}, func() error {
		if i >= 0 && int(i) <= hours {
			steps[i] += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: sessions by hour: %w", err)
	}
	out := make([]radius.HourCount, hours)
	var open int64
	for h := range out {
		open += steps[h]
		out[h] = radius.HourCount{At: from.Add(time.Duration(h) * time.Hour), Sessions: open}
	}
	return out, nil
}

// sessionViewSQL is a session with its account's plan: a subscriber's (and, while his
// subscription is isolated, his plan's isolation plan's rate) or a voucher's.
const sessionViewSQL = `
SELECT ` + sessionColumns + `, coalesce(p.name, ''),
       CASE WHEN sc.state = 'isolated' THEN coalesce(ip.rate_limit, '') ELSE coalesce(p.rate_limit, '') END,
       coalesce(sc.state = 'isolated', false), coalesce(sb.id, 0), coalesce(sb.restricted, false)
FROM sessions s
LEFT JOIN nas n ON n.id = s.nas_id
LEFT JOIN subscribers sb ON sb.username = s.username
LEFT JOIN vouchers v ON v.username = s.username AND sb.id IS NULL
LEFT JOIN plans p ON p.id = coalesce(sb.plan_id, v.plan_id)
LEFT JOIN subscriptions sc ON sc.subscriber_id = sb.id
LEFT JOIN plans ip ON ip.id = p.isolation_plan_id`

// FindSessionViews lists the sessions q selects with their plans, newest start first.
// The search is exact (each form an index lookup, or a filter of the open sessions);
// "name*" is a prefix of usernames.
func (s *Store) FindSessionViews(ctx context.Context, q radius.SessionQuery) ([]radius.SessionView, error) {
	var (
		sql   strings.Builder
		args  []any
		where []string
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Online {
		where = append(where, "s.stopped_at IS NULL")
	}
	if q.NASName != "" {
		where = append(where, "n.name = "+arg(q.NASName))
	}
	if q.SessionID != "" {
		where = append(where, "s.acct_session_id = "+arg(q.SessionID))
	}
	if q.Username != "" {
		where = append(where, "s.username = "+arg(q.Username))
	}
	if q.RatePlanID != 0 {
		where = append(where, "CASE WHEN sc.state = 'isolated' THEN ip.id ELSE p.id END = "+arg(q.RatePlanID))
	}
	if term := strings.TrimSpace(q.Search); term != "" {
		where = append(where, searchClause(term, arg))
	}
	if q.After != nil {
		where = append(where, "(s.started_at, s.nas_id, s.acct_session_id) < ("+arg(q.After.StartedAt)+", "+arg(q.After.NASID)+", "+arg(q.After.SessionID)+")")
	}
	sql.WriteString(sessionViewSQL)
	if len(where) > 0 {
		sql.WriteString("\nWHERE ")
		sql.WriteString(strings.Join(where, " AND "))
	}
	sql.WriteString("\nORDER BY s.started_at DESC, s.nas_id DESC, s.acct_session_id DESC\nLIMIT ")
	sql.WriteString(arg(clampLimit(q.Limit)))

	rows, err := s.db.Query(ctx, sql.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: find session views: %w", err)
	}
	defer rows.Close()
	var out []radius.SessionView
	for rows.Next() {
		var v radius.SessionView
		var err error
		v.Session, err = scanSession(rowWith{rows, []any{&v.PlanName, &v.RateLimit, &v.Isolated, &v.SubscriberID, &v.Restricted}})
		if err != nil {
			return nil, fmt.Errorf("postgres: find session views: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find session views: %w", err)
	}
	return out, nil
}

// searchClause matches term as an IP address, a MAC, a username prefix ("name*"), or
// exactly a username.
func searchClause(term string, arg func(any) string) string {
	if a, err := netip.ParseAddr(term); err == nil {
		return "s.framed_ip = " + arg(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if mac, ok := radius.NormalizeMAC(term); ok {
		return "s.mac = " + arg(mac)
	}
	if p, ok := strings.CutSuffix(term, "*"); ok && p != "" {
		return "starts_with(s.username, " + arg(p) + ")"
	}
	return "s.username = " + arg(term)
}

// rowWith scans a row's sessionColumns and then extra.
type rowWith struct {
	row   pgx.Row
	extra []any
}

func (r rowWith) Scan(dst ...any) error { return r.row.Scan(append(dst, r.extra...)...) }
