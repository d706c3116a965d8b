package portal

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"tollgate/billing"
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

// TestBrowserTopUpProvider: with a payment provider, /my/topup asks for an amount and
// sends the payer to the provider's checkout (a fake page here).
func TestBrowserTopUpProvider(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}, PublicURL: myConfig.PublicURL})
	h.mustServe(t)
	h.mustPaying("quin", 5000)
	fake := &fakeTopUp{}
	h.p.deps.My.TopUp = fake
	// The fake checkout is the portal's own status page, so the browser lands somewhere.
	checkout := "http://" + h.p.Addr().String() + "/hotspot/status"
	h.p.deps.My.TopUp = topUpFunc(func(ctx context.Context, username string, cents int64) (string, error) {
		if _, err := fake.StartTopUp(ctx, username, cents); err != nil {
			return "", err
		}
		return checkout + "?paid=" + username, nil
	})
	mustRunE2E(t, node, chromium, "rights.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_USER=quin", "E2E_PASSWORD=password-quin", "E2E_PROVIDER=" + checkout, "E2E_SCREENSHOTS=" + t.TempDir()},
		"ok the top-up asks for an amount",
		"ok the checkout starts at the provider",
		"OK money, top-up, consent, erasure and its cancel",
	)
	if len(fake.calls) != 1 || fake.calls[0] != "quin:15.00" {
		t.Fatalf("checkouts %v", fake.calls)
	}
}

// topUpFunc is a TopUpStarter made of a function.
type topUpFunc func(ctx context.Context, username string, cents int64) (string, error)

func (f topUpFunc) StartTopUp(ctx context.Context, username string, cents int64) (string, error) {
	return f(ctx, username, cents)
}
