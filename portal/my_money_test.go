package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate/billing"
)

var fibreOnce sync.Map // harness → the plan "Fibre 20M" was made

// mustPaying adds a subscriber on the priced plan "Fibre 20M" (20.00 KES for 30 days)
// with a portal password and credits its wallet with credit cents, which pays the first
// period at once (an invoice and a receipt).
func (h *harness) mustPaying(username string, credit int64) sub {
	h.t.Helper()
	ctx := context.Background()
	bsvc := h.p.deps.My.Profiles.(*billing.Service)
	if _, loaded := fibreOnce.LoadOrStore(h, true); !loaded {
		if _, err := bsvc.CreatePlan(ctx, billing.Plan{Name: "Fibre 20M", Kind: "pppoe", RateLimit: "20M/20M", PriceCents: 2000, Period: "30d"}); err != nil {
			h.t.Fatal(err)
		}
	}
	s, err := bsvc.AddSubscriber(ctx, billing.NewSubscriber{Username: username, Password: "pppoe-secret", Plan: "Fibre 20M", Email: username + "@example.net"})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.p.deps.Auth.SetSubscriberPassword(ctx, s.ID, "password-"+username); err != nil {
		h.t.Fatal(err)
	}
	if credit > 0 {
		if _, err := h.money().Credit(ctx, billing.CreditRequest{Username: username, AmountCents: credit, Note: "cash", IdempotencyKey: "seed-" + username, Actor: "test"}); err != nil {
			h.t.Fatal(err)
		}
	}
	return sub{ID: s.ID, Username: username, Email: username + "@example.net"}
}

func (h *harness) money() *billing.SubscriberService {
	return h.p.deps.My.Money.(*billing.SubscriberService)
}

