package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing/billingtest"
	"tollgate/billing/payments"
	"tollgate/radius/radiustest"
)

const e2ePaystackKey = "sk_test_e2e_5ec2e7"

var e2eWebhookKey = []byte("e2e-generic-provider-key-0123456")

// paymentsStack is a stack with Paystack (a local fake) and the generic provider set up.
func paymentsStack(t *testing.T) (*stack, *billingtest.Paystack) {
	t.Helper()
	s := MustStack(t, true)
	fake := billingtest.MustPaystack(t, e2ePaystackKey)
	t.Setenv("TOLLGATE_CURRENCY", "KES")
	t.Setenv("TOLLGATE_PAYSTACK_SECRET_KEY", e2ePaystackKey)
	t.Setenv("TOLLGATE_PAYSTACK_BASE_URL", fake.URL)
	t.Setenv("TOLLGATE_WEBHOOK_SECRET", "whsec_"+base64.StdEncoding.EncodeToString(e2eWebhookKey))
	return s, fake
}

// post sends body to the running server's path with header and returns the status,
// the body and how long the answer took; status 0 (the test marked failed) when no
// answer came. Safe from several goroutines.
func (s *stack) post(path string, body []byte, header map[string]string) (int, string, time.Duration) {
	s.t.Helper()
	req, err := http.NewRequest("POST", "http://"+s.httpAddr+path, bytes.NewReader(body))
	if err != nil {
		s.t.Error(err)
		return 0, "", 0
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Error(err)
		return 0, "", 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start)
}

// paystackWebhook posts a charge.success signed with key.
func (s *stack) paystackWebhook(key string, id int64, ref string, amount int64, currency string) (int, string, time.Duration) {
	s.t.Helper()
	body := billingtest.ChargeSuccess(id, ref, amount, currency)
	return s.post("/webhooks/paystack", body, map[string]string{"X-Paystack-Signature": payments.SignPaystack([]byte(key), body)})
}

// standardWebhook posts body as Standard Webhooks delivery msgID at ts, signed with
// keys (e2eWebhookKey when none).
func (s *stack) standardWebhook(msgID string, ts time.Time, body string, keys ...[]byte) (int, string, time.Duration) {
	s.t.Helper()
	if keys == nil {
		keys = [][]byte{e2eWebhookKey}
	}
	var sigs []string
	for _, k := range keys {
		sigs = append(sigs, payments.SignStandard(k, msgID, ts.Unix(), []byte(body)))
	}
	return s.post("/webhooks/payments", []byte(body), map[string]string{"Webhook-Id": msgID,
		"Webhook-Timestamp": strconv.FormatInt(ts.Unix(), 10), "Webhook-Signature": strings.Join(sigs, " ")})
}

func (s *stack) balance(user string) string {
	s.t.Helper()
	var w walletJSON
	s.mustJSON(&w, "wallet", "show", "--subscriber", user)
	return w.Balance
}

func wantWebhook(t *testing.T, status int, body string, took time.Duration, wantStatus int, want string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(body, want) {
		t.Fatalf("webhook = %d %s; want %d %s", status, body, wantStatus, want)
	}
	if took > time.Second {
		t.Fatalf("webhook answered in %v; want within a second", took)
	}
	t.Logf("webhook answered %d in %v", status, took)
}

