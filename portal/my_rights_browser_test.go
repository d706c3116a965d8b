package portal

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/billing/payments"
	"tollgate/billing/payments/paystack"
	billingpg "tollgate/billing/postgres"
)

// TestBrowserMyRights: in headless Chromium a subscriber with a paid subscription sees
// the plan, its state and the balance on /my with the invoice and the receipt, opens
// the invoice as a printable page (the navigation is left out of print), finds the
// operator's paybill instructions on /my/topup, toggles a consent, asks for the
// erasure of the account with its password and cancels it (portal/e2e/rights.mjs); the
// erasure request and its cancellation are recorded. Screenshots at 390px and 1280px
// go to E2E_SCREENSHOTS (default: a temporary directory) and are checked for their
// width.
func TestBrowserMyRights(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}, PublicURL: myConfig.PublicURL})
	h.mustServe(t)
	pia := h.mustPaying("pia", 5000)
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	mustRunE2E(t, node, chromium, "rights.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_USER=pia", "E2E_PASSWORD=password-pia", "E2E_SCREENSHOTS=" + shots},
		"ok the balance is 30.00 KES",
		"ok the invoice and the receipt are listed",
		"ok printing leaves the navigation out",
		"ok the paybill instructions are shown",
		"ok the marketing consent toggled",
		"ok the erasure is scheduled",
		"ok the erasure is cancelled",
		"ok /my at 1280px has no sideways scroll",
		"OK money, top-up, consent, erasure and its cancel",
	)
	reqs, err := h.p.deps.My.Rights.RequestsOf(context.Background(), pia.ID)
	if err != nil || len(reqs) != 1 || reqs[0].Kind != billing.RequestErasure || reqs[0].State != billing.RequestCancelled {
		t.Fatalf("requests %+v, %v", reqs, err)
	}
	for name, width := range map[string]int{"money-390.png": 390, "invoice-390.png": 390, "topup-390.png": 390, "erasure-390.png": 390,
		"money-1280.png": 1280, "privacy-1280.png": 1280, "invoice-1280.png": 1280} {
		f, err := os.Open(filepath.Join(shots, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != width && cfg.Width != 2*width {
			t.Errorf("%s: %d px wide, %v; want %d", name, cfg.Width, err, width)
		}
	}
}

// TestBrowserTopUpProvider: with Paystack configured (the payments service against a
// local fake of Paystack's API), /my/topup asks for an amount and sends the payer to the
// checkout page Paystack answered (which the browser is given by the test, as the fake's
// host does not exist): a pending top-up of that amount exists, and Paystack was asked
// with the subscriber's email.
func TestBrowserTopUpProvider(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}, PublicURL: myConfig.PublicURL})
	h.mustPaying("quin", 5000)
	const key = "sk_test_browser_1"
	fake := billingtest.MustPaystack(t, key)
	pay := &payments.Service{Store: billingpg.NewStore(h.pool), InTx: billingpg.PaymentsInTx(h.pool), Money: h.money(),
		Gateways: map[payments.Provider]payments.Gateway{payments.Paystack: &paystack.Client{BaseURL: fake.URL, SecretKey: key}},
		Config:   payments.Config{Currency: "KES", PaystackSecret: []byte(key)}}
	h.p.deps.My.TopUp = topUpFunc(func(ctx context.Context, username string, cents int64) (string, error) {
		_, url, err := pay.StartTopUp(ctx, username, cents, string(payments.Paystack))
		return url, err
	})
	h.mustServe(t) // after the wiring above: the server's goroutines read it
	mustRunE2E(t, node, chromium, "rights.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_USER=quin", "E2E_PASSWORD=password-quin", "E2E_PROVIDER=https://checkout.paystack.test/", "E2E_SCREENSHOTS=" + t.TempDir()},
		"ok the top-up asks for an amount",
		"ok the checkout starts at the provider",
		"ok the provider's page shows",
		"OK money, top-up, consent, erasure and its cancel",
	)
	inits := fake.Inits()
	if len(inits) != 1 || inits[0].Amount != 1500 || inits[0].Email != "quin@example.net" || inits[0].Currency != "KES" {
		t.Fatalf("Paystack was asked %+v", inits)
	}
	tops, err := pay.TopUps(context.Background(), "quin", payments.Pending, 10)
	if err != nil || len(tops) != 1 || tops[0].AmountCents != 1500 || tops[0].Reference != inits[0].Reference {
		t.Fatalf("pending top-ups %+v, %v", tops, err)
	}
}

// topUpFunc is a TopUpStarter made of a function.
type topUpFunc func(ctx context.Context, username string, cents int64) (string, error)

func (f topUpFunc) StartTopUp(ctx context.Context, username string, cents int64) (string, error) {
	return f(ctx, username, cents)
}
