package radius

import (
	"context"
	"time"
)

// DayUsage is what an account used on one day: download and upload as the subscriber
// sees them (download is the NAS's output octets, upload its input octets) and the
// time online.
type DayUsage struct {
	Day      time.Time // the start of the day
	Download int64
	Upload   int64
	Seconds  int64
}

// DayBounds returns the starts of the n days that end with now's day, in loc, followed
// by the start of the next day: n+1 instants. Days are calendar days, so a day that
// changes to or from summer time lasts 23 or 25 hours.
func DayBounds(now time.Time, n int, loc *time.Location) []time.Time {
	y, m, d := now.In(loc).Date()
	out := make([]time.Time, 0, n+1)
	for i := n - 1; i >= -1; i-- {
		out = append(out, time.Date(y, m, d-i, 0, 0, 0, 0, loc))
	}
	return out
}

// DailyUsageStore reads usage by day (radius/postgres).
type DailyUsageStore interface {
	// FindDailyUsage returns username's usage on each day between consecutive bounds
	// (len(bounds)-1 days, in order). A session's bytes and time are spread over the
	// days it lasted in proportion to its time in each (accounting keeps totals per
	// session, not per day), so a week-long PPPoE session shows on every day of it.
	FindDailyUsage(ctx context.Context, username string, bounds []time.Time) ([]DayUsage, error)
}
