package billing

import (
	"strconv"
	"strings"
	"time"
)

// Period is how long one paid period of a subscription lasts: a calendar month
// (PeriodMonth), or a whole number of days written "30d".
type Period string

// PeriodMonth renews on the same day of every month, clamped to the month's end.
const PeriodMonth Period = "month"

// DefaultPeriod is the period of a plan that names none.
const DefaultPeriod Period = "30d"

// MaxPeriodDays bounds a period given in days.
const MaxPeriodDays = 366

// ParsePeriod reads "month" or a number of days such as "30d" (1d to 366d). EINVALID,
// naming the --period flag.
func ParsePeriod(s string) (Period, error) {
	if s == string(PeriodMonth) {
		return PeriodMonth, nil
	}
	if n, ok := periodDays(s); ok {
		return Period(strconv.Itoa(n) + "d"), nil
	}
	return "", invalid("period: %q is not month or a number of days like 30d (1d to %dd)", s, MaxPeriodDays)
}

// periodDays returns the days of a period written "Nd".
func periodDays(s string) (int, bool) {
	num, ok := strings.CutSuffix(s, "d")
	if !ok || num == "" || num[0] == '0' || len(num) > 3 {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > MaxPeriodDays {
		return 0, false
	}
	return n, true
}

// Valid reports whether p is "month" or "Nd" as ParsePeriod writes it.
func (p Period) Valid() bool {
	q, err := ParsePeriod(string(p))
	return err == nil && q == p
}

// End returns the end of the period of p that starts at start. A period in days is that
// many 24-hour days. A calendar month goes to the same wall-clock time on day anchorDay
// of the next month in loc, or to that month's last day when it is shorter: with anchor
// 31, 31 January → 28 (or 29) February → 31 March → 30 April. The anchor, not the day
// start fell on, is what is kept, so a short month does not pull later periods back.
// anchorDay outside 1..31 is read as start's day in loc.
func (p Period) End(start time.Time, anchorDay int, loc *time.Location) time.Time {
	if n, ok := periodDays(string(p)); ok {
		return start.Add(time.Duration(n) * 24 * time.Hour)
	}
	if loc == nil {
		loc = time.UTC
	}
	t := start.In(loc)
	if anchorDay < 1 || anchorDay > 31 {
		anchorDay = t.Day()
	}
	// The first of next month, then the anchor day clamped to that month's length.
	first := time.Date(t.Year(), t.Month()+1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	day := min(anchorDay, daysIn(first.Year(), first.Month(), loc))
	return time.Date(first.Year(), first.Month(), day, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// daysIn returns the number of days of month m of year y.
func daysIn(y int, m time.Month, loc *time.Location) int {
	return time.Date(y, m+1, 0, 12, 0, 0, 0, loc).Day()
}

// AnchorDay returns the day of the month, in loc, that calendar-month periods starting
// at t keep.
func AnchorDay(t time.Time, loc *time.Location) int {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Day()
}
