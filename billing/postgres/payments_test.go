package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/billing/payments"
	"tollgate/billing/payments/paystack"
	"tollgate/billing/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
)

const paystackKey = "sk_test_4f1c0ffee"

var whKey = []byte("0123456789abcdef0123456789abcdef")

// payEnv is the money engine with the payments service on one database: Paystack is a
// local fake, the generic provider signs with whKey, the currency is KES.
type payEnv struct {
	*moneyEnv
	pay  *payments.Service
	fake *billingtest.Paystack
}

func mustPayEnv(tb testing.TB) *payEnv {
	tb.Helper()
	return payEnvOn(tb, moneyEnvOn(tb, mustRacePool(tb)))
}

func payEnvOn(tb testing.TB, m *moneyEnv) *payEnv {
	tb.Helper()
	fake := billingtest.MustPaystack(tb, paystackKey)
	p := &payEnv{moneyEnv: m, fake: fake}
	p.pay = &payments.Service{
		Store: m.store, InTx: postgres.PaymentsInTx(m.pool), Money: m.money,
		Gateways: map[payments.Provider]payments.Gateway{payments.Paystack: &paystack.Client{BaseURL: fake.URL, SecretKey: paystackKey}},
		Config: payments.Config{Currency: "KES", TTL: time.Hour, PaystackSecret: []byte(paystackKey),
			WebhookSecrets: [][]byte{whKey}},
		Now: func() time.Time { return m.now },
	}
	return p
}

// isolated adds username with email on a fresh 20.00 plan "Home" (no grace, no
// isolation plan) and runs the pass that isolates him (an empty wallet).
func (p *payEnv) isolated(tb testing.TB, username, email string) *billing.Subscriber {
	tb.Helper()
	if _, err := p.store.FindPlanByName(context.Background(), "Home"); err != nil {
		p.plan(tb, billing.Plan{Name: "Home", PriceCents: 2000, Period: "month"})
	}
	s, err := p.svc.AddSubscriber(context.Background(), billing.NewSubscriber{Username: username, Password: "pw", Plan: "Home", Email: email})
	if err != nil {
		tb.Fatal(err)
	}
	p.pass(tb, p.now.Format(time.RFC3339))
	if st := p.sub(tb, username); st.State != radius.SubscriptionIsolated {
		tb.Fatalf("%s: %s, want isolated", username, st.State)
	}
	return s
}

// paystack sends a signed charge.success.
func (p *payEnv) paystack(id int64, ref string, amount int64, currency string) (*payments.Received, error) {
	body := billingtest.ChargeSuccess(id, ref, amount, currency)
	return p.pay.Paystack(context.Background(), body, payments.SignPaystack([]byte(paystackKey), body))
}

// standard sends a signed Standard Webhooks delivery with id msgID.
func (p *payEnv) standard(msgID, body string) (*payments.Received, error) {
	ts := p.now.Unix()
	h := payments.StandardHeaders{ID: msgID, Timestamp: strconv.FormatInt(ts, 10),
		Signature: payments.SignStandard(whKey, msgID, ts, []byte(body))}
	return p.pay.Standard(context.Background(), h, []byte(body))
}

