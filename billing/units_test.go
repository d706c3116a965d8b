package billing

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"90m", 90 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"30s", 30 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"30d", 30 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"2w", 14 * day, true},
		{"1w2d3h4m5s", 9*day + 3*time.Hour + 4*time.Minute + 5*time.Second, true},
		{"3650d", 3650 * day, true},
		{"-1d", -day, true},
		{"+2h", 2 * time.Hour, true},
		{"", 0, false},
		{"-", 0, false},
		{"30", 0, false},
		{"d", 0, false},
		{"1x", 0, false},
		{"1dd", 0, false},
		{"1.2.3h", 0, false},
		{"1 d", 0, false},
		{"300000w", 0, false}, // overflows int64 nanoseconds
		{"106751d23h", 106751*day + 23*time.Hour, true},
		{"106751d24h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			wantInvalid(t, err, "duration ")
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"500000", 500000, true},
		{"512B", 512, true},
		{"1k", 1000, true},
		{"1K", 1000, true},
		{"1kB", 1000, true},
		{"1KiB", 1024, true},
		{"1kiB", 1024, true},
		{"500M", 500e6, true},
		{"500MB", 500e6, true},
		{"1m", 1e6, true},
		{"1MiB", 1 << 20, true},
		{"1G", 1e9, true},
		{"1GB", 1e9, true},
		{"1g", 1e9, true},
		{"1GiB", 1 << 30, true},
		{"2T", 2e12, true},
		{"1TiB", 1 << 40, true},
		{"1.5G", 1.5e9, true},
		{"0.5GiB", 1 << 29, true},
		{".5k", 500, true},
		{"1.", 1, true},
		{"0.1KiB", 102, true}, // 102.4 rounds to 102
		{"0.5B", 1, true},     // rounds half up
		{"8388607T", 8388607e12, true},
		{"", 0, false},
		{".", 0, false},
		{"-1G", 0, false},
		{"1Gb", 0, false},
		{"1gib", 0, false},
		{"1 G", 0, false},
		{"1P", 0, false},
		{"1.2.3", 0, false},
		{"G", 0, false},
		{"9223372036854775808", 0, false},
		{"9300000T", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("ParseSize(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			wantInvalid(t, err, "size ")
		})
	}
}
