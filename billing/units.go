package billing

import (
	"math"
	"math/big"
	"strings"
	"time"
)

// ParseDuration parses a duration as time.ParseDuration does ("90m", "1h30m", "1.5h")
// and also accepts the units d (24 hours) and w (7 days), which plans are sold in:
// "30d", "1d12h", "2w". A leading sign is allowed and so is a bare "0"; any other number
// needs a unit. Errors are EINVALID and quote s.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, invalid("duration %q: empty; write e.g. 30d, 12h or 90m", orig)
	}
	isNum := func(c byte) bool { return c >= '0' && c <= '9' || c == '.' }
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && isNum(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isNum(s[j]) {
			j++
		}
		num, unit := s[:i], s[i:j]
		s = s[j:]
		if num == "" {
			return 0, invalid("duration %q: expected a number before %q", orig, unit)
		}
		if unit == "" {
			return 0, invalid("duration %q: %s needs a unit (s, m, h, d or w)", orig, num)
		}
		var d time.Duration
		var err error
		switch unit {
		case "d", "w":
			mult := time.Duration(24)
			if unit == "w" {
				mult = 7 * 24
			}
			// Parsing the number as hours keeps fractions exact: 1.5d = 1.5h × 24.
			if d, err = time.ParseDuration(num + "h"); err == nil {
				if d > math.MaxInt64/mult {
					return 0, invalid("duration %q: too long", orig)
				}
				d *= mult
			}
		default:
			d, err = time.ParseDuration(num + unit)
		}
		if err != nil {
			if strings.Contains(err.Error(), "unknown unit") {
				return 0, invalid("duration %q: unknown unit %q; use ns, us, ms, s, m, h, d or w", orig, unit)
			}
			if strings.Contains(err.Error(), "overflow") {
				return 0, invalid("duration %q: too long", orig)
			}
			return 0, invalid("duration %q: %q is not a number", orig, num)
		}
		if total > math.MaxInt64-d {
			return 0, invalid("duration %q: too long", orig)
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

// sizeUnits maps a canonical size suffix to its multiplier: the SI forms are decimal,
// the IEC forms binary.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"k": 1e3, "kB": 1e3, "KiB": 1 << 10,
	"M": 1e6, "MB": 1e6, "MiB": 1 << 20,
	"G": 1e9, "GB": 1e9, "GiB": 1 << 30,
	"T": 1e12, "TB": 1e12, "TiB": 1 << 40,
}

// ParseSize parses a byte count: a plain number of bytes ("500000"), or a number with a
// unit. k, M, G, T, kB, MB, GB and TB are decimal (1G = 1,000,000,000 bytes, as the
// k and M of a MikroTik rate limit); KiB, MiB, GiB and TiB are binary (1GiB = 1,073,741,824 bytes). The
// prefix letter is case-insensitive. Fractions are allowed and rounded to the nearest
// byte ("1.5G", "0.5GiB"). Negative sizes are errors. Errors are EINVALID and quote s.
func ParseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], s[i:]
	if unit != "" && strings.IndexByte("kKmMgGtT", unit[0]) >= 0 {
		// Canonical case for the prefix letter: k for decimal kilo, K for kibi.
		p := strings.ToUpper(unit[:1])
		if p == "K" && unit[1:] != "iB" {
			p = "k"
		}
		unit = p + unit[1:]
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, invalid("size %q: unknown unit %q; use k, M, G, T (decimal) or KiB, MiB, GiB, TiB (binary)", s, s[i:])
	}
	intPart, frac, _ := strings.Cut(num, ".")
	if intPart == "" && frac == "" || strings.Contains(frac, ".") || len(frac) > 18 {
		return 0, invalid("size %q: not a number of bytes, e.g. 500M or 2GiB", s)
	}
	// Exact arithmetic: (int·10^f + frac) · mult / 10^f, rounded half up.
	n, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return 0, invalid("size %q: not a number of bytes, e.g. 500M or 2GiB", s)
	}
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	n.Mul(n, big.NewInt(mult))
	n.Add(n, new(big.Int).Rsh(den, 1))
	n.Quo(n, den)
	if !n.IsInt64() {
		return 0, invalid("size %q: too large", s)
	}
	return n.Int64(), nil
}
