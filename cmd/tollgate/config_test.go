package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"postgres url", "postgres://tollgate:s3cret@db.example:5432/tollgate?sslmode=require", "postgres://tollgate:xxxxx@db.example:5432/tollgate?sslmode=require"},
		{"postgres url without password", "postgres://postgres@127.0.0.1:5432/tollgate", "postgres://postgres@127.0.0.1:5432/tollgate"},
		{"postgres url, password parameter", "postgresql://u@db/x?password=s3cret&sslmode=disable", "postgresql://u@db/x?password=xxxxx&sslmode=disable"},
		{"postgres url, several hosts", "postgres://u:s3cret@h1:5432,h2:5432/x?password=s3cret&sslmode=disable", "postgres://u:xxxxx@h1:5432,h2:5432/x?password=xxxxx&sslmode=disable"},
		{"key=value dsn", "host=db user=tollgate password=s3cret dbname=tollgate", "host=db user=tollgate password=xxxxx dbname=tollgate"},
		{"key=value dsn, quoted", "host=db password = 's3 cr\\'et' dbname=tollgate", "host=db password = xxxxx dbname=tollgate"},
		{"key=value dsn without password", "host=db user=tollgate", "host=db user=tollgate"},
		{"redis url", "redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis url with user", "rediss://default:s3cret@cache.example:6380/2", "rediss://default:xxxxx@cache.example:6380/2"},
		{"redis url without password", "redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := redactURL(tc.in)
			if got != tc.want {
				t.Fatalf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Contains(got, "s3") {
				t.Fatalf("redactURL(%q) = %q still shows the password", tc.in, got)
			}
		})
	}
}

func TestConfigRedacted(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://tollgate:pg-s3cret@127.0.0.1:5432/tollgate")
	t.Setenv("REDIS_URL", "redis://:redis-s3cret@127.0.0.1:6379/0")
	t.Setenv("TOLLGATE_SECRET_KEY", testKey)
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range c.redacted() {
		got[kv[0]] = kv[1]
		if strings.Contains(kv[1], "s3cret") || strings.Contains(kv[1], testKey) {
			t.Errorf("%s = %q shows a secret", kv[0], kv[1])
		}
	}
	if got["DATABASE_URL"] != "postgres://tollgate:xxxxx@127.0.0.1:5432/tollgate" || got["REDIS_URL"] != "redis://:xxxxx@127.0.0.1:6379/0" {
		t.Errorf("redacted URLs = %q, %q", got["DATABASE_URL"], got["REDIS_URL"])
	}
}

