package hotspot

import (
	"bufio"
	"io"
	"math"
	"strings"
)

// Code defaults and limits.
const (
	// DefaultAlphabet has no look-alike characters: no 0/O, 1/I/l. 32 symbols, so a
	// random byte maps to one without bias.
	DefaultAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	// DefaultLength is the number of random characters in a code (40 bits).
	DefaultLength = 8
	// MinLength and MaxLength bound the random part of a code.
	MinLength = 4
	MaxLength = 32
	// MinAlphabet is the fewest distinct characters a charset may have.
	MinAlphabet = 10
	// MaxPrefix is the longest prefix.
	MaxPrefix = 16
	// MaxBatch is the most vouchers one batch may hold.
	MaxBatch = 100000
	// MinCodeSpace is the fewest codes a length and charset must allow (2^40), so that
	// codes cannot be guessed by trying them: with the RADIUS throttle of failed logins,
	// finding one of 100,000 vouchers would take centuries.
	MinCodeSpace = 1 << 40
	// SpacePerVoucher is how many possible codes a batch needs per voucher, so that
	// collisions stay rare and regenerating them ends quickly.
	SpacePerVoucher = 1000
)

// ValidateCharset checks a custom alphabet: ASCII letters and digits only (codes go
// into CSV files, URLs and RouterOS without quoting), at least MinAlphabet of them, none
// twice. Codes are case-insensitive (radius.NormalizeCode), so a letter in both cases
// counts twice; generation folds the charset to upper case. It returns an EINVALID error
// starting with "charset:".
func ValidateCharset(cs string) error {
	cs = strings.ToUpper(cs)
	if len(cs) < MinAlphabet || len(cs) > 62 {
		return invalid("charset: must have %d to 62 characters", MinAlphabet)
	}
	var seen [128]bool
	for i := 0; i < len(cs); i++ {
		c := cs[i]
		if !isAlnum(c) {
			return invalid("charset: %q has %q; use ASCII letters and digits", cs, rune(c))
		}
		if seen[c] {
			return invalid("charset: %q has %q twice", cs, rune(c))
		}
		seen[c] = true
	}
	return nil
}

// ValidatePrefix checks a code prefix: at most MaxPrefix ASCII letters, digits, '-' or
// '_'. It returns an EINVALID error starting with "prefix:".
func ValidatePrefix(p string) error {
	if len(p) > MaxPrefix {
		return invalid("prefix: must be at most %d characters", MaxPrefix)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isAlnum(c) && c != '-' && c != '_' {
			return invalid("prefix: %q has %q; use letters, digits, '-' and '_'", p, rune(c))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// CodeSpace returns how many codes length characters of an alphabet of n symbols make
// (as a float: it can exceed int64).
func CodeSpace(n, length int) float64 { return math.Pow(float64(n), float64(length)) }

// codeGen draws uniformly random strings over an alphabet from a random source
// (crypto/rand in production). It reads the source in large blocks and rejects the
// bytes that would bias the draw (none for a 32-symbol alphabet).
type codeGen struct {
	r        *bufio.Reader
	alphabet string
	limit    int // bytes >= limit are rejected: 256 minus 256 mod len(alphabet)
}

func newCodeGen(src io.Reader, alphabet string) *codeGen {
	return &codeGen{r: bufio.NewReaderSize(src, 64<<10), alphabet: alphabet, limit: 256 - 256%len(alphabet)}
}

// next returns prefix followed by n random symbols.
func (g *codeGen) next(prefix string, n int) (string, error) {
	var b strings.Builder
	b.Grow(len(prefix) + n)
	b.WriteString(prefix)
	for i := 0; i < n; {
		c, err := g.r.ReadByte()
		if err != nil {
			return "", err
		}
		if int(c) >= g.limit {
			continue
		}
		b.WriteByte(g.alphabet[int(c)%len(g.alphabet)])
		i++
	}
	return b.String(), nil
}
