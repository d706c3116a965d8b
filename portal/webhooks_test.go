package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/billing/payments"
	"tollgate/billing/payments/paystack"
	billingpg "tollgate/billing/postgres"
)

// The secrets the harness's payment providers sign with.
const testPaystackKey = "sk_test_portal_0123"

var testWebhookKey = []byte("portal-webhook-key-0123456789abc")

// mustMoney is the money engine of a harness (USD, no tax).
func mustMoney(pool *pgxpool.Pool) *billing.SubscriberService {
	return &billing.SubscriberService{Store: billingpg.NewStore(pool), InTx: billingpg.InTx(pool),
		Config: billing.MoneyConfig{TaxRules: billing.TaxRules{Currency: "USD", TaxName: "Tax"}, Rules: billing.Rules{Location: time.UTC}}}
}

// mustPayments is the payments service of a harness: Paystack is a local fake.
func mustPayments(tb testing.TB, pool *pgxpool.Pool) *payments.Service {
	tb.Helper()
	fake := billingtest.MustPaystack(tb, testPaystackKey)
	bs := billingpg.NewStore(pool)
	return &payments.Service{Store: bs, InTx: billingpg.PaymentsInTx(pool), Money: mustMoney(pool),
		Gateways: map[payments.Provider]payments.Gateway{payments.Paystack: &paystack.Client{BaseURL: fake.URL, SecretKey: testPaystackKey}},
		Config:   payments.Config{Currency: "USD", PaystackSecret: []byte(testPaystackKey), WebhookSecrets: [][]byte{testWebhookKey}}}
}

func (h *harness) payments() *payments.Service { return h.p.deps.Payments.(*payments.Service) }

// mustTopUp starts a Paystack top-up of cents for username.
func (h *harness) mustTopUp(username string, cents int64) *payments.TopUp {
	h.t.Helper()
	tu, _, err := h.payments().StartTopUp(context.Background(), username, cents, "paystack")
	if err != nil {
		h.t.Fatal(err)
	}
	return tu
}

