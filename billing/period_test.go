package billing

import (
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		in   string
		want Period
		ok   bool
	}{
		{"month", PeriodMonth, true},
		{"30d", "30d", true},
		{"1d", "1d", true},
		{"366d", "366d", true},
		{"367d", "", false},
		{"0d", "", false},
		{"030d", "", false},
		{"d", "", false},
		{"30", "", false},
		{"30h", "", false},
		{"Month", "", false},
		{"", "", false},
		{"-1d", "", false},
	}
	for _, tt := range tests {
		got, err := ParsePeriod(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParsePeriod(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && !got.Valid() {
			t.Errorf("%q.Valid() = false", got)
		}
	}
}

// TestPeriodEnd: a calendar month keeps the anchor day and clamps to the month's end,
// the anchor is kept (not the clamped day), and the wall-clock time is kept in the
// operator's zone across DST changes.
func TestPeriodEnd(t *testing.T) {
	utc := time.UTC
	nairobi := time.FixedZone("EAT", 3*3600)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	d := func(loc *time.Location, y int, m time.Month, day, h int) time.Time {
		return time.Date(y, m, day, h, 0, 0, 0, loc)
	}
	tests := []struct {
		name   string
		period Period
		start  time.Time
		anchor int
		loc    *time.Location
		want   time.Time
	}{
		{"31 Jan to 28 Feb", PeriodMonth, d(utc, 2027, 1, 31, 10), 31, utc, d(utc, 2027, 2, 28, 10)},
		{"31 Jan to 29 Feb in a leap year", PeriodMonth, d(utc, 2028, 1, 31, 10), 31, utc, d(utc, 2028, 2, 29, 10)},
		{"28 Feb back to 31 Mar: the anchor is kept", PeriodMonth, d(utc, 2027, 2, 28, 10), 31, utc, d(utc, 2027, 3, 31, 10)},
		{"31 Mar to 30 Apr", PeriodMonth, d(utc, 2027, 3, 31, 10), 31, utc, d(utc, 2027, 4, 30, 10)},
		{"30 Apr to 31 May", PeriodMonth, d(utc, 2027, 4, 30, 10), 31, utc, d(utc, 2027, 5, 31, 10)},
		{"30 Jan to 28 Feb (anchor 30)", PeriodMonth, d(utc, 2027, 1, 30, 0), 30, utc, d(utc, 2027, 2, 28, 0)},
		{"28 Feb to 30 Mar (anchor 30)", PeriodMonth, d(utc, 2027, 2, 28, 0), 30, utc, d(utc, 2027, 3, 30, 0)},
		{"15th stays the 15th", PeriodMonth, d(utc, 2027, 6, 15, 8), 15, utc, d(utc, 2027, 7, 15, 8)},
		{"December to January", PeriodMonth, d(utc, 2027, 12, 31, 23), 31, utc, d(utc, 2028, 1, 31, 23)},
		{"anchor 0 reads the start's day", PeriodMonth, d(utc, 2027, 3, 5, 1), 0, utc, d(utc, 2027, 4, 5, 1)},
		{"day counted in the operator's zone", PeriodMonth, time.Date(2027, 1, 30, 22, 0, 0, 0, utc), 31, nairobi,
			time.Date(2027, 2, 27, 22, 0, 0, 0, utc)}, // 31 Jan 01:00 EAT → 28 Feb 01:00 EAT
		{"nil location is UTC", PeriodMonth, d(utc, 2027, 1, 31, 10), 31, nil, d(utc, 2027, 2, 28, 10)},
		{"DST: same wall clock in Berlin", PeriodMonth, d(berlin, 2027, 3, 15, 12), 15, berlin, d(berlin, 2027, 4, 15, 12)},
		{"30 days", "30d", d(utc, 2027, 1, 31, 10), 31, utc, d(utc, 2027, 3, 2, 10)},
		{"1 day", "1d", d(utc, 2027, 1, 31, 10), 31, utc, d(utc, 2027, 2, 1, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.period.End(tt.start, tt.anchor, tt.loc); !got.Equal(tt.want) {
				t.Fatalf("End(%v, %d) = %v, want %v", tt.start, tt.anchor, got, tt.want)
			}
		})
	}
	t.Run("a year of months from 31 January", func(t *testing.T) {
		want := []int{28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31}
		at := d(utc, 2027, 1, 31, 10)
		for i, day := range want {
			at = PeriodMonth.End(at, 31, utc)
			if at.Day() != day || at.Hour() != 10 {
				t.Fatalf("renewal %d = %v, want day %d", i+1, at, day)
			}
		}
	})
}

func TestAnchorDay(t *testing.T) {
	at := time.Date(2027, 1, 30, 22, 0, 0, 0, time.UTC)
	if AnchorDay(at, nil) != 30 || AnchorDay(at, time.FixedZone("EAT", 3*3600)) != 31 {
		t.Fatalf("AnchorDay = %d, %d", AnchorDay(at, nil), AnchorDay(at, time.FixedZone("EAT", 3*3600)))
	}
}
