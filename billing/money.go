package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"tollgate/radius"
)

// MoneyStore is every store the money engine writes in one transaction: subscribers,
// wallets, subscriptions, invoices and the outbox (billing/postgres.Store on a pool or
// on a pgx.Tx).
type MoneyStore interface {
	Store
	WalletStore
	SubscriptionStore
	InvoiceStore
	EventStore
}

// MoneyTx runs fn in one transaction with a MoneyStore bound to it: everything fn
// writes commits together, or nothing does.
type MoneyTx func(ctx context.Context, fn func(tx MoneyStore) error) error

// Disconnector ends every open session of a user (radius.Enforcer.DisconnectUser), so
// that the router redials and the next Access-Accept carries what the subscription now
// allows.
type Disconnector interface {
	DisconnectUser(ctx context.Context, username, reason string) ([]radius.CoAResult, error)
}

// MoneyConfig is the operator's money settings: the currency and tax of documents, and
// the rules of the steps (time zone, reminder days).
type MoneyConfig struct {
	TaxRules
	Rules
}

// PassActor is the ledger's actor for what the billing pass does by itself.
const PassActor = "billing"

// maxSteps bounds the steps one subscription takes in one pass or one payment: enough
// to catch up two years of monthly renewals after a long outage.
const maxSteps = 24

// SubscriberService is the money engine of subscribers: their wallets, the renewal of
// their subscriptions by the billing pass, payments that settle what is due at once,
// and the invoices and receipts that document it all. Every change of a subscription
// happens in one transaction with its ledger entry, its document and its outbox event,
// under the subscription's row lock; caches are told and sessions disconnected after the
// commit. Disconnect may be nil (nothing is disconnected); Now is the clock (time.Now
// when nil).
type SubscriberService struct {
	Store      MoneyStore
	InTx       MoneyTx
	Changes    Changes
	Disconnect Disconnector
	Config     MoneyConfig
	Now        func() time.Time
}

func (s *SubscriberService) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

func (s *SubscriberService) loc() *time.Location {
	if s.Config.Location != nil {
		return s.Config.Location
	}
	return time.UTC
}

// date writes t as a day in the operator's time zone, as events and notes show it.
func (s *SubscriberService) date(t time.Time) string { return t.In(s.loc()).Format(time.DateOnly) }

// money writes an amount with the currency.
func (s *SubscriberService) money(cents int64) string { return FormatMoney(cents, s.Config.Currency) }

// subscriber finds a subscriber by username on st.
func subscriberNamed(ctx context.Context, st Store, username string) (*Subscriber, error) {
	if username == "" {
		return nil, invalid("subscriber: required")
	}
	sub, err := st.FindSubscriberByUsername(ctx, username)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, radius.Errorf(radius.ENOTFOUND, "subscriber: no subscriber named %q", username)
	}
	return sub, err
}

// Outcome is what one step did to one subscription.
type Outcome struct {
	SubscriptionID int64
	SubscriberID   int64
	Username       string
	Action         Action
	// Restore is set when a renewal brought an isolated subscriber back.
	Restore bool
	// PlanChanged is set when a renewal moved the subscriber to the scheduled plan.
	PlanChanged bool
	PeriodStart time.Time
	PeriodEnd   time.Time
	GraceUntil  time.Time
	Plan        string
	AmountCents int64
	Invoice     string // the invoice's number (renew)
	Days        int    // remind
	// Disconnected are the sessions ended after the commit (isolate, restore, a plan
	// change), and Err what failed after the commit (caches, disconnects): the step
	// itself is committed.
	Disconnected []radius.CoAResult
	Err          error
}

