package portal

import (
	"context"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// TestBrowserResellerBuys: a reseller buys a batch and cannot overspend. With 5.00 in
// the wallet and vouchers at 1.00, the reseller signs in through /login in headless
// Chromium, buys 3 (2.00 left), is refused 5, and prints the batch of 3
// (portal/e2e/reseller.mjs). The database then holds one batch of 3 and one purchase.
func TestBrowserResellerBuys(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustPrintHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}})
	ctx := context.Background()
	d := h.p.deps.Vouchers
	if _, err := d.Plans.CreatePlan(ctx, billing.Plan{Name: "Hour pass", Kind: radius.KindHotspot, Validity: time.Hour, PriceCents: 150, ResellerPriceCents: 100, ValidityFrom: billing.FromFirstLogin}); err != nil {
		t.Fatal(err)
	}
	name := h.reseller.ResellerName
	if _, err := d.Resellers.Credit(ctx, name, 5_00, "cash", "browser-"+h.prefix, "test"); err != nil {
		t.Fatal(err)
	}
	h.mustServe(t)
	mustRunE2E(t, node, chromium, "reseller.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_EMAIL=" + h.reseller.Email, "E2E_PASSWORD=password-" + h.reseller.Email,
			"E2E_PLAN=Hour pass", "E2E_BUY=3", "E2E_OVERSPEND=5", "E2E_BALANCE=2.00 USD"},
		"ok the balance shows 2.00",
		"ok the page shows the not-enough-balance message",
		"ok the balance still shows 2.00",
		"ok the print view shows 3 cards",
		"OK reseller bought a batch, could not overspend and printed it",
	)
	if n := h.count(`SELECT count(*) FROM voucher_batches WHERE reseller = $1`, name); n != 1 {
		t.Errorf("%d batches for %s; want 1", n, name)
	}
	if n := h.count(`SELECT count(*) FROM voucher_batches WHERE reseller = $1 AND count = 3`, name); n != 1 {
		t.Errorf("no batch of 3 for %s", name)
	}
	if n := h.count(`SELECT count(*) FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id WHERE b.reseller = $1`, name); n != 3 {
		t.Errorf("%d vouchers for %s; want 3", n, name)
	}
	if n := h.count(`SELECT count(*) FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id JOIN resellers r ON r.id = w.reseller_id WHERE r.name = $1 AND l.kind = 'purchase'`, name); n != 1 {
		t.Errorf("%d purchases in the ledger; want 1", n)
	}
	if b := h.balance(); b != 2_00 {
		t.Errorf("balance %d; want 200", b)
	}
}