func (p *payEnv) topUp(tb testing.TB, ref string) *payments.TopUp {
	tb.Helper()
	t, err := p.pay.TopUp(context.Background(), ref)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func (p *payEnv) balance(tb testing.TB, username string) int64 {
	tb.Helper()
	w, _, err := p.money.WalletOf(context.Background(), username, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return w.BalanceCents
}

// count runs a count(*) query.
func (p *payEnv) count(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := p.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func wantReceived(tb testing.TB, r *payments.Received, err error, result string, reason payments.Reason) {
	tb.Helper()
	if err != nil || r.Result != result || r.Reason != reason {
		tb.Fatalf("received %+v, %v; want %s %s", r, err, result, reason)
	}
}

// TestPaystackTopUp: a top-up starts a checkout at (fake) Paystack with the
// subscriber's email; the signed charge.success credits it, restores the isolated
// subscriber at once (renewal, Disconnect), and a repeated event changes nothing.
func TestPaystackTopUp(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	alice := p.isolated(t, "alice", "alice@example.com")
	p.dis.take()
	tu, url, err := p.pay.StartTopUp(ctx, "alice", 2000, "paystack")
	if err != nil || url != "https://checkout.paystack.test/ac1" || tu.State != payments.Pending || tu.AuthorizationURL != url ||
		!tu.ExpiresAt.Equal(p.now.Add(time.Hour)) || tu.Currency != "KES" || tu.SubscriberID != alice.ID {
		t.Fatalf("StartTopUp = %+v, %q, %v", tu, url, err)
	}
	if in := p.fake.Inits(); len(in) != 1 || in[0].Email != "alice@example.com" || in[0].Amount != 2000 || in[0].Reference != tu.Reference ||
		in[0].Currency != "KES" {
		t.Fatalf("initialize %+v", in)
	}
	if got := p.topUp(t, tu.Reference); got.AuthorizationURL != url || got.Username != "alice" {
		t.Fatalf("stored %+v", got)
	}

	r, err := p.paystack(9001, tu.Reference, 2000, "KES")
	wantReceived(t, r, err, payments.ResultCredited, "")
	if len(r.Credit.Settled) != 1 || !r.Credit.Settled[0].Restore || r.Credit.Receipt == nil {
		t.Fatalf("credit %+v", r.Credit)
	}
	if got := p.dis.take(); len(got) != 1 || got[0] != "alice:restored" {
		t.Fatalf("disconnects %v", got)
	}
	if got := p.topUp(t, tu.Reference); got.State != payments.Paid || got.LedgerEntryID != r.Credit.Entry.ID || got.ClosedAt.IsZero() {
		t.Fatalf("top-up %+v", got)
	}
	if st := p.sub(t, "alice"); st.State != radius.SubscriptionActive || !st.Paid || st.BalanceCents != 0 {
		t.Fatalf("subscription %+v", st)
	}
	if r.Credit.Entry.Kind != billing.EntryPayment || r.Credit.Entry.Ref != tu.Reference || r.Credit.Entry.Actor != "webhook:paystack" {
		t.Fatalf("entry %+v", r.Credit.Entry)
	}

	t.Run("repeated event: nothing changes", func(t *testing.T) {
		r, err := p.paystack(9001, tu.Reference, 2000, "KES")
		wantReceived(t, r, err, payments.ResultDuplicate, "")
		if n := p.count(t, `SELECT count(*) FROM ledger_entries WHERE kind = 'payment'`); n != 1 {
			t.Fatalf("%d payment entries", n)
		}
	})
	t.Run("another transaction for a paid top-up: review", func(t *testing.T) {
		r, err := p.paystack(9002, tu.Reference, 2000, "KES")
		wantReceived(t, r, err, payments.ResultReview, payments.ReasonNotPending)
		if got := p.topUp(t, tu.Reference); got.State != payments.Paid || p.balance(t, "alice") != 0 {
			t.Fatalf("top-up %+v", got)
		}
	})
	t.Run("forged signature: refused before anything is read", func(t *testing.T) {
		body := billingtest.ChargeSuccess(9003, tu.Reference, 2000, "KES")
		_, err := p.pay.Paystack(ctx, body, payments.SignPaystack([]byte("sk_test_guess"), body))
		if err != payments.ErrSignature {
			t.Fatalf("= %v", err)
		}
		if n := p.count(t, `SELECT count(*) FROM payments WHERE provider_id = '9003'`); n != 0 {
			t.Fatal("a forged event was recorded")
		}
	})
	t.Run("a subscriber without email", func(t *testing.T) {
		p.add(t, "bob", "Home")
		_, _, err := p.pay.StartTopUp(ctx, "bob", 2000, "paystack")
		if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "email: ") {
			t.Fatalf("= %v", err)
		}
	})
	t.Run("refused input", func(t *testing.T) {
		for _, tc := range []struct {
			user     string
			amount   int64
			provider string
			code     string
			field    string
		}{
			{"alice", 0, "paystack", radius.EINVALID, "amount"},
			{"alice", 2000, "paypal", radius.EINVALID, "provider"},
			{"nobody", 2000, "paystack", radius.ENOTFOUND, "subscriber"},
		} {
			_, _, err := p.pay.StartTopUp(ctx, tc.user, tc.amount, tc.provider)
			if radius.ErrorCode(err) != tc.code || !strings.HasPrefix(radius.ErrorMessage(err), tc.field+": ") {
				t.Errorf("StartTopUp(%s, %d, %s) = %v", tc.user, tc.amount, tc.provider, err)
			}
		}
	})
	t.Run("Paystack refuses the checkout: the top-up fails", func(t *testing.T) {
		p.fake.Refuse("Currency not supported by merchant")
		defer p.fake.Refuse("")
		tu, _, err := p.pay.StartTopUp(ctx, "alice", 1000, "paystack")
		if radius.ErrorCode(err) != radius.EINVALID || tu == nil {
			t.Fatalf("= %+v, %v", tu, err)
		}
		if got := p.topUp(t, tu.Reference); got.State != payments.Failed || !strings.Contains(got.Note, "Currency not supported") {
			t.Fatalf("top-up %+v", got)
		}
		// A payment for it anyway goes to review.
		r, err := p.paystack(9010, tu.Reference, 1000, "KES")
		wantReceived(t, r, err, payments.ResultReview, payments.ReasonNotPending)
	})
	mustInvariants(t, p.pool)
}

// TestPaystackMismatches: a wrong amount or currency, an unknown reference and a
// payment after the top-up's expiry are recorded for review and credit nothing; the
// top-up moves forward (failed, expired), never back.
func TestPaystackMismatches(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "carol", "carol@example.com")
	start := func() *payments.TopUp {
		t.Helper()
		tu, _, err := p.pay.StartTopUp(ctx, "carol", 2000, "paystack")
		if err != nil {
			t.Fatal(err)
		}
		return tu
	}
	for i, tc := range []struct {
		name     string
		amount   int64
		currency string
		reason   payments.Reason
		state    payments.State
	}{
		{"amount short", 1999, "KES", payments.ReasonAmountMismatch, payments.Failed},
		{"amount over", 200000, "KES", payments.ReasonAmountMismatch, payments.Failed},
		{"currency", 2000, "NGN", payments.ReasonCurrencyMismatch, payments.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tu := start()
			r, err := p.paystack(int64(100+i), tu.Reference, tc.amount, tc.currency)
			wantReceived(t, r, err, payments.ResultReview, tc.reason)
			if got := p.topUp(t, tu.Reference); got.State != tc.state || got.Note == "" {
				t.Fatalf("top-up %+v", got)
			}
		})
	}
	t.Run("unknown reference", func(t *testing.T) {
		r, err := p.paystack(200, "tg-NOTOURS000000000000000000", 2000, "KES")
		wantReceived(t, r, err, payments.ResultReview, payments.ReasonUnknownReference)
	})
	t.Run("paid after its expiry, before the pass", func(t *testing.T) {
		tu := start()
		defer func(now time.Time) { p.now = now }(p.now)
		p.now = tu.ExpiresAt
		r, err := p.paystack(300, tu.Reference, 2000, "KES")
		wantReceived(t, r, err, payments.ResultReview, payments.ReasonExpired)
		if got := p.topUp(t, tu.Reference); got.State != payments.Expired {
			t.Fatalf("top-up %+v", got)
		}
	})
	t.Run("paid after the pass expired it", func(t *testing.T) {
		tu := start()
		rep, err := p.pay.RunPass(ctx, tu.ExpiresAt.Add(time.Second))
		if err != nil || rep.Expired != 1 {
			t.Fatalf("pass %+v, %v", rep, err)
		}
		r, err := p.paystack(301, tu.Reference, 2000, "KES")
		wantReceived(t, r, err, payments.ResultReview, payments.ReasonExpired)
	})
	if b := p.balance(t, "carol"); b != 0 {
		t.Fatalf("balance %d: something was credited", b)
	}
	if st := p.sub(t, "carol"); st.State != radius.SubscriptionIsolated {
		t.Fatalf("carol %s", st.State)
	}
	list, err := p.pay.Reviews(ctx, payments.ReviewOpen, 0)
	if err != nil || len(list) != 6 {
		t.Fatalf("reviews %d, %v", len(list), err)
	}
	// The raw event is kept as received, personal data and all, for the admin.
	if r := list[0]; r.Payment.ProviderID != "301" || !strings.Contains(string(r.Raw), `"email":"ada@example.com"`) ||
		r.TopUpReference == "" || r.Payment.AmountCents != 2000 {
		t.Fatalf("review %+v", r)
	}
	mustInvariants(t, p.pool)
}

