package payments

import (
	"context"
	"fmt"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// What a verified webhook did.
const (
	// ResultCredited: the payment was credited (its top-up is paid).
	ResultCredited = "credited"
	// ResultDuplicate: the delivery or the provider's payment was handled before;
	// nothing changed.
	ResultDuplicate = "duplicate"
	// ResultReview: the payment was recorded for an admin to review.
	ResultReview = "review"
	// ResultFailed: the provider reported the top-up failed, and it was pending.
	ResultFailed = "failed"
	// ResultIgnored: an event tollgate does not act on, or a failure of a top-up that
	// was not pending.
	ResultIgnored = "ignored"
)

// Received is what a verified webhook did. Every result is answered 2xx: the provider
// must stop sending it.
type Received struct {
	Result   string
	Reason   Reason // of a review
	ReviewID int64
	TopUp    *TopUp
	Credit   *billing.CreditResult
}

// ErrNotEnabled answers a webhook of a provider this server has no secret for.
var ErrNotEnabled = radius.Errorf(radius.ENOTFOUND, "webhook: this provider is not set up on this server")

// Paystack handles a Paystack webhook: the raw body is verified against signature (the
// x-paystack-signature header) before it is parsed; charge.success credits the pending
// top-up whose reference tollgate made when the amount and currency match it, and
// anything unexpected goes to review. ErrNotEnabled, ErrSignature, EINVALID (a body
// that is not a Paystack event), or an internal error (the provider retries).
func (s *Service) Paystack(ctx context.Context, body []byte, signature string) (*Received, error) {
	if len(s.Config.PaystackSecret) == 0 {
		return nil, ErrNotEnabled
	}
	if len(body) > MaxBody {
		return nil, invalid("body: larger than %d bytes", MaxBody)
	}
	if !VerifyPaystack(s.Config.PaystackSecret, body, signature) {
		return nil, ErrSignature
	}
	ev, err := ParsePaystack(body)
	if err != nil {
		return nil, err
	}
	return s.receive(ctx, ev)
}

// Standard handles a generic provider's webhook in the Standard Webhooks format: the
// signature and the timestamp are checked before the body is parsed; a repeated
// webhook-id changes nothing; payment.succeeded credits the pending top-up named by
// data.reference, or the subscriber named by data.account (a paybill payment), and
// payment.failed fails a pending top-up. ErrNotEnabled, ErrSignature, ErrStale,
// EINVALID, or an internal error.
func (s *Service) Standard(ctx context.Context, h StandardHeaders, body []byte) (*Received, error) {
	if len(s.Config.WebhookSecrets) == 0 {
		return nil, ErrNotEnabled
	}
	if len(body) > MaxBody {
		return nil, invalid("body: larger than %d bytes", MaxBody)
	}
	if err := VerifyStandard(s.Config.WebhookSecrets, h, body, s.now()); err != nil {
		return nil, err
	}
	ev, err := ParseStandard(h.ID, body)
	if err != nil {
		return nil, err
	}
	return s.receive(ctx, ev)
}

// Judge decides whether payment p may pay top-up t at now: "" when it may, else why it
// goes to review. A top-up past its expiry counts as expired whether or not the billing
// pass moved it yet, so the outcome does not depend on who came first.
func Judge(t *TopUp, p *Payment, now time.Time) Reason {
	switch {
	case t.Provider != p.Provider:
		return ReasonProviderMismatch
	case t.State == Expired:
		return ReasonExpired
	case t.State != Pending:
		return ReasonNotPending
	case !now.Before(t.ExpiresAt):
		return ReasonExpired
	case p.Currency != t.Currency:
		return ReasonCurrencyMismatch
	case p.AmountCents != t.AmountCents:
		return ReasonAmountMismatch
	}
	return ""
}

// receive records a verified event and acts on it in one transaction, then hands the
// work after the commit to the workers.
func (s *Service) receive(ctx context.Context, ev *Event) (*Received, error) {
	switch ev.Type {
	case TypeChargeSuccess, TypePaymentSucceeded, TypePaymentFailed:
	default:
		return &Received{Result: ResultIgnored}, nil
	}
	now := s.now()
	var res *Received
	err := s.InTx(ctx, func(st Store, money billing.MoneyStore) error {
		res = &Received{}
		if ev.DeliveryID != "" {
			fresh, err := st.RecordDelivery(ctx, ev.Provider, ev.DeliveryID, now)
			if err != nil {
				return err
			}
			if !fresh {
				res.Result = ResultDuplicate
				return nil
			}
		}
		if ev.Type == TypePaymentFailed {
			return s.fail(ctx, st, ev, now, res)
		}
		p := ev.Payment
		p.ReceivedAt = now
		fresh, err := st.RecordPayment(ctx, &p)
		if err != nil {
			return err
		}
		if !fresh {
			res.Result = ResultDuplicate
			return nil
		}
		if p.Reference != "" {
			return s.payTopUp(ctx, st, money, ev, &p, now, res)
		}
		return s.payAccount(ctx, st, money, ev, &p, now, res)
	})
	if err != nil {
		return nil, err
	}
	if res.Credit != nil {
		s.after(ctx, res.Credit.Settled)
	}
	return res, nil
}

// actor is the ledger's actor of a provider's payment.
func actor(p Provider) string { return "webhook:" + string(p) }

// payTopUp credits p to its top-up's subscriber when Judge allows it, and moves the
// top-up forward: paid, or expired or failed when the payment goes to review.
func (s *Service) payTopUp(ctx context.Context, st Store, money billing.MoneyStore, ev *Event, p *Payment, now time.Time, res *Received) error {
	t, err := st.LockTopUp(ctx, p.Reference)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return s.review(ctx, st, ev, p, ReasonUnknownReference, now, res)
	}
	if err != nil {
		return err
	}
	p.TopUpID, p.SubscriberID, res.TopUp = t.ID, t.SubscriberID, t
	reason := Judge(t, p, now)
	if reason != "" {
		if t.State == Pending {
			// The checkout is over either way: an expired one is marked so, one paid with
			// other money failed (the money itself waits in the review).
			state, note := Expired, "paid after its expiry: see the review"
			if reason != ReasonExpired {
				state, note = Failed, fmt.Sprintf("paid %s %s, not %s %s: see the review", billing.FormatCents(p.AmountCents), p.Currency,
					billing.FormatCents(t.AmountCents), t.Currency)
			}
			if reason == ReasonProviderMismatch {
				state, note = Failed, "paid through "+string(p.Provider)+", not "+string(t.Provider)+": see the review"
			}
			if err := st.CloseTopUp(ctx, t.ID, state, now, note, 0); err != nil {
				return err
			}
			t.State, t.ClosedAt, t.Note = state, now, note
		}
		return s.review(ctx, st, ev, p, reason, now, res)
	}
	cr, err := s.credit(ctx, st, money, p, t.Username, t.Reference, "topup:"+t.Reference, res)
	if err != nil {
		return err
	}
	if err := st.CloseTopUp(ctx, t.ID, Paid, now, "", cr.Entry.ID); err != nil {
		return err
	}
	t.State, t.ClosedAt, t.LedgerEntryID = Paid, now, cr.Entry.ID
	return nil
}