// apply carries step out on tx for b and returns what it did; nil when there was nothing
// to do (no step, or a reminder recorded before). It runs inside the caller's
// transaction, which holds b's locks.
func (s *SubscriberService) apply(ctx context.Context, tx MoneyStore, b *Billable, st Step, now time.Time, actor string) (*Outcome, error) {
	if st.Action == ActNone {
		return nil, nil
	}
	sub := b.Sub
	out := &Outcome{
		SubscriptionID: sub.ID, SubscriberID: b.Subscriber.ID, Username: b.Subscriber.Username, Action: st.Action,
		PeriodStart: st.Start, PeriodEnd: st.End, GraceUntil: st.GraceUntil, Plan: st.Plan.Name,
		AmountCents: st.Plan.PriceCents, Days: st.Days,
	}
	ev := &Event{SubscriberID: b.Subscriber.ID}
	switch st.Action {
	case ActRemind:
		ev.Kind = EventReminder
		ev.Key = fmt.Sprintf("reminder:%d:%d:%d", sub.ID, sub.PeriodEnd.Unix(), st.Days)
		ev.Data = map[string]string{
			"days": strconv.Itoa(st.Days), "due_date": s.date(sub.PeriodEnd), "amount": s.money(st.Plan.PriceCents),
			"balance": s.money(b.Wallet.BalanceCents), "plan": st.Plan.Name,
			"auto_renew": strconv.FormatBool(b.Subscriber.AutoRenew),
		}
		recorded, err := tx.RecordEvent(ctx, ev)
		if err != nil || !recorded {
			return nil, err
		}
		return out, nil
	case ActRenew:
		if err := s.renew(ctx, tx, b, st, now, actor, out); err != nil {
			return nil, err
		}
		return out, nil
	case ActGrace:
		sub.State = radius.SubscriptionGrace
		ev.Kind = EventGrace
		ev.Data = map[string]string{"until": s.date(st.GraceUntil), "amount": s.money(st.Plan.PriceCents), "plan": st.Plan.Name}
	case ActIsolate:
		sub.State = radius.SubscriptionIsolated
		ev.Kind = EventIsolated
		ev.Data = map[string]string{"amount": s.money(st.Plan.PriceCents), "plan": st.Plan.Name}
	default:
		return nil, fmt.Errorf("billing: unknown step %q", st.Action)
	}
	// Grace and isolation keep the owed period (it may have just rolled over).
	sub.Paid, sub.PeriodStart, sub.PeriodEnd, sub.AnchorDay, sub.GraceUntil = false, st.Start, st.End, st.AnchorDay, st.GraceUntil
	if err := tx.SaveSubscription(ctx, &sub); err != nil {
		return nil, err
	}
	ev.Key = fmt.Sprintf("%s:%d:%d", ev.Kind, sub.ID, st.Start.Unix())
	if _, err := tx.RecordEvent(ctx, ev); err != nil {
		return nil, err
	}
	return out, nil
}