// TestMyMoney: /my shows the plan, the subscription's state and period end, the balance
// and the newest documents, and the data and time used in the subscription's period;
// GET /api/v1/my has the same; /my/invoices and
// /api/v1/my/invoices list the subscriber's own documents, each with a printable page;
// another subscriber's number, and a number that is no number, are 404.
func TestMyMoney(t *testing.T) {
	h := mustHarness(t, myConfig)
	dan := h.mustPaying("dan", 5000)
	eve := h.mustPaying("eve", 2000)
	c := h.client().mustLoginSubscriber(dan)

	resp, page := c.get("/my")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /my = %d", resp.StatusCode)
	}
	end := h.clock.Now().Add(30 * 24 * time.Hour).In(time.Local).Format("2 Jan 2006")
	for _, want := range []string{`<dd class="sub-plan">Fibre 20M</dd>`, "active, paid", `<dd class="sub-end">` + end, "<strong>30.00 KES</strong>",
		`href="/my/invoices/INV-`, `href="/my/invoices/RCT-`, `href="/my/topup"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/my lacks %q", want)
		}
	}
	if strings.Contains(page, `href="/my/renew"`) {
		t.Error("/my offers to renew a paid period")
	}
	var my myJSON
	if resp := c.apiJSON("GET", "/api/v1/my", "", &my); resp.StatusCode != 200 || my.Balance != "30.00" || my.Currency != "KES" ||
		my.Subscription == nil || my.Subscription.Plan != "Fibre 20M" || my.Subscription.State != "active" || !my.Subscription.Paid ||
		my.Subscription.RenewalPrice != "20.00" {
		t.Fatalf("GET /api/v1/my = %d %+v %+v", resp.StatusCode, my, my.Subscription)
	}

	var docs []myInvoiceJSON
	if resp := c.apiJSON("GET", "/api/v1/my/invoices", "", &docs); resp.StatusCode != 200 || len(docs) != 2 {
		t.Fatalf("GET /api/v1/my/invoices = %d %+v", resp.StatusCode, docs)
	}
	var inv, rct myInvoiceJSON
	for _, d := range docs {
		if d.Kind == "invoice" {
			inv = d
		} else {
			rct = d
		}
	}
	if inv.Total != "20.00" || inv.Tax != "2.76" || inv.Plan != "Fibre 20M" || rct.Total != "50.00" {
		t.Fatalf("documents %+v %+v", inv, rct)
	}
	if resp, page := c.get("/my/invoices"); resp.StatusCode != 200 || !strings.Contains(page, inv.Number) || !strings.Contains(page, rct.Number) {
		t.Fatalf("GET /my/invoices = %d", resp.StatusCode)
	}
	resp, page = c.get("/my/invoices/" + inv.Number)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /my/invoices/%s = %d", inv.Number, resp.StatusCode)
	}
	for _, want := range []string{"Invoice " + inv.Number, "Customer</dt><dd>dan", "VAT (16%)", "2.76 KES", "<strong>20.00 KES</strong>", "@media print"} {
		if !strings.Contains(page+css(t, c), want) {
			t.Errorf("the invoice page lacks %q", want)
		}
	}
	var one myInvoiceJSON
	if resp := c.apiJSON("GET", "/api/v1/my/invoices/"+rct.Number, "", &one); resp.StatusCode != 200 || one.Number != rct.Number || len(one.Lines) != 1 {
		t.Fatalf("GET /api/v1/my/invoices/%s = %d %+v", rct.Number, resp.StatusCode, one)
	}

	// Eve's documents are not Dan's: 404, as for a number that names nothing.
	eveDocs, err := h.money().Invoices(context.Background(), eve.Username, "", 10)
	if err != nil || len(eveDocs) != 2 {
		t.Fatalf("eve's documents %+v, %v", eveDocs, err)
	}
	for _, n := range []string{eveDocs[0].Number, eveDocs[1].Number, "INV-2026-999999", "not-a-number", "RCT-20x6-000001"} {
		if resp, _ := c.get("/my/invoices/" + url.PathEscape(n)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /my/invoices/%s = %d; want 404", n, resp.StatusCode)
		}
		if resp := c.apiJSON("GET", "/api/v1/my/invoices/"+url.PathEscape(n), "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /api/v1/my/invoices/%s = %d; want 404", n, resp.StatusCode)
		}
	}
	if _, page := c.get("/my/invoices"); strings.Contains(page, eveDocs[0].Number) {
		t.Error("Dan's list shows Eve's document")
	}

	// "Used this period" counts from the start of the subscription's current period:
	// after a renewal, the first period's session no longer counts.
	start := h.clock.Now()
	h.mustSession("dan", "dan-p1", start.Add(10*time.Minute), start.Add(40*time.Minute), 2e9, 3e9)
	h.advance(31 * 24 * time.Hour)
	if _, err := h.money().Renew(context.Background(), "dan", "test"); err != nil {
		t.Fatal(err)
	}
	second := start.Add(30 * 24 * time.Hour)
	h.mustSession("dan", "dan-p2", second.Add(time.Hour), second.Add(90*time.Minute), 100e6, 200e6)
	c = h.client().mustLoginSubscriber(dan)
	if _, page := c.get("/my"); !strings.Contains(page, `<strong class="used-data">300 MB</strong>`) || !strings.Contains(page, `<strong class="used-time">30m</strong>`) ||
		!strings.Contains(page, "since "+second.In(time.Local).Format("2 Jan 2006")) {
		i := max(strings.Index(page, "Used this period"), 0)
		t.Errorf("/my does not count this period alone: %.400s", page[i:])
	}
	if resp := c.apiJSON("GET", "/api/v1/my", "", &my); resp.StatusCode != 200 || my.Usage.Bytes != 300e6 || my.Usage.Seconds != 1800 ||
		my.Usage.Since == nil || my.Usage.Since.Sub(second).Abs() > time.Second {
		t.Errorf("GET /api/v1/my usage %+v", my.Usage)
	}
}

// css returns the portal's style sheet.
func css(t *testing.T, c *client) string {
	t.Helper()
	_, s := c.get("/static/style.css")
	return s
}

// TestMyRenew: /my/renew renews an owed period from the wallet when the balance covers
// it (after the period ended and before the billing pass), answering with the period,
// the invoice and the new balance; it needs the CSRF token; a second renewal finds
// nothing owed (409) and an empty wallet is 402 with what is short; the API does the
// same.
func TestMyRenew(t *testing.T) {
	h := mustHarness(t, myConfig)
	fay := h.mustPaying("fay", 6000) // the first period paid: 40.00 left
	c := h.client().mustLoginSubscriber(fay)
	if resp, page := c.get("/my/renew"); resp.StatusCode != 200 || !strings.Contains(page, "Nothing is due") {
		t.Fatalf("GET /my/renew before the end = %d: %.500s", resp.StatusCode, page)
	}
	if resp, _ := c.post("/my/renew", "/my/renew", nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("renew a paid period = %d; want 409", resp.StatusCode)
	}

	h.advance(31 * 24 * time.Hour)          // the period ended; no billing pass ran
	c = h.client().mustLoginSubscriber(fay) // the session's lifetime is over too
	resp, page := c.get("/my")
	if resp.StatusCode != 200 || !strings.Contains(page, `href="/my/renew"`) {
		t.Fatalf("/my does not offer to renew an owed, covered period: %.2000s", page)
	}
	if resp, _ := c.do("POST", "/my/renew", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("renew without the CSRF token = %d", resp.StatusCode)
	}
	resp, page = c.post("/my/renew", "/my/renew", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Renewed: your balance is now 20.00 KES.") || !strings.Contains(page, `href="/my/invoices/INV-`) {
		t.Fatalf("POST /my/renew = %d: %.2000s", resp.StatusCode, page)
	}
	if a := h.lastAudit(); a.Action != "subscription.renew" || a.Actor != "subscriber:fay" || !strings.Contains(a.Detail, "INV-") {
		t.Fatalf("audit %+v", a)
	}
	if resp, page := c.post("/my/renew", "/my/renew", nil); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "nothing is due") {
		t.Fatalf("renew twice = %d: %.1000s", resp.StatusCode, page)
	}

	h.advance(31 * 24 * time.Hour) // 20.00 left: covers one more
	c = h.client().mustLoginSubscriber(fay)
	var out renewJSON
	if resp := c.apiJSON("POST", "/api/v1/my/renew", "", &out); resp.StatusCode != 200 || len(out.Renewed) != 1 || out.Balance != "0.00" ||
		out.Renewed[0].Amount != "20.00" || !strings.HasPrefix(out.Renewed[0].Invoice, "INV-") {
		t.Fatalf("POST /api/v1/my/renew = %d %+v", resp.StatusCode, out)
	}
	h.advance(31 * 24 * time.Hour) // nothing left
	c = h.client().mustLoginSubscriber(fay)
	resp, page = c.post("/my/renew", "/my/renew", nil)
	if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(page, "Top up") {
		t.Fatalf("renew with an empty wallet = %d: %.1000s", resp.StatusCode, page)
	}
	if resp := c.apiJSON("POST", "/api/v1/my/renew", "", nil); resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("API renew with an empty wallet = %d", resp.StatusCode)
	}
	// Three invoices (each period) and one receipt.
	list, err := h.money().Invoices(context.Background(), "fay", billing.KindInvoice, 10)
	if err != nil || len(list) != 3 {
		t.Fatalf("invoices %d, %v", len(list), err)
	}
}

