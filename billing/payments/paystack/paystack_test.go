package paystack_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tollgate/billing/billingtest"
	"tollgate/billing/payments"
	"tollgate/billing/payments/paystack"
	"tollgate/radius"
)

func topUp() *payments.TopUp {
	return &payments.TopUp{Reference: payments.NewReference(), AmountCents: 250000, Currency: "NGN"}
}

// TestInitialize runs the checkout against a local fake of Paystack's API: the request
// carries the Bearer key, the amount in minor units, the currency, tollgate's reference
// and the callback URL, and the answer's authorization URL comes back; refusals quote
// Paystack's message as EINVALID, an API that cannot be reached or answers nonsense is
// EINTERNAL.
func TestInitialize(t *testing.T) {
	ctx := context.Background()
	fake := billingtest.MustPaystack(t, "sk_test_key")
	c := &paystack.Client{BaseURL: fake.URL, SecretKey: "sk_test_key", CallbackURL: "https://wifi.example/my"}
	tu := topUp()
	url, err := c.Initialize(ctx, tu, "ada@example.com")
	if err != nil || url != "https://checkout.paystack.test/ac1" {
		t.Fatalf("Initialize = %q, %v", url, err)
	}
	inits := fake.Inits()
	if len(inits) != 1 || inits[0].Email != "ada@example.com" || inits[0].Amount != 250000 || inits[0].Currency != "NGN" ||
		inits[0].Reference != tu.Reference || inits[0].CallbackURL != "https://wifi.example/my" || inits[0].Metadata["topup_reference"] != tu.Reference {
		t.Fatalf("request %+v", inits)
	}

	t.Run("the same reference twice", func(t *testing.T) {
		_, err := c.Initialize(ctx, tu, "ada@example.com")
		if radius.ErrorCode(err) != radius.EINVALID || !strings.Contains(err.Error(), "Duplicate Transaction Reference") {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		bad := &paystack.Client{BaseURL: fake.URL, SecretKey: "sk_test_other"}
		_, err := bad.Initialize(ctx, topUp(), "ada@example.com")
		if radius.ErrorCode(err) != radius.EINVALID || !strings.Contains(err.Error(), "(401): Invalid key") {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		fake.Refuse("Currency not supported by merchant")
		defer fake.Refuse("")
		_, err := c.Initialize(ctx, topUp(), "ada@example.com")
		if radius.ErrorCode(err) != radius.EINVALID || !strings.Contains(radius.ErrorMessage(err), "Currency not supported") {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}))
		defer srv.Close()
		_, err := (&paystack.Client{BaseURL: srv.URL, SecretKey: "k"}).Initialize(ctx, topUp(), "a@b.c")
		if radius.ErrorCode(err) != radius.EINTERNAL {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("answer for another reference", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"status":true,"data":{"authorization_url":"https://checkout.paystack.test/x","reference":"other"}}`))
		}))
		defer srv.Close()
		_, err := (&paystack.Client{BaseURL: srv.URL, SecretKey: "k"}).Initialize(ctx, topUp(), "a@b.c")
		if radius.ErrorCode(err) != radius.EINTERNAL || !strings.Contains(err.Error(), `"other"`) {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("no authorization URL", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"status":true,"data":{"authorization_url":"javascript:alert(1)"}}`))
		}))
		defer srv.Close()
		_, err := (&paystack.Client{BaseURL: srv.URL, SecretKey: "k"}).Initialize(ctx, topUp(), "a@b.c")
		if radius.ErrorCode(err) != radius.EINTERNAL {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cl := &paystack.Client{BaseURL: "http://" + addr, SecretKey: "k", HTTP: &http.Client{Timeout: time.Second}}
		if _, err := cl.Initialize(ctx, topUp(), "a@b.c"); radius.ErrorCode(err) != radius.EINTERNAL {
			t.Fatalf("= %v", err)
		}
	})
}