// payAccount credits a direct deposit to the subscriber its account names, in the
// operator's currency; anything else goes to review.
func (s *Service) payAccount(ctx context.Context, st Store, money billing.MoneyStore, ev *Event, p *Payment, now time.Time, res *Received) error {
	sub, err := money.FindSubscriberByUsername(ctx, p.Account)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return s.review(ctx, st, ev, p, ReasonUnknownAccount, now, res)
	}
	if err != nil {
		return err
	}
	p.SubscriberID = sub.ID
	if p.Currency != s.Config.Currency {
		return s.review(ctx, st, ev, p, ReasonCurrencyMismatch, now, res)
	}
	_, err = s.credit(ctx, st, money, p, sub.Username, p.ProviderID, "payment:"+string(p.Provider)+":"+p.ProviderID, res)
	return err
}

// credit credits p to username's wallet (a payment entry with ref and the idempotency
// key, a receipt, what is due settled) and records p as credited.
func (s *Service) credit(ctx context.Context, st Store, money billing.MoneyStore, p *Payment, username, ref, key string, res *Received) (*billing.CreditResult, error) {
	cr, err := s.Money.CreditIn(ctx, money, billing.CreditRequest{
		Username: username, AmountCents: p.AmountCents, Kind: billing.EntryPayment, Provider: string(p.Provider),
		Ref: ref, IdempotencyKey: key, Actor: actor(p.Provider),
	})
	if err != nil {
		return nil, err
	}
	p.Outcome, p.LedgerEntryID = OutcomeCredited, cr.Entry.ID
	if err := st.SetPaymentOutcome(ctx, p); err != nil {
		return nil, err
	}
	res.Result, res.Credit = ResultCredited, cr
	return cr, nil
}

// review records p for an admin, with the event as received.
func (s *Service) review(ctx context.Context, st Store, ev *Event, p *Payment, reason Reason, now time.Time, res *Received) error {
	p.Outcome = OutcomeReview
	if err := st.SetPaymentOutcome(ctx, p); err != nil {
		return err
	}
	r := &Review{Payment: *p, Reason: reason, Raw: ev.Raw, CreatedAt: now, State: ReviewOpen}
	if err := st.CreateReview(ctx, r); err != nil {
		return err
	}
	res.Result, res.Reason, res.ReviewID = ResultReview, reason, r.ID
	return nil
}

