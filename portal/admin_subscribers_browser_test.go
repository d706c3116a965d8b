package portal

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserSubscribers: in headless Chromium an admin goes from the menu to the
// directory, finds a subscriber, opens its page, gets the profile form back with both
// bad fields named, saves it, double-clicks a top-up (credited once) and opens the
// receipt's A4 page (portal/e2e/subscribers.mjs), on a 390px phone and at 1280px.
// Screenshots go to E2E_SCREENSHOTS (default: a temporary directory) and are checked
// for their width.
func TestBrowserSubscribers(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}, OperatorName: "Mwangaza Net"})
	h.mustServe(t)
	alice := h.mustCustomer("alice", "Alice Wanjiru", "alice@example.com", "+254712345678")
	for _, u := range []string{"bob", "carol", "dan"} {
		h.mustCustomer(u, strings.ToUpper(u[:1])+u[1:]+" Otieno", u+"@example.org", "")
	}
	var bob int64
	if err := h.pool.QueryRow(context.Background(), `SELECT id FROM subscribers WHERE username = 'bob'`).Scan(&bob); err != nil {
		t.Fatal(err)
	}
	h.restrict(bob)
	now := h.clock.Now()
	h.mustSession("alice", "s-old", now.Add(-26*time.Hour), now.Add(-24*time.Hour), 3<<20, 1<<30)
	h.mustSession("alice", "s-live", now.Add(-90*time.Minute), time.Time{}, 5<<20, 3<<29)
	h.mustAuthLog("alice", "bad_password", now.Add(-2*time.Hour))
	h.mustAuthLog("alice", "ok", now.Add(-90*time.Minute))
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	mustRunE2E(t, node, chromium, "subscribers.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_EMAIL=" + h.admin.Email, "E2E_PASSWORD=password-" + h.admin.Email, "E2E_USER=alice", "E2E_RESTRICTED=bob", "E2E_SCREENSHOTS=" + shots},
		"ok the admin menu has Subscribers",
		"ok searching finds alice",
		"ok the directory fits a 390px phone",
		"ok the subscriber page fits a 390px phone",
		"ok the summary names Email and Phone",
		"ok each bad field has its message",
		"ok the profile is saved",
		"ok after a double click the balance is 5.00 USD (25.00 in, 20.00 for the month)",
		"ok at 1280px the page has two columns",
		"ok the receipt is for 25.00 USD",
		"ok printing leaves the navigation out",
		"ok the statement opens at 0.00 USD and closes at 5.00 USD",
		"ok the restricted row hides the name",
		"ok the restricted page asks for a reason",
		"ok with a reason the page shows",
		"ok the add form fits a 390px phone",
		"OK found, edited, topped up once, printed the receipt",
	)
	var topups int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger_entries l JOIN wallets w ON w.id = l.wallet_id
WHERE w.subscriber_id = $1 AND l.kind = 'topup'`, alice.ID).Scan(&topups); err != nil || topups != 1 {
		t.Errorf("%d top-ups in the ledger (%v); want 1", topups, err)
	}
	var actions []string
	for _, a := range h.audit() {
		actions = append(actions, a.Action)
	}
	got := strings.Join(actions, ",")
	for _, want := range []string{"subscriber.list", "subscriber.view", "subscriber.update", "wallet.credit", "invoice.view", "subscriber.statement", "subscriber.reason"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log %s has no %s", got, want)
		}
	}
	for name, width := range map[string]int{"subscribers-390.png": 390, "subscriber-390.png": 390, "subscriber-errors-390.png": 390,
		"subscriber-1280.png": 1280, "subscribers-1280.png": 1280, "receipt-1280.png": 1280, "statement-1280.png": 1280,
		"reason-390.png": 390, "new-390.png": 390} {
		f, err := os.Open(filepath.Join(shots, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		// The phone has a device scale factor of 2.
		if err != nil || cfg.Width != width && cfg.Width != 2*width {
			t.Errorf("%s: %d px wide, %v; want %d", name, cfg.Width, err, width)
		}
	}
}
