package portal

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"tollgate/billing"
)

// How the staff pages write durations, sizes, money and dates: as people read them
// ("30 days", "1.5 GiB", "unlimited", "20.00 USD", "3 Mar 2026 14:05"), never as Go
// durations or raw byte counts. One place for all of it: the page templates call the
// functions of formats.funcs (parsed with every page at startup), handlers the same
// functions in Go.
//
// Template functions:
//
//	duration      a time.Duration → "30 days", "1 day 12 hours", "45 seconds"
//	durationLimit as duration, but 0 is "unlimited" (a plan's uptime limit)
//	bytes         an int, int64 or uint64 byte count → "1 GiB", "512 MiB", "900 B" (binary units)
//	bytesLimit    as bytes, but 0 is "unlimited" (a plan's data limit)
//	money         minor units in the operator's currency → "20.00 USD"
//	moneyIn       minor units and a currency (a stored invoice's own) → "20.00 KES"
//	date          a time in the operator's time zone → "3 Mar 2026" ("—" for the zero time)
//	datetime      the same with the time of day → "3 Mar 2026 14:05"
//	dateInput     the day as an <input type="date"> value → "2026-03-03" ("" for zero)
//	percent       hundredths of a percent → "16%", "7.5%"
//	period        a plan's billing period → "month", "30 days"
//	currency      the operator's currency → "USD"

// formats writes values for people in the operator's currency and time zone.
type formats struct {
	currency string
	loc      *time.Location
}

// newFormats returns the formats of cfg: its Currency (billing.DefaultCurrency when
// empty) and Location (UTC when nil).
func newFormats(cfg Config) formats {
	f := formats{currency: cfg.Currency, loc: cfg.Location}
	if f.currency == "" {
		f.currency = billing.DefaultCurrency
	}
	if f.loc == nil {
		f.loc = time.UTC
	}
	return f
}

// format returns the portal's formats, for handlers that write values in Go.
func (p *Portal) format() formats { return newFormats(p.cfg) }

// funcs are the template functions of the table above.
func (f formats) funcs() template.FuncMap {
	return template.FuncMap{
		"duration":      humanDuration,
		"durationLimit": durationLimit,
		"bytes":         bytesAny(humanBytes),
		"bytesLimit":    bytesAny(bytesLimit),
		"money":         f.money,
		"moneyIn":       billing.FormatMoney,
		"date":          f.date,
		"datetime":      f.datetime,
		"dateInput":     f.dateInput,
		"percent":       percent,
		"period":        period,
		"currency":      func() string { return f.currency },
	}
}

// money writes cents in the operator's currency: "20.00 USD", "-5.00 USD".
func (f formats) money(cents int64) string { return billing.FormatMoney(cents, f.currency) }

// date writes t's day in the operator's time zone: "3 Mar 2026"; "—" for the zero time.
func (f formats) date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(f.loc).Format("2 Jan 2006")
}

// datetime writes t to the minute in the operator's time zone: "3 Mar 2026 14:05"; "—"
// for the zero time.
func (f formats) datetime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(f.loc).Format("2 Jan 2006 15:04")
}

// dateInput writes t's day in the operator's time zone as an HTML date input's value:
// "2026-03-03"; "" for the zero time.
func (f formats) dateInput(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(f.loc).Format(time.DateOnly)
}

// parseDate reads an HTML date input's value ("2026-03-03") as the start of that day in
// the operator's time zone.
func (f formats) parseDate(s string) (time.Time, error) {
	return time.ParseInLocation(time.DateOnly, s, f.loc)
}

// plural writes n and unit, with an s unless n is 1: "1 day", "30 days".
func plural(n int64, unit string) string {
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}

// humanDuration writes d in its two largest units of days, hours, minutes and seconds:
// "30 days", "1 day 12 hours", "2 hours 5 minutes", "45 seconds"; under a second in
// milliseconds ("250 ms"); "0 seconds" for none. A negative d gets a minus sign.
func humanDuration(d time.Duration) string {
	if d < 0 {
		if d == math.MinInt64 {
			d++
		}
		return "-" + humanDuration(-d)
	}
	if d > 0 && d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 {
			parts = append(parts, plural(int64(n), u.name))
			d -= n * u.size
		} else if len(parts) > 0 {
			break // "1 day 5 minutes" would hide that hours were skipped: stop at a gap
		}
		if len(parts) == 2 {
			break
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, " ")
}

// durationLimit is humanDuration where 0 means no limit: "unlimited".
func durationLimit(d time.Duration) string {
	if d == 0 {
		return "unlimited"
	}
	return humanDuration(d)
}

// humanBytes writes n bytes in binary units with at most one decimal: "900 B",
// "1 KiB", "1.5 GiB", "12.3 TiB".
func humanBytes(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			n++
		}
		return "-" + humanBytes(-n)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f, i = f/1024, i+1
	}
	f = math.Round(f*10) / 10
	if f >= 1024 && i < len(units)-1 { // 1023.96 MiB rounds to 1 GiB, not "1024 MiB"
		f, i = f/1024, i+1
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + " " + units[i]
}

// bytesLimit is humanBytes where 0 means no limit: "unlimited".
func bytesLimit(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return humanBytes(n)
}

// bytesAny lets a template pass any integer byte count (accounting's octets are uint64).
func bytesAny(f func(int64) string) func(any) string {
	return func(v any) string {
		switch n := v.(type) {
		case int:
			return f(int64(n))
		case int64:
			return f(n)
		case uint64:
			if n > math.MaxInt64 {
				n = math.MaxInt64
			}
			return f(int64(n))
		case int32:
			return f(int64(n))
		case uint32:
			return f(int64(n))
		}
		return "?"
	}
}

// percent writes hundredths of a percent as a percentage: 1600 → "16%", 750 → "7.5%".
func percent(bp int) string { return billing.FormatTaxRate(bp) + "%" }

// period writes a plan's billing period: "month" for a calendar month, "30 days" for
// "30d" (the default period for "").
func period(p billing.Period) string {
	if p == "" {
		p = billing.DefaultPeriod
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(string(p), "d")); err == nil && p != billing.PeriodMonth {
		return plural(int64(n), "day")
	}
	return string(p)
}
