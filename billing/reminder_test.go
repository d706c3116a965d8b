package billing

import (
	"slices"
	"testing"
	"time"
)

func TestParseRemindDays(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"7,3,1", []int{7, 3, 1}, true},
		{"1,3,7", []int{7, 3, 1}, true},
		{" 3 , 3, 1", []int{3, 1}, true},
		{"", nil, true},
		{"0", nil, true},
		{"60", []int{60}, true},
		{"61", nil, false},
		{"7,0", nil, false},
		{"7,,1", nil, false},
		{"x", nil, false},
		{"-1", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseRemindDays(tt.in)
		if tt.ok != (err == nil) || !slices.Equal(got, tt.want) {
			t.Errorf("ParseRemindDays(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestDueReminder: the latest reminder reached is the one due; missed ones are not sent
// after it; nothing when the renewal is due or far.
func TestDueReminder(t *testing.T) {
	day := 24 * time.Hour
	days := []int{7, 3, 1}
	tests := []struct {
		name string
		left time.Duration
		want int // 0: none
	}{
		{"8 days left: none yet", 8 * day, 0},
		{"exactly 7 days", 7 * day, 7},
		{"6.5 days: still the 7-day one", 6*day + 12*time.Hour, 7},
		{"3 days and a second: the 7-day one", 3*day + time.Second, 7},
		{"exactly 3 days", 3 * day, 3},
		{"2 days", 2 * day, 3},
		{"a day", day, 1},
		{"an hour: the 1-day one", time.Hour, 1},
		{"missed 7 and 3: only the 1-day one", 20 * time.Hour, 1},
		{"due now: none", 0, 0},
		{"overdue: none", -time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DueReminder(days, tt.left)
			if ok != (tt.want != 0) || got != tt.want {
				t.Fatalf("DueReminder(%v) = %d, %v; want %d", tt.left, got, ok, tt.want)
			}
		})
	}
	if _, ok := DueReminder(nil, time.Hour); ok {
		t.Fatal("no reminder days: a reminder is due")
	}
}