// TestE2EPaystackRestores: an isolated subscriber pays a top-up at Paystack (a local
// fake for initialize); the signed charge.success is answered within a second, the
// subscriber is restored at once (the fake NAS gets the Disconnect, the redial gets the
// paid plan), and the same event again, or ten times at once, credits nothing more.
func TestE2EPaystackRestores(t *testing.T) {
	s, fake := paymentsStack(t)
	secret := "pay-secret-1234"
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "Unpaid", "--kind", "pppoe", "--rate-limit", "256k/256k", "--address-list", "tollgate-isolated")
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe", "--price", "20.00", "--period", "month",
		"--isolation-plan", "Unpaid", "--rate-limit", "10M/10M", "--address-list", "subs")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "Home", "--email", "alice@example.com")
	s.MustRun("subscriber", "add", "--username", "bob", "--password", "pw-bob", "--plan", "Home")
	// Her period started yesterday and nothing paid it: the pass isolates her.
	s.MustRun("subscription", "set", "--username", "alice", "--period-start", time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339))
	if p := s.pass(time.Now().UTC().Format(time.RFC3339)); p.Isolated < 1 {
		t.Fatalf("pass %+v", p)
	}
	s.serve()
	auth := func() string {
		out, _ := s.radclient(secret, "User-Name=alice,User-Password=pw-alice,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00")
		return out
	}
	mustContain(t, auth(), "Received Access-Accept", `Mikrotik-Address-List = "tollgate-isolated"`, "Session-Timeout")
	common := "NAS-Identifier=r1,NAS-Port-Type=Ethernet,Service-Type=Framed-User,Framed-Protocol=PPP,Calling-Station-Id=AA:BB:CC:00:00:09"
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=P1,User-Name=alice,Framed-IP-Address=10.99.0.9,"+common)

	// Checkout: the fake Paystack gets the email, the amount in minor units and our
	// reference; the command prints the authorization URL.
	var tu topUpJSON
	s.mustJSON(&tu, "topup", "create", "--subscriber", "alice", "--amount", "20.00", "--provider", "paystack")
	if tu.State != "pending" || tu.AuthorizationURL != "https://checkout.paystack.test/ac1" || tu.Currency != "KES" || !strings.HasPrefix(tu.Reference, "tg-") {
		t.Fatalf("top-up %+v", tu)
	}
	if in := fake.Inits(); len(in) != 1 || in[0].Email != "alice@example.com" || in[0].Amount != 2000 || in[0].Reference != tu.Reference {
		t.Fatalf("initialize %+v", in)
	}
	mustContain(t, s.MustRun("topup", "create", "--subscriber", "alice", "--amount", "5.00"), "authorization_url: https://checkout.paystack.test/ac2")
	if code, _, errs := s.run("topup", "create", "--subscriber", "bob", "--amount", "20.00", "--provider", "paystack"); code != 1 || !strings.Contains(errs, "email:") {
		t.Fatalf("no email: exit %d %s", code, errs)
	}

	status, body, took := s.paystackWebhook(e2ePaystackKey, 70001, tu.Reference, 2000, "KES")
	wantWebhook(t, status, body, took, 200, `"status":"credited"`)
	if r := waitCoA(t, nas, codeDisconnect, "P1"); r.Username != "alice" {
		t.Fatalf("disconnect %+v", r)
	}
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=P1,User-Name=alice,Acct-Session-Time=60,Acct-Terminate-Cause=Admin-Reset,"+common)
	out := auth()
	mustContain(t, out, "Received Access-Accept", `Mikrotik-Rate-Limit = "10M/10M"`, `Mikrotik-Address-List = "subs"`)
	if strings.Contains(out, "Session-Timeout") {
		t.Fatalf("restored subscriber still isolated:\n%s", out)
	}
	if st := s.subscription("alice"); st.State != "active" || !st.Paid || st.Balance != "0.00" {
		t.Fatalf("subscription %+v", st)
	}
	var shown topUpJSON
	s.mustJSON(&shown, "topup", "show", tu.Reference)
	if shown.State != "paid" || shown.LedgerEntry == 0 {
		t.Fatalf("top-up %+v", shown)
	}

	// The same event: nothing more, sequentially and ten at once.
	status, body, took = s.paystackWebhook(e2ePaystackKey, 70001, tu.Reference, 2000, "KES")
	wantWebhook(t, status, body, took, 200, `"status":"duplicate"`)
	var wg sync.WaitGroup
	answers := make(chan string, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, _ := s.paystackWebhook(e2ePaystackKey, 70001, tu.Reference, 2000, "KES")
			answers <- fmt.Sprint(status, " ", body)
		}()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if !strings.HasPrefix(a, "200 ") || !strings.Contains(a, `"duplicate"`) {
			t.Fatalf("replay answered %s", a)
		}
	}
	var w walletJSON
	s.mustJSON(&w, "wallet", "show", "--subscriber", "alice")
	payments := 0
	for _, e := range w.Entries {
		if e.Kind == "payment" {
			payments++
		}
	}
	if payments != 1 || w.Balance != "0.00" {
		t.Fatalf("wallet %+v", w)
	}
	mustMoneyInvariants(t, mustPool(t))
}

