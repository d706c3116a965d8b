package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigPayments: the payment settings' defaults, the secrets read from the
// environment or from a file (_FILE), printed redacted, and a refusal naming the
// variable for each bad value.
func TestConfigPayments(t *testing.T) {
	c := mustDefaultConfig(t)
	if c.PaystackSecretKey != "" || c.PaystackBaseURL != "https://api.paystack.co" || c.WebhookSecrets != nil || c.TopUpTTL != time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	t.Run("set, secrets from files", func(t *testing.T) {
		dir := t.TempDir()
		key, wh := filepath.Join(dir, "paystack"), filepath.Join(dir, "webhook")
		if err := os.WriteFile(key, []byte("sk_live_s3cretkey\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(wh, []byte(whsec+" "+whsec+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TOLLGATE_PAYSTACK_SECRET_KEY_FILE", key)
		t.Setenv("TOLLGATE_WEBHOOK_SECRET_FILE", wh)
		t.Setenv("TOLLGATE_PAYSTACK_BASE_URL", "http://127.0.0.1:9999/")
		t.Setenv("TOLLGATE_TOPUP_TTL", "2d")
		c, err := loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		if c.PaystackSecretKey != "sk_live_s3cretkey" || len(c.WebhookSecrets) != 2 || c.PaystackBaseURL != "http://127.0.0.1:9999" || c.TopUpTTL != 48*time.Hour {
			t.Fatalf("config %+v", c)
		}
		got := map[string]string{}
		for _, kv := range c.redacted() {
			got[kv[0]] = kv[1]
			if strings.Contains(kv[1], "s3cret") || strings.Contains(kv[1], strings.TrimPrefix(whsec, "whsec_")) {
				t.Errorf("%s = %q shows a secret", kv[0], kv[1])
			}
		}
		if got["TOLLGATE_PAYSTACK_SECRET_KEY"] != "***** (set)" || got["TOLLGATE_WEBHOOK_SECRET"] != "***** (2 set)" ||
			got["TOLLGATE_TOPUP_TTL"] != "48h0m0s" || got["TOLLGATE_PAYSTACK_BASE_URL"] != "http://127.0.0.1:9999" {
			t.Fatalf("printed %v", got)
		}
	})
	for _, tc := range []struct{ name, value string }{
		{"TOLLGATE_PAYSTACK_SECRET_KEY", "sk test with spaces"},
		{"TOLLGATE_PAYSTACK_SECRET_KEY", "short"},
		{"TOLLGATE_PAYSTACK_BASE_URL", "api.paystack.co"},
		{"TOLLGATE_PAYSTACK_BASE_URL", "https://user:pw@api.paystack.co"},
		{"TOLLGATE_WEBHOOK_SECRET", "not-whsec"},
		{"TOLLGATE_WEBHOOK_SECRET", "whsec_%%%"},
		{"TOLLGATE_WEBHOOK_SECRET", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))},
		{"TOLLGATE_TOPUP_TTL", "30s"},
		{"TOLLGATE_TOPUP_TTL", "60d"},
		{"TOLLGATE_TOPUP_TTL", "soon"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := loadConfig(); err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") {
				t.Fatalf("loadConfig = %v; want an error naming %s", err, tc.name)
			}
		})
	}
	t.Run("both the variable and its file", func(t *testing.T) {
		t.Setenv("TOLLGATE_PAYSTACK_SECRET_KEY", "sk_test_abcdefgh")
		t.Setenv("TOLLGATE_PAYSTACK_SECRET_KEY_FILE", "/nonexistent")
		if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "set one") {
			t.Fatalf("= %v", err)
		}
	})
}