// TestPaystackConcurrent: the same event delivered ten times at once credits once.
func TestPaystackConcurrent(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "dave", "dave@example.com")
	tu, _, err := p.pay.StartTopUp(ctx, "dave", 5000, "paystack")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 10)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := p.paystack(777, tu.Reference, 5000, "KES")
			if err != nil {
				results <- err.Error()
				return
			}
			results <- r.Result
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	got := map[string]int{}
	for r := range results {
		got[r]++
	}
	if got[payments.ResultCredited] != 1 || got[payments.ResultDuplicate] != 9 {
		t.Fatalf("results %v; want 1 credited, 9 duplicates", got)
	}
	if b := p.balance(t, "dave"); b != 3000 {
		t.Fatalf("balance %d; want 50.00 - 20.00", b)
	}
	mustInvariants(t, p.pool)
}

// TestPaymentRacingExpiry: a webhook and the billing pass that expires the top-up at
// once, many times: each top-up ends either paid and credited once, or expired with
// its payment in review, never both and never neither.
func TestPaymentRacingExpiry(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.plan(t, billing.Plan{Name: "Cheap", PriceCents: 100, Period: "month"})
	if _, err := p.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "erin", Password: "pw", Plan: "Cheap", Email: "erin@example.com"}); err != nil {
		t.Fatal(err)
	}
	const n = 12
	credited := 0
	for i := range n {
		tu, _, err := p.pay.StartTopUp(ctx, "erin", 500, "paystack")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var res *payments.Received
		var werr, perr error
		wg.Add(2)
		go func() { defer wg.Done(); res, werr = p.paystack(int64(5000+i), tu.Reference, 500, "KES") }()
		go func() { defer wg.Done(); _, perr = p.pay.RunPass(ctx, tu.ExpiresAt) }()
		wg.Wait()
		if werr != nil || perr != nil {
			t.Fatalf("webhook %v, pass %v", werr, perr)
		}
		got := p.topUp(t, tu.Reference)
		credits := p.count(t, `SELECT count(*) FROM ledger_entries WHERE idempotency_key = $1`, "topup:"+tu.Reference)
		reviews := p.count(t, `SELECT count(*) FROM payment_reviews r JOIN payments x ON x.id = r.payment_id WHERE x.topup_id = $1`, tu.ID)
		switch {
		case res.Result == payments.ResultCredited && got.State == payments.Paid && credits == 1 && reviews == 0:
			credited++
		case res.Result == payments.ResultReview && res.Reason == payments.ReasonExpired && got.State == payments.Expired && credits == 0 && reviews == 1:
		default:
			t.Fatalf("round %d: %+v, top-up %s, %d credits, %d reviews", i, res, got.State, credits, reviews)
		}
	}
	t.Logf("%d of %d credited before the pass expired them", credited, n)
	mustInvariants(t, p.pool)
}