// TestE2EPaymentWebhooks runs the webhooks against a running server: the generic
// provider pays a top-up by reference and a subscriber by account; forged, stale and
// malformed deliveries are refused, a wrong amount and an unknown reference wait for
// review, nothing of which is credited; a signature from a rotated-out key beside the
// current one is accepted; the review queue is resolved once from the command line;
// every answer is counted; the secrets never show in `tollgate config`.
func TestE2EPaymentWebhooks(t *testing.T) {
	s, _ := paymentsStack(t)
	s.MustRun("plan", "add", "--name", "Flat", "--kind", "pppoe", "--rate-limit", "5M/5M")
	s.MustRun("subscriber", "add", "--username", "carol", "--password", "pw", "--plan", "Flat", "--email", "carol@example.com")
	s.serve()
	now := time.Now()

	var tu topUpJSON
	s.mustJSON(&tu, "topup", "create", "--subscriber", "carol", "--amount", "15.00", "--provider", "generic")
	if tu.AuthorizationURL != "" || tu.Provider != "generic" {
		t.Fatalf("generic top-up %+v", tu)
	}
	pay := func(id, key, value, amount, currency string) string {
		return fmt.Sprintf(`{"type":"payment.succeeded","data":{"id":%q,%q:%q,"amount":%q,"currency":%q}}`, id, key, value, amount, currency)
	}
	old := []byte("the-key-before-the-rotation-0000")
	for _, tc := range []struct {
		name   string
		send   func() (int, string, time.Duration)
		status int
		want   string
	}{
		{"reference", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-1", now, pay("mp-1", "reference", tu.Reference, "15.00", "KES"))
		}, 200, `"credited"`},
		{"account (paybill), signed by the old and the new key", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-2", now, pay("mp-2", "account", "carol", "4.50", "KES"), old, e2eWebhookKey)
		}, 200, `"credited"`},
		{"the same delivery", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-2", now, pay("mp-2", "account", "carol", "4.50", "KES"))
		}, 200, `"duplicate"`},
		{"the same payment in a new delivery", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-3", now, pay("mp-2", "account", "carol", "4.50", "KES"))
		}, 200, `"duplicate"`},
		{"forged: only the old key", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-4", now, pay("mp-4", "account", "carol", "100.00", "KES"), old)
		}, 401, `"refused"`},
		{"stale", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-5", now.Add(-10*time.Minute), pay("mp-5", "account", "carol", "100.00", "KES"))
		}, 400, `"refused"`},
		{"malformed JSON", func() (int, string, time.Duration) {
			return s.standardWebhook("msg-6", now, `{"type":"payment.succeeded","data":{"id":`)
		}, 400, `"refused"`},
		{"paystack: forged", func() (int, string, time.Duration) {
			return s.paystackWebhook("sk_test_guess", 80001, tu.Reference, 1500, "KES")
		}, 401, `"refused"`},
		{"paystack: malformed", func() (int, string, time.Duration) {
			b := []byte(`{"event":"charge.success","data":{"id":1}}`)
			return s.post("/webhooks/paystack", b, map[string]string{"X-Paystack-Signature": payments.SignPaystack([]byte(e2ePaystackKey), b)})
		}, 400, `"refused"`},
		{"wrong amount", func() (int, string, time.Duration) {
			var t2 topUpJSON
			s.mustJSON(&t2, "topup", "create", "--subscriber", "carol", "--amount", "30.00")
			return s.paystackWebhook(e2ePaystackKey, 80002, t2.Reference, 300, "KES")
		}, 200, `"reason":"amount_mismatch"`},
		{"unknown reference", func() (int, string, time.Duration) {
			return s.paystackWebhook(e2ePaystackKey, 80003, "tg-NOTOURS000000000000000000", 1000, "KES")
		}, 200, `"reason":"unknown_reference"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, took := tc.send()
			wantWebhook(t, status, body, took, tc.status, tc.want)
		})
	}
	if b := s.balance("carol"); b != "19.50" {
		t.Fatalf("balance %s; want 15.00 + 4.50", b)
	}

	var reviews []reviewJSON
	s.mustJSON(&reviews, "payment", "reviews")
	if len(reviews) != 2 || reviews[0].Reason != "unknown_reference" || reviews[1].Reason != "amount_mismatch" || reviews[1].For != "carol" ||
		reviews[0].Event == nil || !strings.Contains(*reviews[0].Event, "ada@example.com") {
		t.Fatalf("reviews %+v", reviews)
	}
	var res resolvedJSON
	s.mustJSON(&res, "payment", "resolve", "--id", strconv.FormatInt(reviews[1].ID, 10), "--credit", "carol", "--note", "paid short, accepted")
	if res.Review.State != "credited" || res.Balance != "22.50" || !strings.HasPrefix(res.Receipt, "RCT-") {
		t.Fatalf("resolved %+v", res)
	}
	if code, _, errs := s.run("payment", "resolve", "--id", strconv.FormatInt(reviews[1].ID, 10), "--dismiss", "--note", "x"); code != 1 ||
		!strings.Contains(errs, "resolved once") {
		t.Fatalf("second resolution: exit %d %s", code, errs)
	}
	if code, _, errs := s.run("payment", "resolve", "--id", strconv.FormatInt(reviews[0].ID, 10), "--dismiss"); code != 1 || !strings.Contains(errs, "note:") {
		t.Fatalf("dismiss without note: exit %d %s", code, errs)
	}
	s.MustRun("payment", "resolve", "--id", strconv.FormatInt(reviews[0].ID, 10), "--dismiss", "--note", "not ours: refunded")
	s.mustJSON(&reviews, "payment", "reviews")
	if len(reviews) != 0 {
		t.Fatalf("open reviews %+v", reviews)
	}
	pool := mustPool(t)
	var audited int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'payment.resolve' AND actor LIKE 'cli%'`).Scan(&audited); err != nil || audited != 2 {
		t.Fatalf("audited resolutions %d, %v", audited, err)
	}

	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tollgate_portal_webhooks_total{provider="generic",result="credited"} 2`,
		`tollgate_portal_webhooks_total{provider="generic",result="duplicate"} 2`,
		`tollgate_portal_webhooks_total{provider="generic",result="bad_signature"} 1`,
		`tollgate_portal_webhooks_total{provider="generic",result="stale"} 1`,
		`tollgate_portal_webhooks_total{provider="generic",result="malformed"} 1`,
		`tollgate_portal_webhooks_total{provider="paystack",result="review"} 2`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cfg := s.MustRun("config")
	if strings.Contains(cfg, e2ePaystackKey) || strings.Contains(cfg, base64.StdEncoding.EncodeToString(e2eWebhookKey)) ||
		!strings.Contains(cfg, "TOLLGATE_PAYSTACK_SECRET_KEY=***** (set)") || !strings.Contains(cfg, "TOLLGATE_WEBHOOK_SECRET=***** (set)") {
		t.Fatalf("config:\n%s", cfg)
	}
	mustMoneyInvariants(t, pool)
}

// TestE2EWebhookRacingPass: a webhook and a `billing run` as of the top-up's expiry at
// the same moment, several times: each top-up ends paid and credited once, or expired
// with its payment in review; never both, never neither.
func TestE2EWebhookRacingPass(t *testing.T) {
	s, _ := paymentsStack(t)
	s.MustRun("plan", "add", "--name", "Flat", "--kind", "pppoe", "--rate-limit", "5M/5M")
	s.MustRun("subscriber", "add", "--username", "dan", "--password", "pw", "--plan", "Flat", "--email", "dan@example.com")
	s.serve()
	credited, reviewed := 0, 0
	for i := range 8 {
		var tu topUpJSON
		s.mustJSON(&tu, "topup", "create", "--subscriber", "dan", "--amount", "10.00")
		var wg sync.WaitGroup
		var status int
		var body string
		var pass passJSON
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Staggered by 0 to 70 ms across the rounds, so that the pass (which opens its
			// stores first) comes first in some of them and second in others.
			time.Sleep(time.Duration(i) * 10 * time.Millisecond)
			status, body, _ = s.paystackWebhook(e2ePaystackKey, int64(90000+i), tu.Reference, 1000, "KES")
		}()
		go func() {
			defer wg.Done()
			code, out, errs := s.run("billing", "run", "--now", tu.ExpiresAt.Truncate(time.Second).Add(time.Second).Format(time.RFC3339), "--json")
			if code != 0 || json.Unmarshal([]byte(out), &pass) != nil {
				t.Errorf("billing run: %s%s", out, errs)
			}
		}()
		wg.Wait()
		var shown topUpJSON
		s.mustJSON(&shown, "topup", "show", tu.Reference)
		switch {
		case status == 200 && strings.Contains(body, `"credited"`) && shown.State == "paid" && pass.ExpiredCheckouts == 0:
			credited++
		case status == 200 && strings.Contains(body, `"reason":"topup_expired"`) && shown.State == "expired" && pass.ExpiredCheckouts == 1:
			reviewed++
		default:
			t.Fatalf("round %d: webhook %d %s, top-up %s, pass expired %d", i, status, body, shown.State, pass.ExpiredCheckouts)
		}
	}
	t.Logf("%d credited first, %d expired first", credited, reviewed)
	if b := s.balance("dan"); b != fmt.Sprintf("%d.00", 10*credited) {
		t.Fatalf("balance %s after %d credits", b, credited)
	}
	var reviews []reviewJSON
	s.mustJSON(&reviews, "payment", "reviews")
	if len(reviews) != reviewed {
		t.Fatalf("%d reviews, %d expired payments", len(reviews), reviewed)
	}
	mustMoneyInvariants(t, mustPool(t))
}

// TestE2EPaymentReviewsRestricted: `payment reviews` shows a review naming a subscriber
// who restricted processing without its event and account, and says why; with
// --reason it shows them and audits a read of him per review; other reviews show
// whole either way, and `payment resolve` answers what the list shows.
func TestE2EPaymentReviewsRestricted(t *testing.T) {
	s, _ := paymentsStack(t)
	s.MustRun("plan", "add", "--name", "Flat", "--kind", "pppoe", "--rate-limit", "5M/5M")
	s.MustRun("subscriber", "add", "--username", "carol", "--password", "pw", "--plan", "Flat", "--email", "carol@example.com")

	// Two paybill deposits go to review: carol's in a foreign currency, and one naming
	// no subscriber. Each event carries the payer's e-mail.
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	d, err := e.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pay := d.payments(d.money(nil))
	for i, data := range []string{`"account":"carol","amount":"5.00","currency":"USD","payer":"carol@example.com"`,
		`"account":"nobody","amount":"7.00","currency":"KES","payer":"nemo@example.com"`} {
		msg, now := fmt.Sprintf("msg-r%d", i), time.Now()
		body := []byte(fmt.Sprintf(`{"type":"payment.succeeded","data":{"id":"mp-r%d",%s}}`, i, data))
		h := payments.StandardHeaders{ID: msg, Timestamp: strconv.FormatInt(now.Unix(), 10), Signature: payments.SignStandard(e2eWebhookKey, msg, now.Unix(), body)}
		if r, err := pay.Standard(context.Background(), h, body); err != nil || r.Result != payments.ResultReview {
			t.Fatalf("deposit %d: %+v, %v", i, r, err)
		}
	}
	e.close()
	pool := mustPool(t)
	mustExec(t, pool, `UPDATE subscribers SET restricted = true WHERE username = 'carol'`)
	var carol int64
	if err := pool.QueryRow(context.Background(), `SELECT id FROM subscribers WHERE username = 'carol'`).Scan(&carol); err != nil {
		t.Fatal(err)
	}
	reads := func() []string {
		t.Helper()
		rows, err := pool.Query(context.Background(), `SELECT target || ' ' || (detail->>'read') || ': ' || coalesce(detail->>'reason', '')