// renew charges the period of st from b's wallet, issues its invoice, records the
// renewal (once per subscription and period start: the ledger's idempotency key and the
// renewals table both say so) and serves the period.
func (s *SubscriberService) renew(ctx context.Context, tx MoneyStore, b *Billable, st Step, now time.Time, actor string, out *Outcome) error {
	sub := b.Sub
	price := st.Plan.PriceCents
	if price <= 0 {
		return radius.Errorf(radius.EINVALID, "plan: %q has no price to renew", st.Plan.Name)
	}
	desc := fmt.Sprintf("%s, %s to %s", st.Plan.Name, s.date(st.Start), s.date(st.End))
	entry, err := tx.Move(ctx, Movement{
		SubscriberID: b.Subscriber.ID, Kind: EntryRenewal, AmountCents: -price, Note: desc,
		IdempotencyKey: fmt.Sprintf("renewal:%d:%d", sub.ID, st.Start.Unix()),
		Ref:            fmt.Sprintf("subscription %d", sub.ID), Actor: actor,
	})
	if err != nil {
		return err
	}
	if entry.Replayed {
		return radius.Errorf(radius.ECONFLICT, "subscription %d: the period from %s was renewed before", sub.ID, s.date(st.Start))
	}
	inv := newDocument(KindInvoice, s.Config.TaxRules, now.In(s.loc()).Year(), now, desc, price)
	inv.SubscriberID, inv.Username, inv.CustomerName = b.Subscriber.ID, b.Subscriber.Username, b.Subscriber.Name
	inv.PlanName, inv.LedgerEntryID, inv.PeriodStart, inv.PeriodEnd = st.Plan.Name, entry.ID, st.Start, st.End
	if err := tx.IssueInvoice(ctx, inv); err != nil {
		return err
	}
	if err := tx.RecordRenewal(ctx, &Renewal{
		SubscriptionID: sub.ID, PeriodStart: st.Start, PeriodEnd: st.End, PlanID: st.Plan.ID,
		AmountCents: price, LedgerEntryID: entry.ID, InvoiceID: inv.ID,
	}); err != nil {
		return err
	}
	out.PlanChanged = st.Plan.ID != sub.PlanID
	out.Restore, out.Invoice = st.Restore, inv.Number
	sub.PlanID, sub.NextPlanID, sub.State, sub.Paid = st.Plan.ID, 0, radius.SubscriptionActive, true
	sub.PeriodStart, sub.PeriodEnd, sub.AnchorDay, sub.GraceUntil = st.Start, st.End, st.AnchorDay, time.Time{}
	if err := tx.SaveSubscription(ctx, &sub); err != nil {
		return err
	}
	events := []*Event{{
		Kind: EventRenewed, SubscriberID: b.Subscriber.ID, Key: fmt.Sprintf("renewed:%d:%d", sub.ID, st.Start.Unix()),
		Data: map[string]string{"plan": st.Plan.Name, "period_end": s.date(st.End), "amount": s.money(price), "invoice": inv.Number},
	}}
	if st.Restore {
		events = append(events, &Event{
			Kind: EventRestored, SubscriberID: b.Subscriber.ID, Key: fmt.Sprintf("restored:%d:%d", sub.ID, st.Start.Unix()),
			Data: map[string]string{"plan": st.Plan.Name, "period_end": s.date(st.End)},
		})
	}
	for _, e := range events {
		if _, err := tx.RecordEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// After does what follows the commit of outcomes: it drops the cached accounts whose
// subscription changed (before anything else, so a redial reads the new state) and
// disconnects the sessions that must redial: an isolated subscriber's (into isolation),
// a restored one's (back to the paid plan) and one moved to its scheduled plan. Errors
// are kept in each Outcome's Err and returned joined; the steps stay committed.
func (s *SubscriberService) After(ctx context.Context, outcomes ...*Outcome) error {
	var errs []error
	for _, o := range outcomes {
		if o == nil || o.Action == ActRemind || o.Action == ActNone {
			continue
		}
		if s.Changes != nil {
			if err := s.Changes.AccountsChanged(ctx, o.Username); err != nil {
				o.Err = fmt.Errorf("billing: subscription of %q changed, but caches were not told: %w", o.Username, err)
				errs = append(errs, o.Err)
			}
		}
		reason := ""
		switch {
		case o.Action == ActIsolate:
			reason = radius.ReasonUnpaid.String()
		case o.Restore:
			reason = "restored"
		case o.PlanChanged:
			reason = "plan_change"
		}
		if reason == "" || s.Disconnect == nil {
			continue
		}
		res, err := s.Disconnect.DisconnectUser(ctx, o.Username, reason)
		o.Disconnected = res
		if err != nil {
			err = fmt.Errorf("billing: disconnect %q (%s): %w", o.Username, reason, err)
			o.Err = errors.Join(o.Err, err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PassReport is what one billing pass did.
type PassReport struct {
	At        time.Time
	Renewed   int // renewals, restores included
	Restored  int
	Grace     int
	Isolated  int
	Reminders int
	Outcomes  []Outcome
	// Errors name the subscriptions the pass could not handle; the others were.
	Errors []string
}

// RunPass runs one billing pass as of now: every subscription that is due is renewed
// from its wallet (more than one period if the pass missed some), or moved to grace, or
// isolated after its grace; reminders due before now are recorded. Each step is its own
// transaction under the subscription's row lock, so a pass racing another pass or a
// payment charges each period once; a failure of one subscription is reported and the
// pass goes on. The caller keeps passes from overlapping (cron's job lock) for
// efficiency, not for correctness.
func (s *SubscriberService) RunPass(ctx context.Context, now time.Time) (*PassReport, error) {
	now = now.Round(0).Truncate(time.Microsecond)
	horizon := now
	for _, d := range s.Config.RemindDays {
		if h := now.Add(time.Duration(d) * 24 * time.Hour); h.After(horizon) {
			horizon = h
		}
	}
	ids, err := s.Store.FindBillableIDs(ctx, horizon)
	if err != nil {
		return nil, err
	}
	rep := &PassReport{At: now}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		for range maxSteps {
			var out *Outcome
			err := s.InTx(ctx, func(tx MoneyStore) error {
				b, err := tx.LockBillable(ctx, id)
				if err != nil {
					return err
				}
				out, err = s.apply(ctx, tx, b, NextStep(b, now, false, s.Config.Rules), now, PassActor)
				return err
			})
			if err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("subscription %d: %v", id, err))
				break
			}
			if out == nil {
				break
			}
			if err := s.After(ctx, out); err != nil {
				rep.Errors = append(rep.Errors, err.Error())
			}
			rep.add(out)
		}
	}
	return rep, nil
}

func (r *PassReport) add(o *Outcome) {
	switch o.Action {
	case ActRenew:
		r.Renewed++
		if o.Restore {
			r.Restored++
		}
	case ActGrace:
		r.Grace++
	case ActIsolate:
		r.Isolated++
	case ActRemind:
		r.Reminders++
	}
	r.Outcomes = append(r.Outcomes, *o)
}

// CreditRequest is money received for a subscriber: an admin's top-up or a payment
// provider's payment.
type CreditRequest struct {
	Username    string
	AmountCents int64
	// Kind is EntryTopup (an admin's cash or transfer; Note required) or EntryPayment (a
	// provider's; Ref is its reference). "" is EntryTopup.
	Kind EntryKind
	// Provider names where the money came from in the payment_received event:
	// "manual" when empty, else e.g. "paystack".
	Provider string
	Ref      string
	Note     string
	// IdempotencyKey makes a retry (a webhook delivered twice, a command run twice)
	// credit once: a repeated key answers with the first credit and changes nothing.
	IdempotencyKey string
	Actor          string
}

// CreditResult is what a credit did.
type CreditResult struct {
	Entry LedgerEntry // Replayed when the key was used before
	// Receipt is the receipt issued for the credit (also on a replay).
	Receipt *Invoice
	// Settled are the renewals the credit paid at once (a restore among them).
	Settled []*Outcome
	// BalanceCents is the wallet's balance after the credit and what it settled.
	BalanceCents int64
}

// Credit adds money to the wallet of a subscriber and settles what is due with it, in
// one transaction: the ledger entry, a receipt, a payment_received event and, when the
// balance now covers an owed period, its renewal (an isolated subscriber is restored).
// It is the entry point of manual top-ups and of payment providers; a racing billing
// pass waits on the subscription's row lock, so the period is charged once. After the
// commit, caches are told and a restored subscriber's sessions are disconnected so the
// router redials with the paid plan. A repeated idempotency key returns the first
// credit (Entry.Replayed) and changes nothing. EINVALID, ENOTFOUND, ECONFLICT (a key
// used for another amount). An error after the commit is returned with the result.
func (s *SubscriberService) Credit(ctx context.Context, req CreditRequest) (*CreditResult, error) {
	var res *CreditResult
	err := s.InTx(ctx, func(tx MoneyStore) error {
		var err error
		res, err = s.CreditIn(ctx, tx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, s.After(ctx, res.Settled...)
}

// CreditIn is Credit on tx, a transaction the caller holds (a payment webhook that moves
// its top-up to paid in the same transaction). After the caller's commit it must call
// After(ctx, res.Settled...).
func (s *SubscriberService) CreditIn(ctx context.Context, tx MoneyStore, req CreditRequest) (*CreditResult, error) {
	if req.Kind == "" {
		req.Kind = EntryTopup
	}
	if req.Kind != EntryTopup && req.Kind != EntryPayment {
		return nil, invalid("kind: a credit is a %s or a %s", EntryTopup, EntryPayment)
	}
	if req.AmountCents <= 0 {
		return nil, invalid("amount: must be more than 0")
	}
	m := Movement{Kind: req.Kind, AmountCents: req.AmountCents, Note: req.Note, IdempotencyKey: req.IdempotencyKey,
		Ref: req.Ref, Actor: req.Actor}
	if err := ValidateMovement(m); err != nil {
		return nil, err
	}
	sub, err := subscriberNamed(ctx, tx, req.Username)
	if err != nil {
		return nil, err
	}
	// The subscription's lock first, then the wallet's (as a pass takes them).
	b, err := tx.LockBillableBySubscriber(ctx, sub.ID)
	if err != nil && radius.ErrorCode(err) != radius.ENOTFOUND {
		return nil, err
	}
	m.SubscriberID = sub.ID
	entry, err := tx.Move(ctx, m)
	if err != nil {
		return nil, err
	}
	res := &CreditResult{Entry: entry, BalanceCents: entry.BalanceAfterCents}
	if entry.Replayed {
		if res.Receipt, err = tx.FindInvoiceByEntry(ctx, entry.ID); err != nil && radius.ErrorCode(err) != radius.ENOTFOUND {
			return nil, err
		}
		w, err := tx.FindWallet(ctx, SubscriberOwner(sub.ID))
		if err != nil {
			return nil, err
		}
		res.BalanceCents = w.BalanceCents
		return res, nil
	}
	now := s.now()
	provider := req.Provider
	if provider == "" {
		provider = "manual"
	}
	desc := "Top-up: " + req.Note // finance retention (billing/postgres) drops what follows "Top-up: "
	if req.Kind == EntryPayment {
		desc = "Payment (" + provider + ")"
		if req.Ref != "" {
			desc += ", ref " + req.Ref
		}
	}
	desc = truncate(desc, 200)
	rct := newDocument(KindReceipt, s.Config.TaxRules, now.In(s.loc()).Year(), now, desc, req.AmountCents)
	rct.SubscriberID, rct.Username, rct.CustomerName, rct.LedgerEntryID = sub.ID, sub.Username, sub.Name, entry.ID
	if err := tx.IssueInvoice(ctx, rct); err != nil {
		return nil, err
	}
	res.Receipt = rct
	if _, err := tx.RecordEvent(ctx, &Event{
		Kind: EventPaymentReceived, SubscriberID: sub.ID, Key: fmt.Sprintf("payment:%d", entry.ID),
		Data: map[string]string{"amount": s.money(req.AmountCents), "balance": s.money(entry.BalanceAfterCents),
			"receipt": rct.Number, "provider": provider},
	}); err != nil {
		return nil, err
	}
	if b == nil {
		return res, nil
	}
	b.Wallet.BalanceCents = entry.BalanceAfterCents
	for range maxSteps {
		st := NextStep(b, now, true, s.Config.Rules)
		if st.Action != ActRenew {
			break
		}
		out, err := s.apply(ctx, tx, b, st, now, req.Actor)
		if err != nil {
			return nil, err
		}
		res.Settled = append(res.Settled, out)
		res.BalanceCents -= out.AmountCents
		if b, err = tx.LockBillable(ctx, b.Sub.ID); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Renew renews the subscription of username now if a period is owed and the wallet
// covers it, even with auto-renew off (the subscriber or an admin asks for it), and
// restores an isolated subscriber. EQUOTA when the balance does not cover the price,
// ECONFLICT when nothing is owed, ENOTFOUND, EINVALID.
func (s *SubscriberService) Renew(ctx context.Context, username, actor string) ([]*Outcome, error) {
	if actor == "" {
		return nil, invalid("actor: required")
	}
	var outs []*Outcome
	err := s.InTx(ctx, func(tx MoneyStore) error {
		sub, err := subscriberNamed(ctx, tx, username)
		if err != nil {
			return err
		}
		b, err := tx.LockBillableBySubscriber(ctx, sub.ID)
		if radius.ErrorCode(err) == radius.ENOTFOUND {
			return radius.Errorf(radius.ENOTFOUND, "subscription: %q has none (a priced PPPoE plan has one)", username)
		}
		if err != nil {
			return err
		}
		now := s.now()
		for range maxSteps {
			st := NextStep(b, now, true, s.Config.Rules)
			if st.Action != ActRenew {
				if len(outs) == 0 {
					return whyNoRenewal(b, now, s)
				}
				break
			}
			out, err := s.apply(ctx, tx, b, st, now, actor)
			if err != nil {
				return err
			}
			outs = append(outs, out)
			if b, err = tx.LockBillable(ctx, b.Sub.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return outs, s.After(ctx, outs...)
}

// whyNoRenewal explains why an explicit renewal did nothing.
func whyNoRenewal(b *Billable, now time.Time, s *SubscriberService) error {
	switch p := b.ChargePlan(); {
	case b.Sub.State == radius.SubscriptionCancelled:
		return radius.Errorf(radius.ECONFLICT, "subscription: cancelled; put the subscriber on a priced PPPoE plan")
	case b.Subscriber.Status != radius.StatusActive:
		return radius.Errorf(radius.EUNAUTHORIZED, "subscriber: %q is %s", b.Subscriber.Username, b.Subscriber.Status)
	case b.Sub.Paid && now.Before(b.Sub.PeriodEnd):
		return radius.Errorf(radius.ECONFLICT, "subscription: paid until %s; nothing is due", s.date(b.Sub.PeriodEnd))
	case b.Wallet.AvailableCents() < p.PriceCents:
		return QuotaError(b.Subscriber.Username, b.Wallet, -p.PriceCents)
	}
	return radius.Errorf(radius.ECONFLICT, "subscription: nothing is due before %s", s.date(b.Sub.PeriodStart))
}

// SetPeriod moves the current period of username's subscription to start at start
// (its end follows from the plan's period; the anchor becomes start's day) and, when
// paid is not nil, marks it paid or unpaid: for subscribers brought over from another
// system with their renewal dates, and for corrections. A period marked paid makes the
// subscription active. Nothing is charged or credited. ENOTFOUND, EINVALID.
func (s *SubscriberService) SetPeriod(ctx context.Context, username string, start time.Time, paid *bool) (*Subscription, error) {
	if start.IsZero() {
		return nil, invalid("period-start: required")
	}
	start = start.Round(0).Truncate(time.Microsecond)
	var out Subscription
	err := s.InTx(ctx, func(tx MoneyStore) error {
		sub, err := subscriberNamed(ctx, tx, username)
		if err != nil {
			return err
		}
		b, err := tx.LockBillableBySubscriber(ctx, sub.ID)
		if radius.ErrorCode(err) == radius.ENOTFOUND {
			return radius.Errorf(radius.ENOTFOUND, "subscription: %q has none (a priced PPPoE plan has one)", username)
		}
		if err != nil {
			return err
		}
		if b.Sub.State == radius.SubscriptionCancelled {
			return radius.Errorf(radius.ECONFLICT, "subscription: cancelled; put the subscriber on a priced PPPoE plan")
		}
		out = b.Sub
		out.AnchorDay = AnchorDay(start, s.loc())
		out.PeriodStart = start
		out.PeriodEnd = b.Plan.PeriodOrDefault().End(start, out.AnchorDay, s.loc())
		if paid != nil {
			out.Paid = *paid
		}
		if out.Paid {
			out.State, out.GraceUntil = radius.SubscriptionActive, time.Time{}
		}
		return tx.SaveSubscription(ctx, &out)
	})
	if err != nil {
		return nil, err
	}
	if s.Changes != nil {
		if err := s.Changes.AccountsChanged(ctx, username); err != nil {
			return &out, fmt.Errorf("billing: subscription of %q changed, but caches were not told: %w", username, err)
		}
	}
	return &out, nil
}

// SubscriptionStatus is a subscription as `subscription show` and the admin pages show
// it: the subscription, the next renewal and what it will cost, and the balance.
type SubscriptionStatus struct {
	Subscription
	AutoRenew bool
	// NextRenewal is when the next charge is due; RenewalPlan and RenewalCents what it
	// will be.
	NextRenewal  time.Time
	RenewalPlan  string
	RenewalCents int64
	BalanceCents int64
	Currency     string
}

// Subscription returns the subscription of username with its next renewal and the
// balance. ENOTFOUND when the subscriber has none.
func (s *SubscriberService) Subscription(ctx context.Context, username string) (*SubscriptionStatus, error) {
	sub, err := subscriberNamed(ctx, s.Store, username)
	if err != nil {
		return nil, err
	}
	su, err := s.Store.FindSubscription(ctx, sub.ID)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, radius.Errorf(radius.ENOTFOUND, "subscription: %q has none (a priced PPPoE plan has one)", username)
	}
	if err != nil {
		return nil, err
	}
	w, err := s.Store.FindWallet(ctx, SubscriberOwner(sub.ID))
	if err != nil {
		return nil, err
	}
	st := &SubscriptionStatus{Subscription: *su, AutoRenew: sub.AutoRenew, NextRenewal: su.NextRenewal(),
		BalanceCents: w.BalanceCents, Currency: s.Config.Currency, RenewalPlan: su.PlanName}
	if su.NextPlanName != "" {
		st.RenewalPlan = su.NextPlanName
	}
	p, err := s.Store.FindPlanByName(ctx, st.RenewalPlan)
	if err != nil {
		return nil, err
	}
	st.RenewalCents = p.PriceCents
	return st, nil
}

// WalletOf returns the wallet of username and its latest limit entries, newest first
// (limit 0: DefaultLedgerLimit). ENOTFOUND, EINVALID.
func (s *SubscriberService) WalletOf(ctx context.Context, username string, limit int) (*Wallet, []LedgerEntry, error) {
	if limit == 0 {
		limit = DefaultLedgerLimit
	}
	if limit < 1 || limit > MaxLedgerLimit {
		return nil, nil, invalid("limit: must be 1 to %d", MaxLedgerLimit)
	}
	sub, err := subscriberNamed(ctx, s.Store, username)
	if err != nil {
		return nil, nil, err
	}
	w, err := s.Store.FindWallet(ctx, SubscriberOwner(sub.ID))
	if err != nil {
		return nil, nil, err
	}
	list, err := s.Store.FindLedgerEntries(ctx, SubscriberOwner(sub.ID), limit)
	return w, list, err
}

// Statement is a statement of account: a wallet's entries over [From, To) between its
// opening and closing balances.
type Statement struct {
	Username     string
	Name         string
	Currency     string
	From, To     time.Time
	OpeningCents int64
	ClosingCents int64
	Entries      []LedgerEntry // oldest first
}

// maxStatementEntries bounds one statement.
const maxStatementEntries = 10000

// StatementOf returns the statement of username's wallet over [from, to). EINVALID
// when to is not after from, ENOTFOUND.
func (s *SubscriberService) StatementOf(ctx context.Context, username string, from, to time.Time) (*Statement, error) {
	if !to.After(from) {
		return nil, invalid("to: must be after from")
	}
	sub, err := subscriberNamed(ctx, s.Store, username)
	if err != nil {
		return nil, err
	}
	opening, list, err := s.Store.FindLedgerEntriesBetween(ctx, SubscriberOwner(sub.ID), from, to, maxStatementEntries)
	if err != nil {
		return nil, err
	}
	st := &Statement{Username: sub.Username, Name: sub.Name, Currency: s.Config.Currency, From: from, To: to,
		OpeningCents: opening, ClosingCents: opening, Entries: list}
	if n := len(list); n > 0 {
		st.ClosingCents = list[n-1].BalanceAfterCents
	}
	return st, nil
}

// Invoices returns the invoices and receipts of username ("" for everyone's), newest
// first (limit 0: DefaultInvoiceLimit). EINVALID, ENOTFOUND.
func (s *SubscriberService) Invoices(ctx context.Context, username string, kind InvoiceKind, limit int) ([]Invoice, error) {
	if limit == 0 {
		limit = DefaultInvoiceLimit
	}
	if limit < 1 || limit > MaxInvoiceLimit {
		return nil, invalid("limit: must be 1 to %d", MaxInvoiceLimit)
	}
	if kind != "" && !kind.Valid() {
		return nil, invalid("kind: %q is not invoice or receipt", kind)
	}
	f := InvoiceFilter{Kind: kind, Limit: limit}
	if username != "" {
		sub, err := subscriberNamed(ctx, s.Store, username)
		if err != nil {
			return nil, err
		}
		f.SubscriberID = sub.ID
	}
	return s.Store.FindInvoices(ctx, f)
}

// Invoice returns the document numbered number with its lines. EINVALID, ENOTFOUND.
func (s *SubscriberService) Invoice(ctx context.Context, number string) (*Invoice, error) {
	k, year, seq, err := ParseInvoiceNumber(number)
	if err != nil {
		return nil, err
	}
	return s.Store.FindInvoiceByNumber(ctx, InvoiceNumber(k, year, seq))
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