// TestStandardWebhooks: the generic provider pays a top-up by reference and a
// subscriber by account; deliveries are deduplicated by webhook-id and payments by
// data.id; an unknown account, another currency and a failed top-up's late payment go
// to review; stale and unsigned deliveries are refused.
func TestStandardWebhooks(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "frank", "")
	tu, url, err := p.pay.StartTopUp(ctx, "frank", 2000, "generic")
	if err != nil || url != "" || tu.AuthorizationURL != "" {
		t.Fatalf("generic top-up %+v %q %v", tu, url, err)
	}
	body := func(id, key, value, amount, currency string) string {
		return fmt.Sprintf(`{"type":"payment.succeeded","data":{"id":%q,%q:%q,"amount":%q,"currency":%q}}`, id, key, value, amount, currency)
	}
	r, err := p.standard("msg_1", body("mp-1", "reference", tu.Reference, "20.00", "KES"))
	wantReceived(t, r, err, payments.ResultCredited, "")
	if st := p.sub(t, "frank"); st.State != radius.SubscriptionActive {
		t.Fatalf("frank %s", st.State)
	}
	r, err = p.standard("msg_1", body("mp-1", "reference", tu.Reference, "20.00", "KES"))
	wantReceived(t, r, err, payments.ResultDuplicate, "")
	r, err = p.standard("msg_1-retry", body("mp-1", "reference", tu.Reference, "20.00", "KES"))
	wantReceived(t, r, err, payments.ResultDuplicate, "")

	// A paybill deposit: account is the username, idempotent by data.id.
	r, err = p.standard("msg_2", body("mp-2", "account", "frank", "7.50", "KES"))
	wantReceived(t, r, err, payments.ResultCredited, "")
	r, err = p.standard("msg_3", body("mp-2", "account", "frank", "7.50", "KES"))
	wantReceived(t, r, err, payments.ResultDuplicate, "")
	if b := p.balance(t, "frank"); b != 750 {
		t.Fatalf("balance %d", b)
	}
	r, err = p.standard("msg_4", body("mp-4", "account", "nobody", "5.00", "KES"))
	wantReceived(t, r, err, payments.ResultReview, payments.ReasonUnknownAccount)
	r, err = p.standard("msg_5", body("mp-5", "account", "frank", "5.00", "USD"))
	wantReceived(t, r, err, payments.ResultReview, payments.ReasonCurrencyMismatch)
	r, err = p.standard("msg_6", body("mp-6", "reference", tu.Reference, "20.00", "KES"))
	wantReceived(t, r, err, payments.ResultReview, payments.ReasonNotPending)

	t.Run("payment.failed", func(t *testing.T) {
		tu2, _, err := p.pay.StartTopUp(ctx, "frank", 1000, "generic")
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.standard("msg_f1", fmt.Sprintf(`{"type":"payment.failed","data":{"id":"mp-f1","reference":%q}}`, tu2.Reference))
		wantReceived(t, r, err, payments.ResultFailed, "")
		r, err = p.standard("msg_f2", fmt.Sprintf(`{"type":"payment.failed","data":{"id":"mp-f2","reference":%q}}`, tu.Reference))
		wantReceived(t, r, err, payments.ResultIgnored, "") // paid: stays paid
		if a, b := p.topUp(t, tu2.Reference), p.topUp(t, tu.Reference); a.State != payments.Failed || b.State != payments.Paid {
			t.Fatalf("top-ups %s %s", a.State, b.State)
		}
	})
	t.Run("a Paystack top-up paid through the generic provider", func(t *testing.T) {
		if _, err := p.svc.UpdateSubscriber(ctx, "frank", billing.SubscriberUpdate{Email: ptr("frank@example.com")}); err != nil {
			t.Fatal(err)
		}
		tu3, _, err := p.pay.StartTopUp(ctx, "frank", 1000, "paystack")
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.standard("msg_x", body("mp-x", "reference", tu3.Reference, "10.00", "KES"))
		wantReceived(t, r, err, payments.ResultReview, payments.ReasonProviderMismatch)
	})
	t.Run("other event types are acknowledged", func(t *testing.T) {
		r, err := p.standard("msg_o", `{"type":"payout.sent","data":{}}`)
		wantReceived(t, r, err, payments.ResultIgnored, "")
	})
	t.Run("refused deliveries record nothing", func(t *testing.T) {
		before := p.count(t, `SELECT count(*) FROM payment_deliveries`)
		b := body("mp-9", "account", "frank", "1.00", "KES")
		ts := p.now.Add(-6 * time.Minute).Unix()
		_, err := p.pay.Standard(ctx, payments.StandardHeaders{ID: "msg_9", Timestamp: strconv.FormatInt(ts, 10),
			Signature: payments.SignStandard(whKey, "msg_9", ts, []byte(b))}, []byte(b))
		if err != payments.ErrStale {
			t.Fatalf("stale = %v", err)
		}
		_, err = p.pay.Standard(ctx, payments.StandardHeaders{ID: "msg_9", Timestamp: strconv.FormatInt(p.now.Unix(), 10),
			Signature: payments.SignStandard([]byte("another-key-another-key-another!!"), "msg_9", p.now.Unix(), []byte(b))}, []byte(b))
		if err != payments.ErrSignature {
			t.Fatalf("forged = %v", err)
		}
		if _, err := p.standard("msg_9", `{"type":"payment.succeeded","data":`); radius.ErrorCode(err) != radius.EINVALID {
			t.Fatalf("malformed = %v", err)
		}
		if after := p.count(t, `SELECT count(*) FROM payment_deliveries`); after != before {
			t.Fatalf("deliveries %d → %d", before, after)
		}
	})
	if b := p.balance(t, "frank"); b != 750 {
		t.Fatalf("balance %d", b)
	}
	mustInvariants(t, p.pool)
}