// postWebhook posts body to path with headers, as a provider would: no cookie, no CSRF
// token, from ip, on the guests' listener (or on the staff's when staff).
func (h *harness) postWebhook(staff bool, ip, path string, body []byte, header map[string]string) (int, string) {
	h.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	test := h.p.Test
	if staff {
		test = h.p.TestAdmin
	}
	resp, err := test(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func paystackHeader(body []byte) map[string]string {
	return map[string]string{"X-Paystack-Signature": payments.SignPaystack([]byte(testPaystackKey), body)}
}

func standardHeader(id string, ts time.Time, body []byte, keys ...[]byte) map[string]string {
	if keys == nil {
		keys = [][]byte{testWebhookKey}
	}
	var sigs []string
	for _, k := range keys {
		sigs = append(sigs, payments.SignStandard(k, id, ts.Unix(), body))
	}
	return map[string]string{"Webhook-Id": id, "Webhook-Timestamp": strconv.FormatInt(ts.Unix(), 10), "Webhook-Signature": strings.Join(sigs, " ")}
}

func (h *harness) walletBalance(username string) string {
	h.t.Helper()
	w, _, err := mustMoney(h.pool).WalletOf(context.Background(), username, 1)
	if err != nil {
		h.t.Fatal(err)
	}
	return billing.FormatCents(w.BalanceCents)
}

// TestWebhookPaystack posts Paystack's webhook as Paystack does (no cookie, no CSRF
// token): a signed charge.success credits its top-up once, and what is refused (a
// forged or missing signature, a malformed body, a body over 64 KiB) is 4xx and credits
// nothing; an unknown reference or a wrong amount is 200 and waits for review. Every
// answer is counted by provider and result.
func TestWebhookPaystack(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSubscriber("ada", "ada@example.com", false)
	tu := h.mustTopUp("ada", 2000)
	ok := billingtest.ChargeSuccess(501, tu.Reference, 2000, "USD")
	for _, tc := range []struct {
		name   string
		body   []byte
		header map[string]string
		status int
		want   string
	}{
		{"forged", ok, map[string]string{"X-Paystack-Signature": payments.SignPaystack([]byte("sk_test_guess"), ok)}, 401, `"status":"refused"`},
		{"unsigned", ok, nil, 401, `"status":"refused"`},
		{"signed, not JSON", []byte(`{"event":`), paystackHeader([]byte(`{"event":`)), 400, `"status":"refused"`},
		{"credited", ok, paystackHeader(ok), 200, `"status":"credited"`},
		{"again", ok, paystackHeader(ok), 200, `"status":"duplicate"`},
		{"unknown reference", billingtest.ChargeSuccess(502, "tg-NOPE00000000000000000000", 2000, "USD"),
			paystackHeader(billingtest.ChargeSuccess(502, "tg-NOPE00000000000000000000", 2000, "USD")), 200, `"status":"review","reason":"unknown_reference"`},
		{"too large", []byte(strings.Repeat(" ", payments.MaxBody+1)), nil, 413, `"status":"refused"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.postWebhook(false, "197.1.1.1", "/webhooks/paystack", tc.body, tc.header)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("= %d %s; want %d %s", status, body, tc.status, tc.want)
			}
		})
	}
	if b := h.walletBalance("ada"); b != "20.00" {
		t.Fatalf("balance %s", b)
	}
	t.Run("wrong amount", func(t *testing.T) {
		tu := h.mustTopUp("ada", 1000)
		body := billingtest.ChargeSuccess(503, tu.Reference, 100, "USD")
		status, out := h.postWebhook(false, "197.1.1.1", "/webhooks/paystack", body, paystackHeader(body))
		if status != 200 || !strings.Contains(out, `"reason":"amount_mismatch"`) || h.walletBalance("ada") != "20.00" {
			t.Fatalf("= %d %s", status, out)
		}
	})
	c := h.client()
	c.admin = true
	_, metrics := c.get("/metrics")
	for _, want := range []string{
		`tollgate_portal_webhooks_total{provider="paystack",result="credited"} 1`,
		`tollgate_portal_webhooks_total{provider="paystack",result="duplicate"} 1`,
		`tollgate_portal_webhooks_total{provider="paystack",result="bad_signature"} 2`,
		`tollgate_portal_webhooks_total{provider="paystack",result="malformed"} 1`,
		`tollgate_portal_webhooks_total{provider="paystack",result="review"} 2`,
		`tollgate_portal_webhooks_total{provider="paystack",result="too_large"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestWebhookStandard: the generic endpoint takes a delivery signed per Standard
// Webhooks (also with two signatures during a rotation) and refuses a stale timestamp,
// a forged signature, missing headers and a malformed body; a replayed delivery,
// sequentially and ten at once, credits once.
func TestWebhookStandard(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSubscriber("ben", "", false)
	now := time.Now()
	body := func(id string) []byte {
		return fmt.Appendf(nil, `{"type":"payment.succeeded","data":{"id":%q,"account":"ben","amount":"5.00","currency":"USD"}}`, id)
	}
	old := []byte("the-retired-key-the-retired-key!")
	for _, tc := range []struct {
		name   string
		body   []byte
		header map[string]string
		status int
		want   string
	}{
		{"stale", body("t1"), standardHeader("m1", now.Add(-6*time.Minute), body("t1")), 400, `"refused"`},
		{"forged", body("t1"), standardHeader("m1", now, body("t1"), old), 401, `"refused"`},
		{"no headers", body("t1"), nil, 400, `"refused"`},
		{"malformed", []byte(`{"type":1}`), standardHeader("m1", now, []byte(`{"type":1}`)), 400, `"refused"`},
		{"rotation: old and new signature", body("t1"), standardHeader("m1", now, body("t1"), old, testWebhookKey), 200, `"status":"credited"`},
		{"the same delivery", body("t1"), standardHeader("m1", now, body("t1")), 200, `"status":"duplicate"`},
		{"the same payment, another delivery", body("t1"), standardHeader("m2", now, body("t1")), 200, `"status":"duplicate"`},
		{"unknown account", fmt.Appendf(nil, `{"type":"payment.succeeded","data":{"id":"t9","account":"nobody","amount":"5.00","currency":"USD"}}`),
			standardHeader("m9", now, fmt.Appendf(nil, `{"type":"payment.succeeded","data":{"id":"t9","account":"nobody","amount":"5.00","currency":"USD"}}`)),
			200, `"reason":"unknown_account"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := h.postWebhook(false, "197.1.1.2", "/webhooks/payments", tc.body, tc.header)
			if status != tc.status || !strings.Contains(out, tc.want) {
				t.Fatalf("= %d %s; want %d %s", status, out, tc.status, tc.want)
			}
		})
	}
	t.Run("ten at once", func(t *testing.T) {
		b := body("t10")
		hdr := standardHeader("m10", now, b)
		var wg sync.WaitGroup
		statuses := make(chan string, 10)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, out := h.postWebhook(false, "197.1.1.2", "/webhooks/payments", b, hdr)
				statuses <- fmt.Sprint(status, out)
			}()
		}
		wg.Wait()
		close(statuses)
		credited := 0
		for s := range statuses {
			if strings.Contains(s, `"credited"`) {
				credited++
			} else if !strings.Contains(s, `"duplicate"`) {
				t.Errorf("answer %s", s)
			}
		}
		if credited != 1 {
			t.Fatalf("%d credited", credited)
		}
	})
	if b := h.walletBalance("ben"); b != "10.00" {
		t.Fatalf("balance %s; want two payments of 5.00", b)
	}
}

// TestWebhooksListenerAndLimit: with an admin listener the webhooks are on the guests'
// one only (providers reach it) and need no CSRF token; a source address past 600
// requests a minute gets 429.
func TestWebhooksListenerAndLimit(t *testing.T) {
	h := mustSplitHarness(t)
	b := []byte(`{"type":"payout.sent"}`)
	if status, _ := h.postWebhook(true, "197.1.1.3", "/webhooks/payments", b, standardHeader("x1", time.Now(), b)); status != 404 {
		t.Fatalf("on the admin listener = %d", status)
	}
	if status, out := h.postWebhook(false, "197.1.1.3", "/webhooks/payments", b, standardHeader("x1", time.Now(), b)); status != 200 || !strings.Contains(out, `"ignored"`) {
		t.Fatalf("on the guests' listener = %d %s", status, out)
	}
	for i := 2; i <= webhookRateLimit; i++ {
		if status, _ := h.postWebhook(false, "197.1.1.4", "/webhooks/paystack", b, nil); status != 401 {
			t.Fatalf("request %d = %d", i, status)
		}
	}
	if status, _ := h.postWebhook(false, "197.1.1.4", "/webhooks/paystack", b, nil); status != 401 {
		t.Fatalf("request 600 = %d", status)
	}
	if status, _ := h.postWebhook(false, "197.1.1.4", "/webhooks/paystack", b, nil); status != 429 {
		t.Fatalf("request 601 = %d; want 429", status)
	}
	// Another address is counted apart.
	if status, _ := h.postWebhook(false, "197.1.1.5", "/webhooks/paystack", b, nil); status != 401 {
		t.Fatalf("another address = %d", status)
	}
}

func init() {
	pageData["admin-payments"] = func(v *view) any {
		return &reviewsView{view: v, State: "open", Reviews: []reviewRow{{Review: payments.Review{ID: 1, State: payments.ReviewOpen,
			Reason: payments.ReasonUnknownReference, Raw: []byte(`{"event":"charge.success"}`)}, Amount: "1.00 USD"}}}
	}
	// The review page's resolve form in the route walks: a fresh review to dismiss.
	var n struct {
		sync.Mutex
		i int64
	}
	routeFixtures["POST /admin/payments/reviews/:id/resolve"] = func(h *harness) (string, url.Values) {
		n.Lock()
		n.i++
		id := 90000 + n.i
		n.Unlock()
		body := billingtest.ChargeSuccess(id, "tg-WALK"+fmt.Sprintf("%020d", id), 100, "USD")
		r, err := h.payments().Paystack(context.Background(), body, payments.SignPaystack([]byte(testPaystackKey), body))
		if err != nil || r.ReviewID == 0 {
			h.t.Fatalf("review fixture: %+v, %v", r, err)
		}
		return "/admin/payments/reviews/" + strconv.FormatInt(r.ReviewID, 10) + "/resolve", url.Values{"action": {"dismiss"}, "note": {"walk"}}
	}
}

// TestAdminPaymentReviews: the review page lists what waits, with the event as
// received (viewing it is audited); an admin credits one to a subscriber (a receipt,
// the balance), dismisses another with a note, and a second resolution is refused.
func TestAdminPaymentReviews(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSubscriber("cleo", "cleo@example.com", false)
	review := func(id int64, ref string, cents int64) int64 {
		t.Helper()
		body := billingtest.ChargeSuccess(id, ref, cents, "USD")
		r, err := h.payments().Paystack(context.Background(), body, payments.SignPaystack([]byte(testPaystackKey), body))
		if err != nil || r.Result != payments.ResultReview {
			t.Fatalf("%+v, %v", r, err)
		}
		return r.ReviewID
	}
	tu := h.mustTopUp("cleo", 2000)
	r1 := review(1, tu.Reference, 1500) // short: review, suggested for cleo
	r2 := review(2, "tg-UNKNOWN00000000000000000", 700)
	admin := h.sessionFor(t, accessAdmin)
	resp, body := admin.get("/admin/payments/reviews")
	if resp.StatusCode != 200 || !strings.Contains(body, "amount does not match the top-up") || !strings.Contains(body, "unknown reference") ||
		!strings.Contains(body, `value="cleo"`) || !strings.Contains(body, "ada@example.com") || !strings.Contains(body, "15.00 USD") {
		t.Fatalf("page %d %s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "payment.reviews" {
		t.Fatalf("audit %+v", a)
	}
	path := func(id int64) string { return "/admin/payments/reviews/" + strconv.FormatInt(id, 10) + "/resolve" }
	resp, body = admin.post("/admin/payments/reviews", path(r1), url.Values{"action": {"credit"}, "subscriber": {"cleo"}, "note": {"short payment accepted"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("credit = %d %s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "payment.resolve" || !strings.Contains(a.Detail, `"subscriber": "cleo"`) || !strings.Contains(a.Detail, `"receipt"`) {
		t.Fatalf("audit %+v", a)
	}
	if b := h.walletBalance("cleo"); b != "15.00" {
		t.Fatalf("balance %s", b)
	}
	resp, body = admin.post("/admin/payments/reviews", path(r1), url.Values{"action": {"credit"}, "subscriber": {"cleo"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "resolved once") {
		t.Fatalf("second resolution = %d %s", resp.StatusCode, body)
	}
	resp, body = admin.post("/admin/payments/reviews", path(r2), url.Values{"action": {"dismiss"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "note:") {
		t.Fatalf("dismiss without note = %d %s", resp.StatusCode, body)
	}
	resp, body = admin.post("/admin/payments/reviews", path(r2), url.Values{"action": {"credit"}, "subscriber": {"nobody"}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "nobody") {
		t.Fatalf("credit to nobody = %d %s", resp.StatusCode, body)
	}
	resp, _ = admin.post("/admin/payments/reviews", path(r2), url.Values{"action": {"dismiss"}, "note": {"refunded on Paystack"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dismiss = %d", resp.StatusCode)
	}
	_, body = admin.get("/admin/payments/reviews")
	if !strings.Contains(body, "Nothing to show.") {
		t.Fatalf("open reviews left: %s", body)
	}
	_, body = admin.get("/admin/payments/reviews?state=all")
	if !strings.Contains(body, "refunded on Paystack") || !strings.Contains(body, "to cleo") {
		t.Fatalf("all: %s", body)
	}
}