FROM audit_log WHERE action = 'subscriber.read' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	split := func(list []reviewJSON) (mine, other reviewJSON) {
		t.Helper()
		if len(list) != 2 {
			t.Fatalf("reviews %+v", list)
		}
		if list[0].Account == "nobody" {
			return list[1], list[0]
		}
		return list[0], list[1]
	}

	var list []reviewJSON
	s.mustJSON(&list, "payment", "reviews")
	mine, other := split(list)
	if !mine.Restricted || !mine.Withheld || mine.Event != nil || mine.Account != "" || mine.Reason != "currency_mismatch" {
		t.Errorf("carol's review without a reason: %+v", mine)
	}
	if other.Restricted || other.Withheld || other.Event == nil || !strings.Contains(*other.Event, "nemo@example.com") {
		t.Errorf("the other review: %+v", other)
	}
	out := s.MustRun("payment", "reviews")
	if strings.Contains(out, "carol@example.com") || !strings.Contains(out, "account withheld") || !strings.Contains(out, "--reason") {
		t.Errorf("payment reviews without a reason:\n%s", out)
	}
	if r := reads(); len(r) != 0 {
		t.Fatalf("reads audited without a reason: %v", r)
	}

	reason := "reconciling the bank statement (ticket 12)"
	var under []reviewJSON // fresh: decoding into list would keep its old fields
	s.mustJSON(&under, "payment", "reviews", "--reason", reason)
	mine, other = split(under)
	if !mine.Restricted || mine.Withheld || mine.Event == nil || !strings.Contains(*mine.Event, "carol@example.com") || mine.Account != "carol" {
		t.Errorf("carol's review under a reason: %+v", mine)
	}
	if other.Event == nil || other.Account != "nobody" {
		t.Errorf("the other review under a reason: %+v", other)
	}
	want := fmt.Sprintf("subscriber:%d payment review %d: %s", carol, mine.ID, reason)
	if r := reads(); !slices.Equal(r, []string{want}) {
		t.Fatalf("audited reads %v; want [%s]", r, want)
	}

	var res resolvedJSON
	s.mustJSON(&res, "payment", "resolve", "--id", strconv.FormatInt(mine.ID, 10), "--dismiss", "--note", "refunded: paid in USD")
	if res.Review.State != "dismissed" || !res.Review.Withheld || res.Review.Event != nil || res.Review.Account != "" {
		t.Errorf("resolved %+v", res.Review)
	}
}
