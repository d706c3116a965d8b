package portal

import (
	"bytes"
	"html/template"
	"math"
	"testing"
	"time"

	"tollgate/billing"
)

// TestFormats: durations, sizes, money and dates are written as people read them.
func TestFormats(t *testing.T) {
	nairobi, err := time.LoadLocation("Africa/Nairobi")
	if err != nil {
		t.Fatal(err)
	}
	f := newFormats(Config{Currency: "KES", Location: nairobi})
	at := time.Date(2026, 3, 3, 21, 5, 0, 0, time.UTC) // 4 March 00:05 in Nairobi
	for _, tc := range []struct {
		name, got, want string
	}{
		{"30 days", humanDuration(30 * 24 * time.Hour), "30 days"},
		{"1 day", humanDuration(24 * time.Hour), "1 day"},
		{"a day and a half", humanDuration(36 * time.Hour), "1 day 12 hours"},
		{"two largest units", humanDuration(26*time.Hour + 5*time.Minute), "1 day 2 hours"},
		{"a gap stops", humanDuration(24*time.Hour + 5*time.Minute), "1 day"},
		{"hours and minutes", humanDuration(2*time.Hour + 5*time.Minute), "2 hours 5 minutes"},
		{"1 minute", humanDuration(time.Minute), "1 minute"},
		{"seconds", humanDuration(45 * time.Second), "45 seconds"},
		{"milliseconds", humanDuration(250 * time.Millisecond), "250 ms"},
		{"zero", humanDuration(0), "0 seconds"},
		{"negative", humanDuration(-90 * time.Minute), "-1 hour 30 minutes"},
		{"min", humanDuration(math.MinInt64)[:1], "-"},
		{"no limit", durationLimit(0), "unlimited"},
		{"a limit", durationLimit(720 * time.Hour), "30 days"},
		{"bytes", humanBytes(900), "900 B"},
		{"KiB", humanBytes(1024), "1 KiB"},
		{"1 GiB", humanBytes(1 << 30), "1 GiB"},
		{"1.5 GiB", humanBytes(3 << 29), "1.5 GiB"},
		{"rounds up a unit", humanBytes(1<<30 - 1<<10), "1 GiB"},
		{"512 MiB", humanBytes(512 << 20), "512 MiB"},
		{"zero bytes", humanBytes(0), "0 B"},
		{"no data limit", bytesLimit(0), "unlimited"},
		{"a data limit", bytesLimit(10 << 30), "10 GiB"},
		{"uint64 octets", bytesAny(humanBytes)(uint64(5 << 20)), "5 MiB"},
		{"money", f.money(2000), "20.00 KES"},
		{"negative money", f.money(-505), "-5.05 KES"},
		{"default currency", newFormats(Config{}).money(1), "0.01 USD"},
		{"date in the zone", f.date(at), "4 Mar 2026"},
		{"datetime in the zone", f.datetime(at), "4 Mar 2026 00:05"},
		{"no date", f.date(time.Time{}), "—"},
		{"date input", f.dateInput(at), "2026-03-04"},
		{"no date input", f.dateInput(time.Time{}), ""},
		{"UTC by default", newFormats(Config{}).datetime(at), "3 Mar 2026 21:05"},
		{"percent", percent(1600), "16%"},
		{"fractional percent", percent(750), "7.5%"},
		{"a month", period(billing.PeriodMonth), "month"},
		{"days", period("30d"), "30 days"},
		{"a day", period("1d"), "1 day"},
		{"the default period", period(""), "30 days"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q; want %q", tc.name, tc.got, tc.want)
		}
	}
	day, err := f.parseDate("2026-03-04")
	if err != nil || !day.Equal(time.Date(2026, 3, 3, 21, 0, 0, 0, time.UTC)) {
		t.Errorf("parseDate = %v, %v; want midnight in Nairobi", day, err)
	}

	// The same through a template, as the pages call them.
	tpl := template.Must(template.New("t").Funcs(f.funcs()).Parse(
		`{{duration .D}}|{{durationLimit .Z}}|{{bytes .B}}|{{bytesLimit .Z64}}|{{money .C}}|{{moneyIn .C "EUR"}}|{{date .T}}|{{percent 1600}}`))
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, map[string]any{"D": 720 * time.Hour, "Z": time.Duration(0), "B": uint64(1 << 30), "Z64": int64(0), "C": int64(2000), "T": at}); err != nil {
		t.Fatal(err)
	}
	if want := "30 days|unlimited|1 GiB|unlimited|20.00 KES|20.00 EUR|4 Mar 2026|16%"; buf.String() != want {
		t.Errorf("template: %q; want %q", buf.String(), want)
	}
}
