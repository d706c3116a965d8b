package radius

import (
	"strconv"
	"strings"
)

// ValidateRateLimit checks s against MikroTik's Rate-Limit format:
// "rx[/tx] [rx-burst[/tx-burst] [rx-threshold[/tx-threshold] [rx-burst-time[/tx-burst-time] [priority] [rx-min[/tx-min]]]]]".
// Rates take k or M suffixes, burst times are seconds, priority is 1–8. The empty string
// (no limit) is valid. It returns an EINVALID error naming the faulty part.
func ValidateRateLimit(s string) error {
	if s == "" {
		return nil
	}
	parts := strings.Fields(s)
	if len(parts) > 6 {
		return Errorf(EINVALID, "rate limit %q: too many parts (at most 6)", s)
	}
	names := []string{"rate", "burst rate", "burst threshold", "burst time", "priority", "min rate"}
	for i, p := range parts {
		if i == 4 {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 8 {
				return Errorf(EINVALID, "rate limit %q: priority %q must be 1 to 8", s, p)
			}
			continue
		}
		pair := strings.Split(p, "/")
		if len(pair) > 2 {
			return Errorf(EINVALID, "rate limit %q: %s %q has more than one '/'", s, names[i], p)
		}
		for _, v := range pair {
			if !validRate(v, i == 3) {
				return Errorf(EINVALID, "rate limit %q: %s %q is not a number with an optional k or M suffix", s, names[i], v)
			}
		}
	}
	return nil
}

func validRate(v string, seconds bool) bool {
	if v == "" {
		return false
	}
	if !seconds {
		switch v[len(v)-1] {
		case 'k', 'K', 'M', 'G':
			v = v[:len(v)-1]
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return err == nil && n < 1<<40
}
