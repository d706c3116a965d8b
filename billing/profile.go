package billing

import (
	"strings"
	"unicode"
)

// Limits of a subscriber's profile.
const (
	// MaxProfileNameLen is the longest name of a subscriber, in bytes.
	MaxProfileNameLen = 200
)

// NormalizeEmail trims s, lower-cases it and checks that it is one bare address such as
// "jane@example.com" (what the subscribers.email column holds). "" stays "" (no address).
// EINVALID, starting with "email:".
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if len(s) < 3 {
		return "", invalid("email: %q is not an address like jane@example.com", s)
	}
	if err := validateEmail(s); err != nil {
		return "", err
	}
	return s, nil
}

// NormalizePhone reads a phone number in international form and returns it in E.164,
// "+254712345678". It must start with + or 00 and the country code; spaces, dots,
// dashes and parentheses are dropped ("+254 712-345 678", "00254 (712) 345678"). A
// national number such as "0712345678" is refused: without its country code a message
// could go to the wrong country. "" stays "" (no number). EINVALID, starting with
// "phone:".
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := func() (string, error) {
		return "", invalid("phone: %q is not an international number; write it with + and the country code, like +254712345678", s)
	}
	var b strings.Builder
	b.Grow(len(s))
	rest := s
	switch {
	case strings.HasPrefix(rest, "+"):
		rest = rest[1:]
	case strings.HasPrefix(rest, "00"):
		rest = rest[2:]
	default:
		return bad()
	}
	b.WriteByte('+')
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return bad()
		}
	}
	out := b.String()
	// E.164: a country code that does not start with 0, 7 to 15 digits in all.
	if n := len(out) - 1; n < 7 || n > 15 || out[1] == '0' {
		return bad()
	}
	return out, nil
}

// validateProfileName checks a subscriber's name: optional, at most MaxProfileNameLen
// bytes of text without control characters, no leading or trailing space.
func validateProfileName(s string) error {
	if err := validateText("name", s, MaxProfileNameLen); err != nil {
		return err
	}
	if s != strings.TrimFunc(s, unicode.IsSpace) {
		return invalid("name: %q must not start or end with a space", s)
	}
	return nil
}