// fakeTopUp records the checkouts the portal starts.
type fakeTopUp struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeTopUp) StartTopUp(_ context.Context, username string, cents int64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, username+":"+billing.FormatCents(cents))
	return "https://checkout.example.com/pay/" + username, nil
}

// TestMyTopUp: without a payment provider /my/topup shows the operator's paybill text
// with the subscriber's account and what covers the renewal owed, and a checkout is
// refused (409); with one, the form (and the API) start a checkout of the amount typed
// and link the payer to it, audited; a bad amount is 422.
func TestMyTopUp(t *testing.T) {
	h := mustHarness(t, myConfig)
	gus := h.mustPaying("gus", 0) // the first period is owed
	c := h.client().mustLoginSubscriber(gus)
	resp, page := c.get("/my/topup")
	if resp.StatusCode != 200 || !strings.Contains(page, "Pay to paybill 123456, account = your username") ||
		!strings.Contains(page, `<strong class="account">gus</strong>`) || !strings.Contains(page, "at least 20.00") {
		t.Fatalf("GET /my/topup = %d: %.2000s", resp.StatusCode, page)
	}
	var info topUpInfoJSON
	if resp := c.apiJSON("GET", "/api/v1/my/topup", "", &info); resp.StatusCode != 200 || info.Provider || info.Paybill == "" || info.Username != "gus" || info.Suggest != "20.00" {
		t.Fatalf("GET /api/v1/my/topup = %d %+v", resp.StatusCode, info)
	}
	if resp, _ := c.post("/my/topup", "/my/topup", url.Values{"amount": {"20.00"}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("checkout without a provider = %d", resp.StatusCode)
	}
	if resp := c.apiJSON("POST", "/api/v1/my/topup", `{"amount":"20.00"}`, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("API checkout without a provider = %d", resp.StatusCode)
	}

	fake := &fakeTopUp{}
	h.p.deps.My.TopUp = fake
	if _, page := c.get("/my/topup"); !strings.Contains(page, `action="/my/topup"`) || !strings.Contains(page, `value="20.00"`) {
		t.Fatalf("the top-up form: %.2000s", page)
	}
	// The answer links to the provider's page (a form may not lead off the portal:
	// form-action 'self').
	resp, page = c.post("/my/topup", "/my/topup", url.Values{"amount": {"25.50"}})
	if resp.StatusCode != 200 || !strings.Contains(page, `id="checkout" href="https://checkout.example.com/pay/gus"`) || !strings.Contains(page, "Pay 25.50 KES") {
		t.Fatalf("POST /my/topup = %d: %.2000s", resp.StatusCode, page)
	}
	if a := h.lastAudit(); a.Action != "topup.start" || !strings.Contains(a.Detail, `"amount_cents": 2550`) {
		t.Fatalf("audit %+v", a)
	}
	var out topUpJSON
	if resp := c.apiJSON("POST", "/api/v1/my/topup", `{"amount":"10"}`, &out); resp.StatusCode != 200 || out.CheckoutURL == "" {
		t.Fatalf("POST /api/v1/my/topup = %d %+v", resp.StatusCode, out)
	}
	for _, bad := range []string{"0", "-5", "abc", ""} {
		if resp, _ := c.post("/my/topup", "/my/topup", url.Values{"amount": {bad}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("amount %q = %d; want 422", bad, resp.StatusCode)
		}
	}
	if len(fake.calls) != 2 || fake.calls[0] != "gus:25.50" || fake.calls[1] != "gus:10.00" {
		t.Fatalf("checkouts %v", fake.calls)
	}
}