func TestParseLogLevel(t *testing.T) {
	cases := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"info", slog.LevelInfo, false},
		{"DEBUG", slog.LevelDebug, false},
		{"Warn", slog.LevelWarn, false},
		{"warning", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"debug-4", slog.LevelDebug - 4, false},
		{"loud", 0, true},
		{"5", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseLogLevel(tc.in)
			switch {
			case tc.wantErr && (err == nil || !strings.HasPrefix(err.Error(), "LOG_LEVEL: ")):
				t.Fatalf("parseLogLevel(%q) = %v, %v; want an error naming LOG_LEVEL", tc.in, got, err)
			case !tc.wantErr && (err != nil || got != tc.want):
				t.Fatalf("parseLogLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestConfigMoney: the money settings' defaults, accepted values, and a refusal naming
// the variable for each bad one.
func TestConfigMoney(t *testing.T) {
	c := mustDefaultConfig(t)
	if c.Currency != "USD" || c.TaxRateBP != 0 || c.TaxName != "Tax" || c.Location.String() != "UTC" ||
		joinInts(c.RemindDays) != "7,3,1" || c.BillingInterval != time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	t.Run("set", func(t *testing.T) {
		t.Setenv("TOLLGATE_CURRENCY", "KES")
		t.Setenv("TOLLGATE_TAX_RATE", "7.5")
		t.Setenv("TOLLGATE_TAX_NAME", "VAT")
		t.Setenv("TOLLGATE_TIMEZONE", "Africa/Nairobi")
		t.Setenv("TOLLGATE_REMIND_DAYS", "1,5")
		t.Setenv("TOLLGATE_BILLING_INTERVAL", "15m")
		c, err := loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		m := c.money()
		if m.Currency != "KES" || m.TaxRateBP != 750 || m.TaxName != "VAT" || m.Location.String() != "Africa/Nairobi" ||
			joinInts(m.RemindDays) != "5,1" || c.BillingInterval != 15*time.Minute {
			t.Fatalf("config %+v", c)
		}
		got := map[string]string{}
		for _, kv := range c.redacted() {
			got[kv[0]] = kv[1]
		}
		if got["TOLLGATE_TAX_RATE"] != "7.5" || got["TOLLGATE_REMIND_DAYS"] != "5,1" || got["TOLLGATE_TIMEZONE"] != "Africa/Nairobi" {
			t.Fatalf("printed %v", got)
		}
	})
	t.Run("reminders off", func(t *testing.T) {
		t.Setenv("TOLLGATE_REMIND_DAYS", "0")
		if c, err := loadConfig(); err != nil || c.RemindDays != nil {
			t.Fatalf("%v, %v", c.RemindDays, err)
		}
	})
	for _, tc := range []struct{ name, value string }{
		{"TOLLGATE_CURRENCY", "usd"},
		{"TOLLGATE_CURRENCY", "DOLLAR"},
		{"TOLLGATE_TAX_RATE", "16%"},
		{"TOLLGATE_TAX_RATE", "101"},
		{"TOLLGATE_TAX_NAME", strings.Repeat("x", 33)},
		{"TOLLGATE_TIMEZONE", "Mars/Olympus"},
		{"TOLLGATE_REMIND_DAYS", "7,x"},
		{"TOLLGATE_REMIND_DAYS", "90"},
		{"TOLLGATE_BILLING_INTERVAL", "0s"},
		{"TOLLGATE_BILLING_INTERVAL", "2d"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := loadConfig(); err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") {
				t.Fatalf("loadConfig = %v; want an error naming %s", err, tc.name)
			}
		})
	}
}

// TestConfigPrivacy: TOLLGATE_ERASURE_GRACE defaults to 7 days, takes 0 (erase at the
// next run) and "48h" as given, and refuses what is not a duration from 0 to 90 days;
// the retention variables default to 12 months and 7 years and refuse 0.
func TestConfigPrivacy(t *testing.T) {
	c := mustDefaultConfig(t)
	if c.Privacy.ErasureGrace != 7*24*time.Hour || c.RetentionMonths != 12 || c.FinanceRetentionYears != 7 {
		t.Fatalf("defaults: grace %s, %d months, %d years", c.Privacy.ErasureGrace, c.RetentionMonths, c.FinanceRetentionYears)
	}
	for value, want := range map[string]time.Duration{"0": 0, "48h": 48 * time.Hour, "90d": 90 * 24 * time.Hour} {
		t.Setenv("TOLLGATE_ERASURE_GRACE", value)
		c, err := loadConfig()
		if err != nil || c.Privacy.ErasureGrace != want {
			t.Fatalf("TOLLGATE_ERASURE_GRACE=%s: %v, %v; want %s", value, c.Privacy.ErasureGrace, err, want)
		}
		// What cmd gives the requests service is the delay as set: 0 is none, not the default.
		if got := (&deps{cfg: c}).rights().ErasureGrace(); got != want {
			t.Fatalf("TOLLGATE_ERASURE_GRACE=%s: the service waits %s", value, got)
		}
	}
	for _, tc := range []struct{ name, value string }{
		{"TOLLGATE_ERASURE_GRACE", "-1h"},
		{"TOLLGATE_ERASURE_GRACE", "91d"},
		{"TOLLGATE_ERASURE_GRACE", "soon"},
		{"TOLLGATE_RETENTION_MONTHS", "0"},
		{"TOLLGATE_FINANCE_RETENTION_YEARS", "0"},
		{"TOLLGATE_FINANCE_RETENTION_YEARS", "101"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv("TOLLGATE_ERASURE_GRACE", "")
			t.Setenv(tc.name, tc.value)
			if _, err := loadConfig(); err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") {
				t.Fatalf("loadConfig = %v; want an error naming %s", err, tc.name)
			}
		})
	}
}

// mustDefaultConfig loads the configuration with only the required variables set.
func mustDefaultConfig(t *testing.T) *Config {
	t.Helper()
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tollgate")
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	t.Setenv("TOLLGATE_SECRET_KEY", testKey)
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
