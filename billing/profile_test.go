package billing

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Jane@Example.COM", "jane@example.com", true},
		{"  jane@example.com ", "jane@example.com", true},
		{"", "", true},
		{"   ", "", true},
		{"jane", "", false},
		{"Jane <jane@example.com>", "", false},
		{"jane @example.com", "", false},
		{"a@", "", false},
		{strings.Repeat("a", 250) + "@x.io", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "email:") {
			t.Errorf("NormalizeEmail(%q): %v does not name the field", tt.in, err)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"+254712345678", "+254712345678"},
		{"+254 712 345 678", "+254712345678"},
		{"+254-712-345-678", "+254712345678"},
		{"00254 (712) 345.678", "+254712345678"},
		{" +1 415 555 0100 ", "+14155550100"},
		{"", ""},
		{"0712345678", ""},        // national: which country?
		{"712345678", ""},         // no prefix
		{"+0712345678", ""},       // a country code never starts with 0
		{"+12345", ""},            // too short
		{"+1234567890123456", ""}, // 16 digits
		{"+254 712 ABC", ""},
		{"++254712345678", ""},
		{"+254/712345678", ""},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in)
		if (tt.want != "" || tt.in == "") != (err == nil) || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "phone: ") || err != nil && !strings.Contains(err.Error(), "+254712345678") {
			t.Errorf("NormalizePhone(%q): %v should name the field and show the form", tt.in, err)
		}
	}
}
