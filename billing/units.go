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

// DefaultCurrency is the currency of a server that names none (TOLLGATE_CURRENCY).
const DefaultCurrency = "USD"

// ValidateCurrency checks an ISO 4217 code: three upper-case letters such as USD, KES or
// NGN. Amounts are kept in minor units and shown with two decimals. EINVALID.
func ValidateCurrency(c string) error {
	if len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return invalid("currency: %q is not an ISO 4217 code like USD, KES or NGN", c)
	}
	return nil
}

// FormatMoney writes cents in the main unit followed by the currency: 2000, "USD" →
// "20.00 USD". It is how money is shown to people (CLI text, events, documents); JSON
// carries the amount (FormatCents) and the currency apart.
func FormatMoney(cents int64, currency string) string {
	return FormatCents(cents) + " " + currency
}

// MaxTaxRateBP is the highest tax rate, 100% in hundredths of a percent.
const MaxTaxRateBP = 100_00

// ParseTaxRate reads a tax rate in percent, "16", "7.5" or "0.25", into hundredths of a
// percent (basis points): 1600, 750, 25. At most two decimals, 0 to 100. EINVALID.
func ParseTaxRate(s string) (int, error) {
	c, err := ParseCents(s) // the same grammar: digits, an optional point, two decimals
	if err != nil || c > MaxTaxRateBP {
		return 0, invalid("tax-rate: %q is not a percentage from 0 to 100 like 16 or 7.5", s)
	}
	return int(c), nil
}

// FormatTaxRate writes a rate in basis points as a percentage without trailing zeros:
// 1600 → "16", 750 → "7.5", 725 → "7.25".
func FormatTaxRate(bp int) string {
	s := FormatCents(int64(bp))
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// SplitTax splits a tax-inclusive total at rate bp (hundredths of a percent) into its net
// amount and its tax: net = total / (1 + rate) rounded to the nearest cent (halves away
// from zero), and tax = total − net, so that net + tax is always the total charged.
func SplitTax(totalCents int64, bp int) (net, tax int64) {
	if bp <= 0 || totalCents == 0 {
		return totalCents, 0
	}
	neg := totalCents < 0
	t := totalCents
	if neg {
		t = -t
	}
	den := int64(MaxTaxRateBP + bp)
	// round(t·10000 / den) = floor((2·t·10000 + den) / (2·den)); t ≤ MaxAmountCents keeps
	// this far from overflow.
	net = (2*t*MaxTaxRateBP + den) / (2 * den)
	if neg {
		net = -net
		t = -t
	}
	return net, t - net
}
