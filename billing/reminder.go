package billing

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultRemindDays are the days before a renewal on which a subscriber whose balance
// will not cover it is reminded (TOLLGATE_REMIND_DAYS).
var DefaultRemindDays = []int{7, 3, 1}

// MaxRemindDays bounds one reminder day.
const MaxRemindDays = 60

// ParseRemindDays reads a comma-separated list of days such as "7,3,1" (each 1 to 60;
// "" or "0" turns reminders off) and returns it sorted from the largest, without
// duplicates. EINVALID.
func ParseRemindDays(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > MaxRemindDays {
			return nil, invalid("remind-days: %q is not a list of days from 1 to %d like 7,3,1", s, MaxRemindDays)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// DueReminder returns the reminder a pass should record when left is the time until a
// renewal: the one for the smallest number of days in days that left has reached
// (left ≤ d days). A pass that missed the earlier reminders catches up with this one
// alone, and since a reminder is recorded once per (subscription, period, day), passes
// that run again while it stays the latest record nothing new. ok is false when no
// reminder is due yet, and when the renewal is due now (left ≤ 0).
func DueReminder(days []int, left time.Duration) (d int, ok bool) {
	if left <= 0 {
		return 0, false
	}
	for _, n := range days {
		if left <= time.Duration(n)*24*time.Hour && (!ok || n < d) {
			d, ok = n, true
		}
	}
	return d, ok
}
