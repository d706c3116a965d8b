package postgres

import (
	"context"
	"fmt"
	"time"

	"tollgate/radius"
)

var _ radius.DailyUsageStore = (*Store)(nil)

// findDailyUsageSQL spreads each session of $1 over the days $2 (n+1 bounds) by the
// share of its time in each day; a session of no length counts whole on the day it
// started. Only sessions that overlap the range are read: started before its end (the
// partition key) and still running or stopped after its start.
const findDailyUsageSQL = `
WITH b AS (
    SELECT lo, lead(lo) OVER (ORDER BY i) AS hi, i
    FROM unnest($2::timestamptz[]) WITH ORDINALITY AS t(lo, i)
), days AS (
    SELECT lo, hi, i FROM b WHERE hi IS NOT NULL
), s AS (
    SELECT started_at AS lo,
           greatest(coalesce(stopped_at, last_update), started_at) AS hi,
           input_octets, output_octets, session_time
    FROM sessions
    WHERE username = $1 AND started_at < $3
      AND greatest(coalesce(stopped_at, last_update), started_at) >= $4
), shares AS (
    SELECT d.i, s.input_octets, s.output_octets, s.session_time,
           CASE WHEN s.hi = s.lo THEN (s.lo >= d.lo AND s.lo < d.hi)::int::numeric
                ELSE greatest(extract(epoch FROM least(s.hi, d.hi) - greatest(s.lo, d.lo)), 0)
                     / extract(epoch FROM s.hi - s.lo)
           END AS share
    FROM days d JOIN s ON s.lo < d.hi AND s.hi >= d.lo
)
SELECT d.i,
       coalesce(round(sum(sh.output_octets * sh.share)), 0)::bigint,
       coalesce(round(sum(sh.input_octets * sh.share)), 0)::bigint,
       coalesce(round(sum(sh.session_time * sh.share)), 0)::bigint
FROM days d LEFT JOIN shares sh ON sh.i = d.i
GROUP BY d.i
ORDER BY d.i`

// FindDailyUsage returns username's usage per day between consecutive bounds.
func (s *Store) FindDailyUsage(ctx context.Context, username string, bounds []time.Time) ([]radius.DayUsage, error) {
	if len(bounds) < 2 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, findDailyUsageSQL, username, bounds, bounds[len(bounds)-1], bounds[0])
	if err != nil {
		return nil, fmt.Errorf("postgres: daily usage of %q: %w", username, err)
	}
	defer rows.Close()
	out := make([]radius.DayUsage, 0, len(bounds)-1)
	for rows.Next() {
		var i int64
		var d radius.DayUsage
		if err := rows.Scan(&i, &d.Download, &d.Upload, &d.Seconds); err != nil {
			return nil, fmt.Errorf("postgres: daily usage of %q: %w", username, err)
		}
		d.Day = bounds[i-1]
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: daily usage of %q: %w", username, err)
	}
	return out, nil
}