func ptr[T any](v T) *T { return &v }

// TestResolveReview: an admin credits a review's amount to a subscriber (a payment
// with a receipt, settling what is due), or dismisses one with a note; a review is
// resolved once; money in another currency cannot be credited.
func TestResolveReview(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "gina", "gina@example.com")
	r1, err := p.paystack(1, "tg-UNKNOWN00000000000000000", 2500, "KES")
	wantReceived(t, r1, err, payments.ResultReview, payments.ReasonUnknownReference)
	r2, err := p.paystack(2, "tg-UNKNOWN00000000000000001", 900, "NGN")
	wantReceived(t, r2, err, payments.ResultReview, payments.ReasonUnknownReference)

	if _, err := p.pay.Resolve(ctx, r1.ReviewID, payments.Resolution{Actor: "admin@example.com"}); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("dismiss without note = %v", err)
	}
	res, err := p.pay.Resolve(ctx, r1.ReviewID, payments.Resolution{Credit: "gina", Note: "customer sent the SMS receipt", Actor: "admin@example.com"})
	if err != nil || res.Review.State != payments.ReviewCredited || res.Credit == nil || len(res.Credit.Settled) != 1 || !res.Credit.Settled[0].Restore {
		t.Fatalf("resolve = %+v, %v", res, err)
	}
	if got := p.dis.take(); len(got) != 2 || got[0] != "gina:restored" { // sorted: restored, and unpaid (isolated) before
		t.Fatalf("disconnects %v", got)
	}
	if b := p.balance(t, "gina"); b != 500 {
		t.Fatalf("balance %d", b)
	}
	if _, err := p.pay.Resolve(ctx, r1.ReviewID, payments.Resolution{Credit: "gina", Actor: "admin@example.com"}); radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("resolved twice = %v", err)
	}
	if _, err := p.pay.Resolve(ctx, r2.ReviewID, payments.Resolution{Credit: "gina", Actor: "admin@example.com"}); radius.ErrorCode(err) != radius.EINVALID ||
		!strings.Contains(err.Error(), "NGN") {
		t.Fatalf("credit NGN = %v", err)
	}
	res, err = p.pay.Resolve(ctx, r2.ReviewID, payments.Resolution{Note: "refunded on Paystack", Actor: "admin@example.com"})
	if err != nil || res.Review.State != payments.ReviewDismissed || res.Credit != nil {
		t.Fatalf("dismiss = %+v, %v", res, err)
	}
	if _, err := p.pay.Resolve(ctx, 999999, payments.Resolution{Note: "x", Actor: "a"}); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown review = %v", err)
	}
	got, err := p.pay.Review(ctx, r1.ReviewID)
	if err != nil || got.Username != "gina" || got.ResolvedBy != "admin@example.com" || got.LedgerEntryID == 0 || got.Note == "" {
		t.Fatalf("review %+v, %v", got, err)
	}
	if got.RestrictedID != 0 {
		t.Fatalf("restricted %d before gina restricted processing", got.RestrictedID)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE subscribers SET restricted = true WHERE id = $1`, got.SubscriberID); err != nil {
		t.Fatal(err)
	}
	if got, err := p.pay.Review(ctx, r1.ReviewID); err != nil || got.RestrictedID != got.SubscriberID {
		t.Fatalf("restricted %+v, %v; want gina's id", got, err)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE subscribers SET restricted = false WHERE id = $1`, got.SubscriberID); err != nil {
		t.Fatal(err)
	}
	open, _ := p.pay.Reviews(ctx, payments.ReviewOpen, 0)
	all, _ := p.pay.Reviews(ctx, "", 0)
	if len(open) != 0 || len(all) != 2 {
		t.Fatalf("open %d, all %d", len(open), len(all))
	}

	t.Run("raw events are cleared 90 days after resolution", func(t *testing.T) {
		defer func(now time.Time) { p.now = now }(p.now)
		p.now = p.now.Add(payments.RawRetention + time.Hour)
		rep, err := p.pay.RunPass(ctx, p.now)
		if err != nil || rep.RawCleared != 2 {
			t.Fatalf("pass %+v, %v", rep, err)
		}
		got, err := p.pay.Review(ctx, r1.ReviewID)
		if err != nil || got.Raw != nil || got.State != payments.ReviewCredited {
			t.Fatalf("review %+v, %v", got, err)
		}
	})
	mustInvariants(t, p.pool)
}