// fail moves a pending generic top-up to failed on the provider's word.
func (s *Service) fail(ctx context.Context, st Store, ev *Event, now time.Time, res *Received) error {
	res.Result = ResultIgnored
	t, err := st.LockTopUp(ctx, ev.Payment.Reference)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	res.TopUp = t
	if t.State != Pending || t.Provider != ev.Provider {
		return nil
	}
	note := "the provider reported the payment failed (" + truncate(ev.Payment.ProviderID, 200) + ")"
	if err := st.CloseTopUp(ctx, t.ID, Failed, now, note, 0); err != nil {
		return err
	}
	t.State, t.ClosedAt, t.Note = Failed, now, note
	res.Result = ResultFailed
	return nil
}

// Resolution is an admin's decision on a review: credit the amount received to the
// subscriber named Credit, or (Credit "") dismiss it, with Note saying why.
type Resolution struct {
	Credit string
	Note   string
	Actor  string
}

// Resolved is a resolved review and, when credited, the credit.
type Resolved struct {
	Review *Review
	Credit *billing.CreditResult
}

// Reviews lists reviews in state ("" for all), newest first. EINVALID.
func (s *Service) Reviews(ctx context.Context, state ReviewState, limit int) ([]Review, error) {
	if limit == 0 {
		limit = DefaultReviewLimit
	}
	if limit < 1 || limit > MaxReviewLimit {
		return nil, invalid("limit: must be 1 to %d", MaxReviewLimit)
	}
	switch state {
	case "", ReviewOpen, ReviewCredited, ReviewDismissed:
	default:
		return nil, invalid("state: %q is not open, credited or dismissed", state)
	}
	return s.Store.FindReviews(ctx, ReviewFilter{State: state, Limit: limit})
}

// Review returns review id. ENOTFOUND.
func (s *Service) Review(ctx context.Context, id int64) (*Review, error) {
	return s.Store.FindReview(ctx, id)
}

// Resolve resolves open review id once: it credits the amount received to the
// subscriber r.Credit (a payment entry with a receipt, settling what is due, as a
// webhook's credit does), or dismisses it with r.Note. ECONFLICT when it was resolved
// before, EINVALID (a dismissal without note, a payment in another currency than the
// wallets'), ENOTFOUND.
func (s *Service) Resolve(ctx context.Context, id int64, r Resolution) (*Resolved, error) {
	switch {
	case r.Actor == "":
		return nil, invalid("actor: required")
	case r.Credit == "" && r.Note == "":
		return nil, invalid("note: say why the payment is dismissed (e.g. refunded to the payer)")
	case len(r.Note) > 500:
		return nil, invalid("note: at most 500 bytes")
	}
	now := s.now()
	out := &Resolved{}
	err := s.InTx(ctx, func(st Store, money billing.MoneyStore) error {
		rev, err := st.LockReview(ctx, id)
		if err != nil {
			return err
		}
		if rev.State != ReviewOpen {
			return radius.Errorf(radius.ECONFLICT, "review %d: already %s by %s on %s; a review is resolved once", id, rev.State,
				rev.ResolvedBy, rev.ResolvedAt.UTC().Format(time.DateTime))
		}
		rev.State, rev.ResolvedAt, rev.ResolvedBy, rev.Note = ReviewDismissed, now, r.Actor, r.Note
		if r.Credit != "" {
			p := rev.Payment
			if p.Currency != s.Config.Currency {
				return invalid("credit: the payment is in %s and the wallets in %s; dismiss it (and refund the payer)", p.Currency, s.Config.Currency)
			}
			ref := p.Reference
			if ref == "" {
				ref = p.ProviderID
			}
			cr, err := s.Money.CreditIn(ctx, money, billing.CreditRequest{
				Username: r.Credit, AmountCents: p.AmountCents, Kind: billing.EntryPayment, Provider: string(p.Provider),
				Ref: ref, Note: r.Note, IdempotencyKey: fmt.Sprintf("review:%d", id), Actor: r.Actor,
			})
			if err != nil {
				return err
			}
			rev.State, rev.SubscriberID, rev.Username, rev.LedgerEntryID = ReviewCredited, cr.Entry.SubscriberID, r.Credit, cr.Entry.ID
			out.Credit = cr
		}
		out.Review = rev
		return st.ResolveReview(ctx, rev)
	})
	if err != nil {
		return nil, err
	}
	if out.Credit != nil {
		s.after(ctx, out.Credit.Settled)
	}
	return out, nil
}
