package hotspot

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestDefaultAlphabet(t *testing.T) {
	if err := ValidateCharset(DefaultAlphabet); err != nil {
		t.Fatal(err)
	}
	if len(DefaultAlphabet) != 32 {
		t.Fatalf("default alphabet has %d symbols; 32 maps a byte without bias", len(DefaultAlphabet))
	}
	for _, c := range "0O1Il" {
		if strings.ContainsRune(DefaultAlphabet, c) {
			t.Fatalf("default alphabet has the look-alike %q", c)
		}
	}
}

func TestValidateCharsetAndPrefix(t *testing.T) {
	charsets := []struct {
		in string
		ok bool
	}{
		{DefaultAlphabet, true},
		{"0123456789", true},
		{"abcdefghijklmnopqrstuvwxyz0123456789", true}, // folded to upper case
		{"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", false}, // codes ignore case
		{"012345678", false},   // too few
		{"0123456789-", false}, // not alphanumeric
		{"01234567890", false}, // duplicate
		{"0123456789é", false},
		{"", false},
	}
	for _, tc := range charsets {
		if err := ValidateCharset(tc.in); (err == nil) != tc.ok {
			t.Fatalf("ValidateCharset(%q) = %v", tc.in, err)
		} else if err != nil && !strings.HasPrefix(err.Error(), "charset:") {
			t.Fatalf("ValidateCharset(%q) = %v, want a charset: message", tc.in, err)
		}
	}
	prefixes := []struct {
		in string
		ok bool
	}{
		{"", true}, {"HS-", true}, {"a_b9", true}, {strings.Repeat("P", MaxPrefix), true},
		{strings.Repeat("P", MaxPrefix+1), false}, {"a b", false}, {"a,b", false}, {"é", false},
	}
	for _, tc := range prefixes {
		if err := ValidatePrefix(tc.in); (err == nil) != tc.ok {
			t.Fatalf("ValidatePrefix(%q) = %v", tc.in, err)
		}
	}
}

func TestCodeGenShapeAndUniformity(t *testing.T) {
	g := newCodeGen(rand.Reader, DefaultAlphabet)
	counts := map[rune]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		c, err := g.next("HS-", 8)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 11 || !strings.HasPrefix(c, "HS-") {
			t.Fatalf("code %q", c)
		}
		for _, r := range c[3:] {
			if !strings.ContainsRune(DefaultAlphabet, r) {
				t.Fatalf("code %q has %q", c, r)
			}
			counts[r]++
		}
	}
	// Every symbol appears about n*8/32 = 5000 times; a biased draw would stray far.
	for _, r := range DefaultAlphabet {
		if got := counts[r]; got < 4400 || got > 5600 {
			t.Fatalf("symbol %q drawn %d times of %d, want about 5000", r, got, n*8)
		}
	}
}

func TestCodeGenRejectsBiasedBytes(t *testing.T) {
	// With 10 symbols, bytes 250..255 would favour 0..5: they must be skipped.
	src := bytes.NewReader([]byte{250, 251, 252, 253, 254, 255, 9, 19, 249})
	g := newCodeGen(src, "0123456789")
	c, err := g.next("", 3)
	if err != nil || c != "999" {
		t.Fatalf("next = %q, %v; want 999 from bytes 9, 19, 249", c, err)
	}
	if _, err := g.next("", 1); err == nil {
		t.Fatal("exhausted source: no error")
	}
}

// FuzzCodeGen feeds arbitrary charsets, prefixes, lengths and random bytes: whatever
// the validation accepts yields codes of exactly prefix + length symbols of the charset.
func FuzzCodeGen(f *testing.F) {
	f.Add(DefaultAlphabet, "HS-", 8, []byte("some random bytes to draw from...."))
	f.Add("0123456789", "", 4, []byte{255, 250, 1, 2, 3, 4, 5})
	f.Add("abc", "x y", 2, []byte{})
	f.Fuzz(func(t *testing.T, charset, prefix string, length int, random []byte) {
		if ValidateCharset(charset) != nil || ValidatePrefix(prefix) != nil || length < MinLength || length > MaxLength {
			return
		}
		g := newCodeGen(bytes.NewReader(random), charset)
		c, err := g.next(prefix, length)
		if err != nil {
			return // ran out of random bytes
		}
		if len(c) != len(prefix)+length || !strings.HasPrefix(c, prefix) {
			t.Fatalf("code %q from prefix %q length %d", c, prefix, length)
		}
		for _, r := range c[len(prefix):] {
			if !strings.ContainsRune(charset, r) {
				t.Fatalf("code %q has %q, not in %q", c, r, charset)
			}
		}
	})
}