// TestPaymentsSchema: the tables refuse what the code never does: a top-up that left
// pending changes no more (an expired one is never paid), payments and resolved reviews
// are facts.
func TestPaymentsSchema(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "hank", "hank@example.com")
	paid, _, _ := p.pay.StartTopUp(ctx, "hank", 2000, "paystack")
	if r, err := p.paystack(1, paid.Reference, 2000, "KES"); err != nil || r.Result != payments.ResultCredited {
		t.Fatal(r, err)
	}
	expired, _, _ := p.pay.StartTopUp(ctx, "hank", 2000, "paystack")
	if rep, err := p.pay.RunPass(ctx, expired.ExpiresAt); err != nil || rep.Expired != 1 {
		t.Fatal(rep, err)
	}
	r, _ := p.paystack(2, "tg-UNKNOWN00000000000000000", 100, "KES")
	if _, err := p.pay.Resolve(ctx, r.ReviewID, payments.Resolution{Note: "refunded", Actor: "a"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sql string }{
		{"paid to failed", `UPDATE topups SET state = 'failed', ledger_entry_id = NULL WHERE reference = '` + paid.Reference + `'`},
		{"paid: url", `UPDATE topups SET authorization_url = 'x' WHERE reference = '` + paid.Reference + `'`},
		{"expired to paid", `UPDATE topups SET state = 'paid', ledger_entry_id = (SELECT max(id) FROM ledger_entries) WHERE reference = '` + expired.Reference + `'`},
		{"expired back to pending", `UPDATE topups SET state = 'pending', closed_at = NULL WHERE reference = '` + expired.Reference + `'`},
		{"delete a top-up", `DELETE FROM topups WHERE reference = '` + paid.Reference + `'`},
		{"payment amount", `UPDATE payments SET amount_cents = 1`},
		{"payment deleted", `DELETE FROM payments`},
		{"resolved review reopened", `UPDATE payment_reviews SET state = 'open', resolved_at = NULL`},
		{"review deleted", `DELETE FROM payment_reviews`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.pool.Exec(ctx, tc.sql)
			if pe := pg.Error(err); pe == nil || pe.Code != "23001" {
				t.Fatalf("%s = %v; want restrict_violation", tc.sql, err)
			}
		})
	}
	// A pending top-up cannot be paid without its ledger entry, nor moved sideways.
	pending, _, _ := p.pay.StartTopUp(ctx, "hank", 2000, "paystack")
	if _, err := p.pool.Exec(ctx, `UPDATE topups SET state = 'paid', closed_at = now() WHERE id = $1`, pending.ID); !pg.IsCheck(err, "topups_paid_entry") {
		t.Fatalf("paid without entry = %v", err)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE topups SET amount_cents = 1 WHERE id = $1`, pending.ID); pg.Error(err) == nil {
		t.Fatal("the amount of a pending top-up changed")
	}
	if err := p.store.CloseTopUp(ctx, paid.ID, payments.Expired, p.now, "", 0); radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("CloseTopUp of a paid one = %v", err)
	}
}

// TestPaymentsPass: the pass expires pending top-ups due at its time (not those still
// within their TTL, nor paid ones) and forgets Standard Webhooks deliveries older than
// a week by the clock.
func TestPaymentsPass(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "ivy", "ivy@example.com")
	old, _, _ := p.pay.StartTopUp(ctx, "ivy", 1000, "paystack")
	p.now = p.now.Add(30 * time.Minute)
	fresh, _, _ := p.pay.StartTopUp(ctx, "ivy", 1000, "paystack")
	if r, err := p.standard("msg_old", `{"type":"payout.sent"}`); err != nil || r.Result != payments.ResultIgnored {
		t.Fatal(r, err)
	}
	rep, err := p.pay.RunPass(ctx, old.ExpiresAt)
	if err != nil || rep.Expired != 1 {
		t.Fatalf("pass %+v, %v", rep, err)
	}
	if a, b := p.topUp(t, old.Reference), p.topUp(t, fresh.Reference); a.State != payments.Expired || b.State != payments.Pending ||
		!a.ClosedAt.Equal(old.ExpiresAt) {
		t.Fatalf("old %+v fresh %+v", a, b)
	}
	if rep, err := p.pay.RunPass(ctx, old.ExpiresAt); err != nil || rep.Expired != 0 {
		t.Fatalf("second pass %+v, %v", rep, err)
	}
	// Deliveries: one recorded now (a payment), purged once a week old.
	tu, _, _ := p.pay.StartTopUp(ctx, "ivy", 2000, "generic")
	r, err := p.standard("msg_keep", fmt.Sprintf(`{"type":"payment.succeeded","data":{"id":"d1","reference":%q,"amount":"20.00","currency":"KES"}}`, tu.Reference))
	wantReceived(t, r, err, payments.ResultCredited, "")
	if rep, _ := p.pay.RunPass(ctx, p.now); rep.DeliveriesPurged != 0 {
		t.Fatalf("purged a fresh delivery: %+v", rep)
	}
	p.now = p.now.Add(payments.DeliveryRetention + time.Minute)
	if rep, _ := p.pay.RunPass(ctx, p.now); rep.DeliveriesPurged != 1 {
		t.Fatalf("pass %+v", rep)
	}
}

// TestAfterQueued: with the workers started, a webhook returns once the credit
// committed and the restore's Disconnect follows in the background; Shutdown waits
// for it.
func TestAfterQueued(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.isolated(t, "jack", "jack@example.com")
	p.dis.take()
	gate := make(chan struct{})
	slow := &gatedDisconnects{gate: gate}
	p.money.Disconnect = slow
	p.pay.Start()
	tu, _, err := p.pay.StartTopUp(ctx, "jack", 2000, "paystack")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.paystack(42, tu.Reference, 2000, "KES"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the webhook waited for the disconnect")
	}
	if q, in := p.pay.Deferred(); q != 1 || in != 0 {
		t.Fatalf("queued %d, inline %d", q, in)
	}
	if slow.count() != 0 {
		t.Fatal("disconnected before the gate opened")
	}
	close(gate)
	if err := p.pay.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if slow.count() != 1 {
		t.Fatalf("%d disconnects after Shutdown", slow.count())
	}
	if err := p.pay.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// gatedDisconnects holds every disconnect until gate closes.
type gatedDisconnects struct {
	gate chan struct{}
	mu   sync.Mutex
	n    int
}

func (g *gatedDisconnects) DisconnectUser(ctx context.Context, username, reason string) ([]radius.CoAResult, error) {
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return nil, nil
}

func (g *gatedDisconnects) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// TestWebhooksRacingPasses: signed charge.success webhooks for subscribers whose grace
// ends now race two billing passes at that moment (the top-ups' expiry and the
// subscriptions', as cron runs them): the pass isolates or renews, the payment renews
// or restores, and whichever comes first each subscriber ends paid with one period
// charged once, and every wallet adds up.
func TestWebhooksRacingPasses(t *testing.T) {
	ctx := context.Background()
	p := mustPayEnv(t)
	p.plan(t, billing.Plan{Name: "Home", PriceCents: 1000, Period: "month", Grace: 48 * time.Hour})
	const n = 10
	refs := make([]string, n)
	for i := range n {
		u := fmt.Sprintf("w%02d", i)
		if _, err := p.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: u, Password: "pw", Plan: "Home", Email: u + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	if rep := p.pass(t, p.now.Format(time.RFC3339)); rep.Grace != n {
		t.Fatalf("pass %+v; want all in grace", rep)
	}
	p.now = p.now.Add(47*time.Hour + 30*time.Minute) // the checkouts are good for an hour
	for i := range n {
		tu, _, err := p.pay.StartTopUp(ctx, fmt.Sprintf("w%02d", i), 1000, "paystack")
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = tu.Reference
	}
	// The grace ends: webhooks and passes at once.
	p.now = p.now.Add(30 * time.Minute)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n+2)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := p.paystack(int64(7000+i), refs[i], 1000, "KES")
			if err == nil && r.Result != payments.ResultCredited {
				err = fmt.Errorf("w%02d: %+v", i, r)
			}
			errs <- err
		}()
	}
	isolated := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := p.pay.RunPass(ctx, p.now); err != nil {
				errs <- err
				return
			}
			rep, err := p.money.RunPass(ctx, p.now)
			if err == nil && len(rep.Errors) > 0 {
				err = fmt.Errorf("%v", rep.Errors)
			}
			if err == nil {
				isolated <- rep.Isolated
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(isolated)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wasIsolated := 0
	for k := range isolated {
		wasIsolated += k
	}
	for i := range n {
		st := p.sub(t, fmt.Sprintf("w%02d", i))
		if st.State != radius.SubscriptionActive || !st.Paid || st.BalanceCents != 0 {
			t.Fatalf("w%02d: %+v", i, st)
		}
	}
	if k := p.count(t, `SELECT count(*) FROM renewals`); k != n {
		t.Fatalf("%d renewals; want one each", k)
	}
	if k := p.count(t, `SELECT count(*) FROM topups WHERE state = 'paid'`); k != n {
		t.Fatalf("%d top-ups paid", k)
	}
	t.Logf("%d isolated before their payment came (then restored), %d renewed without isolation", wasIsolated, n-wasIsolated)
	mustInvariants(t, p.pool)
}
